"""Infinite-width kernels of a one-hidden-layer ReLU network, and kernel ridge(less) regression.

For f(x) = H^-1/2 sum_h w_h relu(theta_h . x) with w_h, theta_h standard normal, the arc-cosine
kernels of Cho & Saul (2009) give, with phi the angle between x and y,

    k0(phi) = (pi - phi) / pi
    k1(phi) = (sin phi + (pi - phi) cos phi) / pi

    RFK(x, y) = |x| |y| k1(phi) / 2                      (last layer trained: E_theta relu relu)
    NTK(x, y) = |x| |y| (cos(phi) k0(phi) + k1(phi)) / 2  (both layers trained)

so that RFK is exactly E[relu(theta.x) relu(theta.y)] and NTK is exactly
E[relu(theta.x) relu(theta.y) + w^2 (x.y) 1{theta.x > 0} 1{theta.y > 0}]: the expectations a wide
random network estimates (tested by Monte-Carlo). Ridgeless regression does not depend on the
kernel's overall scale.

Regression solves (K + ridge I) a = y with a Cholesky factorisation in float64; a Gram matrix that
is numerically singular is retried with a small diagonal jitter, which is returned so that every
result records it (or an error is raised when even the largest jitter fails).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.linalg

KERNELS = ("ntk", "rfk")

# Diagonal jitters tried, relative to the mean diagonal, when the ridgeless Gram matrix is singular.
JITTERS = (1e-12, 1e-10, 1e-8)


class SingularGramError(RuntimeError):
    """The Gram matrix is not positive definite even after the largest jitter in JITTERS."""


def default_threads() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0))


def gram(kernel: str, x, y, threads: int | None = None, block: int = 256) -> np.ndarray:
    """Gram matrix (n, m) of `kernel` ("ntk" or "rfk") between the rows of x (n, d) and y (m, d).

    Accepts arrays or CPU tensors and computes in float64. numpy's elementwise functions run on one
    core, and arccos dominates the cost, so blocks of `block` rows (small enough to stay in cache)
    are shared among `threads` threads (default: all available cores); numpy releases the GIL.
    """
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; expected one of {KERNELS}")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    norm_x = np.linalg.norm(x, axis=1)  # (n,)
    norm_y = np.linalg.norm(y, axis=1)  # (m,)
    out = np.empty((len(x), len(y)))
    tiny = np.finfo(np.float64).tiny

    def fill(start: int) -> None:
        rows = slice(start, start + block)
        scale = np.outer(norm_x[rows], norm_y)  # (b, m)
        cos = x[rows] @ y.T  # (b, m)
        cos /= np.maximum(scale, tiny)
        np.clip(cos, -1.0, 1.0, out=cos)
        pi_minus_phi = np.arccos(cos)
        np.subtract(math.pi, pi_minus_phi, out=pi_minus_phi)
        k = out[rows]
        np.multiply(cos, cos, out=k)  # sin(phi) = sqrt(1 - cos^2): cheaper than sin(arccos)
        np.subtract(1.0, k, out=k)
        np.sqrt(k, out=k)
        cos *= pi_minus_phi  # (pi - phi) cos(phi) = pi cos(phi) k0(phi)
        k += cos  # pi * k1
        if kernel == "ntk":
            k += cos  # + pi * cos(phi) * k0
        scale *= 1.0 / (2.0 * math.pi)
        k *= scale

    starts = range(0, len(x), block)
    threads = threads or default_threads()
    if threads == 1 or len(starts) == 1:
        for start in starts:
            fill(start)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(fill, starts))
    return out


@dataclass(frozen=True)
class KernelFit:
    """Coefficients of the kernel predictor f(x) = sum_i coef_i K(x, x_i), and how they were found."""

    x_train: np.ndarray  # (n, d)
    coef: np.ndarray  # (n,)
    kernel: str
    ridge: float
    jitter: float  # diagonal added beyond the ridge, relative to the mean diagonal (0 if none)

    def predict(self, x, threads: int | None = None, block: int = 4096) -> np.ndarray:
        """Predictions at the rows of x (m, d), in blocks of rows to bound memory."""
        x = np.asarray(x, dtype=np.float64)
        out = [
            gram(self.kernel, x[i : i + block], self.x_train, threads) @ self.coef
            for i in range(0, len(x), block)
        ]
        return np.concatenate(out) if out else np.empty(0)


def cholesky_solve(k: np.ndarray, y: np.ndarray, ridge: float = 0.0) -> tuple[np.ndarray, float]:
    """Solve (k + ridge I) a = y by Cholesky, overwriting k. Returns (a, relative jitter).

    When the factorisation fails (the matrix is not numerically positive definite), retries with
    jitter * mean(diag k) added to the diagonal for each jitter in JITTERS, and returns the one used.
    """
    # k is symmetric, so its transpose is the same matrix in Fortran order, which LAPACK's potrf
    # factorises in place (a C-ordered array would be copied). potrf reads and writes only the
    # lower triangle of `a` and its diagonal: the upper triangle keeps the matrix for a retry.
    a = k.T
    diag = np.einsum("ii->i", a)  # writable view of the diagonal
    diag += ridge
    original_diag = diag.copy()
    mean_diag = float(original_diag.mean())
    lower = None
    for rel in (0.0, *JITTERS):
        if lower is not None:  # a failed attempt: restore the lower triangle and the diagonal
            a[lower] = a.T[lower]
            diag[:] = original_diag + rel * mean_diag
        try:
            factor = scipy.linalg.cho_factor(a, lower=True, overwrite_a=True, check_finite=False)
        except np.linalg.LinAlgError:
            lower = np.tril_indices_from(a, -1)
            continue
        return scipy.linalg.cho_solve(factor, y, check_finite=False), rel
    raise SingularGramError(
        f"Gram matrix of size {k.shape[0]} is not positive definite even with a diagonal jitter of "
        f"{JITTERS[-1]:g} x mean diagonal (ridge={ridge:g}): duplicate training points? Use a "
        "positive ridge."
    )


def fit(kernel: str, x, y, ridge: float = 0.0, threads: int | None = None) -> KernelFit:
    """Kernel ridge(less) regression on training data x (n, d), y (n,) in float64."""
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    coef, jitter = cholesky_solve(gram(kernel, x, x, threads), y, ridge)
    return KernelFit(x_train=x, coef=coef, kernel=kernel, ridge=ridge, jitter=jitter)
