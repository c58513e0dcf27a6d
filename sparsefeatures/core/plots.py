"""Figures for a reader: power laws in n on log-log axes, with fitted and theoretical slopes."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # files only: no display on clusters
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402


def mean_and_sem(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over the last axis, ignoring missing runs (NaN)."""
    count = np.sum(np.isfinite(values), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(values, axis=-1) / count
        var = np.nansum((values - mean[..., None]) ** 2, axis=-1) / np.maximum(count - 1, 1)
        sem = np.sqrt(var / count)
    return mean, sem


def power_law_figure(
    curves: xr.DataArray,
    fits: dict[str, dict],
    fit_points: int,
    ylabel: str,
    title: str,
    paths: list[Path],
    references: xr.DataArray | None = None,
    reference_label: str = "",
) -> None:
    """Curves (regime, n, seed) against n, one colour per regime, saved to each of `paths`.

    Mean over seeds with standard-error bars. `fits[regime]` holds `slope`, `low`, `high` (the
    fitted log-log slope on the `fit_points` largest n and its interval; solid line over that range),
    optionally `theory` (the theory's slope; dotted, through the fitted line at the largest n) and
    `excluded` (n left out of the fit: open markers). `references` (regime, n, seed), where finite,
    is drawn as a dashed curve in the regime's colour, labelled "<regime> <reference_label>".
    Regimes absent from `fits` are drawn without lines.
    """
    fig, ax = plt.subplots(figsize=(5.5, 4.2), layout="constrained")
    n = curves["n"].values.astype(float)
    for i, regime in enumerate(curves["regime"].values):
        color = f"C{i}"
        mean, sem = mean_and_sem(curves.sel(regime=regime).transpose("n", "seed").values)
        ok = np.isfinite(mean) & (mean > 0)
        if not ok.any():
            continue
        fit = fits.get(str(regime), {})
        excluded = np.isin(n, fit.get("excluded", []))
        slope = fit.get("slope", math.nan)
        label = str(regime)
        if math.isfinite(slope):
            label += f": slope {slope:.2f} [{fit['low']:.2f}, {fit['high']:.2f}]"
        kept = ok & ~excluded
        ax.errorbar(
            n[kept], mean[kept], yerr=sem[kept], fmt="o", color=color, ms=4, capsize=2, label=label
        )
        if (ok & excluded).any():
            ax.errorbar(
                n[ok & excluded],
                mean[ok & excluded],
                yerr=sem[ok & excluded],
                fmt="o",
                mfc="none",
                color=color,
                ms=4,
                capsize=2,
                label=f"{regime}: left out of the fit",
            )
        if math.isfinite(slope) and kept.sum() >= 2:
            n_fit = n[kept][-fit_points:]
            log_intercept = np.mean(np.log(mean[kept][-fit_points:]) - slope * np.log(n_fit))
            ax.plot(n_fit, np.exp(log_intercept) * n_fit**slope, "-", color=color, lw=1)
            theory = fit.get("theory", math.nan)
            if math.isfinite(theory):
                anchor = np.exp(log_intercept) * n_fit[-1] ** slope
                ax.plot(
                    n_fit,
                    anchor * (n_fit / n_fit[-1]) ** theory,
                    ":",
                    color=color,
                    lw=1.5,
                    label=f"{regime} theory: slope {theory:.2f}",
                )
        if references is not None:
            ref, _ = mean_and_sem(references.sel(regime=regime).transpose("n", "seed").values)
            has = np.isfinite(ref) & (ref > 0)
            if has.any():
                ax.plot(
                    n[has],
                    ref[has],
                    "--",
                    color=color,
                    lw=1,
                    marker="s",
                    mfc="none",
                    ms=3,
                    label=f"{regime} {reference_label}",
                )
    ax.set_xscale("log")
    ax.set_yscale("log")
    # The n of the sweep as plain numbers: matplotlib's log-axis labels of 2x10^1, 3x10^1... collide.
    ax.set_xticks(n, [f"{v:g}" for v in n])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("training-set size n")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150)
    plt.close(fig)
