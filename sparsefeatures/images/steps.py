"""The image pipeline's light steps: per-run variables, aggregation, exponents.

Parameters in, xarray Datasets out; `sparsefeatures.images.cli` does the file I/O. The runs
themselves, which need torch and scikit-learn, are in `runs.py`, so that these steps start fast.
"""

from __future__ import annotations

from collections.abc import Iterable

import xarray as xr

from ..core import fits
from ..core.aggregate import aggregate_runs

# name -> (description, units) of every per-run scalar; the aggregate has one array of each over
# (dataset, regime, n, seed), NaN where a regime does not define it or a run is missing.
RUN_VARIABLES = {
    "test_error": ("fraction of test images misclassified (a zero output counts as an error)", "1"),
    "train_error": ("fraction of training images misclassified", "1"),
    "train_loss": (
        "networks: mean smoothed hinge loss l(y F) over the training set at the end of training "
        "(the objective is this / alpha^2)",
        "1",
    ),
    "fitted": ("networks: fraction of training images with y F >= margin at the end", "1"),
    "participation_ratio": (
        "networks: (sum m)^2 / sum m^2 of the first layer's neuron masses m_h = |w_h| |theta_h|",
        "neurons",
    ),
    "n_active": ("networks: neurons of mass >= mass_threshold x the largest mass", "neurons"),
    "n_directions": (
        "networks: distinct directions theta_h / |theta_h| among the active neurons, grouped "
        "greedily (heaviest first) at cosine >= direction_cos_tol",
        "directions",
    ),
    "first_layer_change": ("networks: |W_1 - W_1(0)| / |W_1(0)| (Frobenius)", "1"),
    "n_support": ("SVC: number of support vectors", "images"),
    "D_f": (
        "mean (f(tau x) - f(x))^2 over test images and random smooth deformations tau, divided by "
        "the mean (f(x) - f(z))^2 over pairs of test images",
        "1",
    ),
    "G_f": (
        "mean (f(x + eta) - f(x))^2, eta Gaussian noise of the norm of tau x - x, divided by the "
        "same mean over pairs",
        "1",
    ),
    "R_f": ("relative stability D_f / G_f (smaller: more stable to deformations than noise)", "1"),
    "rms_displacement": ("measured RMS displacement of the deformations drawn", "pixels"),
    "converged": (
        "1 if training stopped because fitted_fraction of the training set was fitted (networks) "
        "or libsvm converged (SVC), else 0 (a step or time cap, or a step underflow)",
        "1",
    ),
    "steps": ("accepted gradient steps (networks) or libsvm iterations (SVC)", "1"),
    "wall_time": ("wall-clock time of the fit (networks: over resumed segments)", "s"),
}

DIMS = ("dataset", "regime", "n", "seed")


# ----------------------------------------------------------------------------------------------
# Aggregation and exponents


def aggregate(
    run_stores: Iterable[xr.Dataset], grid: dict[str, list], kinds: dict[str, str]
) -> xr.Dataset:
    """Combine per-run stores into arrays over (dataset, regime, n, seed); NaN where a run is
    absent or failed (core.aggregate.aggregate_runs).

    `grid` lists each dimension's coordinates (from the config), `kinds` each regime's kind; each
    store's own parameters say where it belongs, so the order of `run_stores` does not matter.
    """
    out = aggregate_runs(run_stores, grid, RUN_VARIABLES, DIMS)
    out = out.assign_coords(
        regime_kind=(
            "regime",
            [kinds[r] for r in grid["regime"]],
            {"description": "network or svc"},
        )
    )
    out["dataset"].attrs.update(description="image data set (name in the config)")
    out["regime"].attrs.update(description="learning regime (name in the config)")
    out["n"].attrs.update(description="training-set size", units="images")
    out["seed"].attrs.update(description="seed of the data subsets and the initialisation")
    return out


EXPONENT_FIELDS = ("dataset", "regime", "beta", "beta_low", "beta_high", "points")
# Columns of exponents.csv read back as text (core.cli.read_csv).
EXPONENT_TEXT = ("dataset", "regime")


def exponents_table(errors: xr.Dataset, fit: dict) -> list[dict]:
    """One row per (dataset, regime): test error ~ n^-beta fitted on the `fit["points"]` largest n,
    with its bootstrap interval over seeds (core.fits.fit_exponent). NaN when fewer
    than two n have a positive mean error (an error of 0 has no logarithm)."""
    rows = []
    for dataset in errors["dataset"].values:
        for regime in errors["regime"].values:
            curve = errors["test_error"].sel(dataset=dataset, regime=regime)  # (n, seed)
            beta, low, high = fits.fit_curve(curve, fit)
            rows.append(
                {
                    "dataset": str(dataset),
                    "regime": str(regime),
                    "beta": beta,
                    "beta_low": low,
                    "beta_high": high,
                    "points": min(fit["points"], curve.sizes["n"]),
                }
            )
    return rows
