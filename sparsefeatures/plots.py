"""Figures for a reader: learning curves with fitted and theoretical exponents, log-log axes."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on clusters
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402


def _mean_and_sem(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over the last axis, ignoring missing runs (NaN)."""
    count = np.sum(np.isfinite(values), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(values, axis=-1) / count
        var = np.nansum((values - mean[..., None]) ** 2, axis=-1) / np.maximum(count - 1, 1)
        sem = np.sqrt(var / count)
    return mean, sem


def _interval(row: dict) -> str:
    if not math.isfinite(row["beta"]):
        return "beta: no fit"
    return f"beta = {row['beta']:.2f} [{row['beta_low']:.2f}, {row['beta_high']:.2f}]"


def learning_curves(
    errors: xr.Dataset,
    rows: list[dict],
    target: str,
    d: int,
    fit_points: int,
    paths: list[Path],
    variable: str = "test_mse",
) -> None:
    """Test error vs n for every regime of one (target, d), saved to each of `paths`.

    Mean over seeds with standard-error bars; solid line: the fit on the `fit_points` largest n;
    dashed line: the theory's slope over the same range, through the fitted line at the largest n.
    """
    fig, ax = plt.subplots(figsize=(5.5, 4.2), layout="constrained")
    curves = errors[variable].sel(target=target, d=d)  # (regime, n, seed)
    n = curves["n"].values.astype(float)
    for i, regime in enumerate(curves["regime"].values):
        color = f"C{i}"
        mean, sem = _mean_and_sem(curves.sel(regime=regime).transpose("n", "seed").values)
        row = next(
            r for r in rows if r["target"] == target and r["d"] == d and r["regime"] == regime
        )
        ax.errorbar(
            n,
            mean,
            yerr=sem,
            fmt="o",
            color=color,
            ms=4,
            capsize=2,
            label=f"{regime}: {_interval(row)}",
        )
        ok = np.isfinite(mean) & (mean > 0)
        if math.isfinite(row["beta"]) and ok.sum() >= 2:
            n_fit = n[ok][-fit_points:]
            log_intercept = np.mean(np.log(mean[ok][-fit_points:]) + row["beta"] * np.log(n_fit))
            ax.plot(n_fit, np.exp(log_intercept) * n_fit ** -row["beta"], "-", color=color, lw=1)
            if math.isfinite(row["beta_theory"]):
                anchor = np.exp(log_intercept) * n_fit[-1] ** -row["beta"]
                ax.plot(
                    n_fit,
                    anchor * (n_fit / n_fit[-1]) ** -row["beta_theory"],
                    "--",
                    color=color,
                    lw=1,
                    alpha=0.7,
                    label=f"{regime} theory: beta = {row['beta_theory']:.2f}",
                )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training-set size n")
    ax.set_ylabel("test mean squared error")
    ax.set_title(f"target {target}, d = {d}")
    ax.legend(fontsize=7)
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150)
    plt.close(fig)
