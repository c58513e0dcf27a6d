"""Power-law fits of learning curves: error ~ n^-beta, with a bootstrap interval over seeds.

Fit: least squares of log(mean over seeds of the error) against log n, on the `points` largest n
(where the asymptotic law holds best). Interval: resample the seeds with replacement, refit, and take
the central `confidence` quantiles of the refitted betas.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import xarray as xr


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


def fit_curve(curve: xr.DataArray, fit: dict) -> tuple[float, float, float]:
    """(beta, low, high) of curve (n, seed) ~ n^-beta, with a config's `fit` options."""
    return fit_exponent(
        curve["n"].values,
        curve.transpose("n", "seed").values,
        points=fit["points"],
        bootstrap=fit["bootstrap"],
        confidence=fit["confidence"],
        rng=np.random.default_rng(fit["seed"]),
    )


def fit_n(curve: xr.DataArray, fit: dict) -> np.ndarray:
    """The n values a fit of curve (n, seed) uses: the `points` largest with a positive mean."""
    mean = curve.mean("seed", skipna=True)
    usable = curve["n"].values[np.isfinite(mean.values) & (mean.values > 0)]
    return np.sort(usable)[-fit["points"] :]
