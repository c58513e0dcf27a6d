"""The sphere setting's figures: learning curves and atom counts of one (target, d)."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from ..core.plots import power_law_figure


def learning_curves(
    errors: xr.Dataset, rows: list[dict], target: str, d: int, fit_points: int, paths: list[Path]
) -> None:
    """Test error vs n for every regime of one (target, d); rows from exponents.csv (beta = -slope)."""
    fits = {
        r["regime"]: {
            "slope": -r["beta"],
            "low": -r["beta_high"],
            "high": -r["beta_low"],
            "theory": -r["beta_theory"],
        }
        for r in rows
        if r["target"] == target and r["d"] == d
    }
    curves = errors["test_mse"].sel(target=target, d=d)
    # Lazy networks: the test error of their own linearisation, the reference at their width.
    references = None
    if "test_mse_linearised" in errors:
        references = errors["test_mse_linearised"].sel(target=target, d=d)
    title = f"target {target}, d = {d}: test error (slope = -beta)"
    power_law_figure(
        curves,
        fits,
        fit_points,
        "test mean squared error",
        title,
        paths,
        references=references,
        reference_label="linearised at init (exact)",
    )


def atoms(
    errors: xr.Dataset, rows: list[dict], target: str, d: int, fit_points: int, paths: list[Path]
) -> None:
    """Number of atoms vs n for the network regimes of one (target, d); rows from atoms.csv."""
    fits = {
        r["regime"]: {
            "slope": r["slope"],
            "low": r["slope_low"],
            "high": r["slope_high"],
            "excluded": [float(v) for v in str(r.get("capped_n") or "").split()],
        }
        for r in rows
        if r["target"] == target and r["d"] == d
    }
    # Every regime, so that colours match the learning curves'; kernels have no atoms (NaN, skipped).
    curves = errors["n_atoms"].sel(target=target, d=d)
    title = f"target {target}, d = {d}: atoms of the network regimes"
    power_law_figure(curves, fits, fit_points, "number of atoms", title, paths)
