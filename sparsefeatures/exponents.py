"""Learning-curve exponents: test error ~ n^-beta, fitted with a bootstrap interval, and the theory.

Fit: least squares of log(mean over seeds of the error) against log n, on the `points` largest n
(where the asymptotic law holds best). Interval: resample the seeds with replacement, refit, and take
the central `confidence` quantiles of the refitted betas.

Theory for kernel regression of a target of smoothness nu_t with a kernel whose spectrum decays with
exponent alpha_K (Spigler, Geiger, Wyart 2020; Petrini et al. 2022, eq. 6):
    beta = min(2 nu_t, 2 alpha_K) / (d - 1),  alpha_K = d (NTK), d + 2 (RFK),
with nu_t = infinity for the constant target (sphere.smoothness). A lazy network follows its NTK
while its width is large enough (steps.regime_theory).

Feature learning (derived in this project, not in the paper; README "Theory"): the trained
predictor is a sum of about n ReLU atoms with weights ~1/n at scattered directions. Above the degree
k_c ~ n^(1/(d-1)) that n points resolve, the atoms' harmonics add incoherently: the power at degree
k is ~ n (1/n)^2 k^(d-2) a_k^2, with a_k^2 ~ k^-(d+2) the spectrum of one ReLU (the RFK's), so the
error beyond k_c sums to ~ n^-1 k_c^-3 = n^-((d+2)/(d-1)); the target's own tail adds
k_c^-(2 nu_t). Hence
    beta_feature = min(2 nu_t, d + 2) / (d - 1),
half the RFK's exponent for smooth targets: 2.5 at d = 3, 1.75 at d = 5.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

ALPHA_OFFSET = {"ntk": 0, "rfk": 2}  # alpha_K = d + offset


def theory_beta(kernel: str | None, d: int, nu_t: float) -> float:
    """Kernel-regression exponent of `kernel` ("ntk" or "rfk"); NaN for any other kernel."""
    if kernel not in ALPHA_OFFSET:
        return math.nan
    alpha_k = d + ALPHA_OFFSET[kernel]
    return min(2.0 * nu_t, 2.0 * alpha_k) / (d - 1)


def feature_beta(d: int, nu_t: float) -> float:
    """The feature regime's exponent min(2 nu_t, d + 2) / (d - 1) (module docstring)."""
    return min(2.0 * nu_t, d + 2.0) / (d - 1)


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
