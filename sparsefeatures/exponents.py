"""Learning-curve exponents: test error ~ n^-beta, fitted with a bootstrap interval, and the theory.

Fit: least squares of log(mean over seeds of the error) against log n, on the `points` largest n
(where the asymptotic law holds best). Interval: resample the seeds with replacement, refit, and take
the central `confidence` quantiles of the refitted betas.

Theory for kernel regression of a target of smoothness nu_t with a kernel whose spectrum decays with
exponent alpha_K (Spigler, Geiger, Wyart 2020; Petrini et al. 2022, eq. 6):
    beta = min(2 nu_t, 2 alpha_K) / (d - 1),  alpha_K = d (NTK), d + 2 (RFK),
with nu_t = infinity for the constant target. The lazy network follows its NTK.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

ALPHA_OFFSET = {"ntk": 0, "rfk": 2}  # alpha_K = d + offset


def theory_beta(kernel: str | None, d: int, nu_t: float) -> float:
    """Kernel-regression exponent; NaN when there is no kernel theory (feature learning)."""
    if kernel not in ALPHA_OFFSET:
        return math.nan
    alpha_k = d + ALPHA_OFFSET[kernel]
    return min(2.0 * nu_t, 2.0 * alpha_k) / (d - 1)


def fit_slope(n: np.ndarray, err: np.ndarray) -> float:
    """-slope of log err vs log n by least squares (n (k,), err (k,) > 0)."""
    slope, _ = np.polyfit(np.log(n), np.log(err), 1)
    return -float(slope)


def _nanmean(a: np.ndarray, axis: int) -> np.ndarray:
    """nanmean that returns NaN for all-NaN slices without a warning (missing runs are expected)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(a, axis=axis)


def fit_exponent(
    n: np.ndarray,
    errors: np.ndarray,
    points: int = 4,
    bootstrap: int = 1000,
    confidence: float = 0.95,
    rng: np.random.Generator | None = None,
) -> tuple[float, float, float]:
    """(beta, low, high) from errors (n, seeds) with NaN for missing runs.

    Only n values with at least one finite error are used, then the `points` largest of them.
    Returns NaNs when fewer than two n values are usable.
    """
    n = np.asarray(n, dtype=float)
    errors = np.asarray(errors, dtype=float)
    mean = _nanmean(errors, axis=1)  # (n,)
    usable = np.isfinite(mean) & (mean > 0)
    n, errors, mean = n[usable], errors[usable], mean[usable]
    largest = np.argsort(n)[-points:]
    n, errors, mean = n[largest], errors[largest], mean[largest]
    if len(n) < 2:
        return math.nan, math.nan, math.nan
    beta = fit_slope(n, mean)
    rng = rng if rng is not None else np.random.default_rng(0)
    seeds = errors.shape[1]
    picks = rng.integers(0, seeds, size=(bootstrap, seeds))  # (bootstrap, seeds)
    resampled = _nanmean(errors[:, picks], axis=2)  # (n, bootstrap)
    valid = np.all(np.isfinite(resampled) & (resampled > 0), axis=0)
    betas = -np.polyfit(np.log(n), np.log(resampled[:, valid]), 1)[0]  # (valid bootstraps,)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(betas, [tail, 1.0 - tail])
    return beta, float(low), float(high)
