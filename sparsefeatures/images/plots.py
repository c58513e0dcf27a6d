"""Figures of the image setting, one data set each: test error, relative stability and sparsity
against the training-set size n, one curve per regime, mean over seeds with standard errors.

Log-log axes throughout: the test error follows a power law in n (its fitted exponent and bootstrap
interval are in the legend), and R_f and the sparsity measures span decades across regimes.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on clusters
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from ..core.plots import mean_and_sem  # noqa: E402


def interval(row: dict) -> str:
    """Legend text of a fitted exponent with its bootstrap interval."""
    if not math.isfinite(row["beta"]):
        return "beta: no fit"
    return f"beta = {row['beta']:.2f} [{row['beta_low']:.2f}, {row['beta_high']:.2f}]"


def _save(fig, paths: list[Path]) -> None:
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150)
    plt.close(fig)


def _curve(
    ax, values: xr.DataArray, label: str, color: str, marker: str = "o", line: str = "-"
) -> np.ndarray:
    """Mean over seeds with standard-error bars of values (n, seed); returns the mean (n,)."""
    n = values["n"].values.astype(float)
    mean, sem = mean_and_sem(values.transpose("n", "seed").values)
    ok = np.isfinite(mean)
    style = dict(fmt=marker + line, color=color, ms=4, lw=1, capsize=2, label=label)
    ax.errorbar(n[ok], mean[ok], yerr=sem[ok], **style)
    return mean


def _n_axis(ax, n: np.ndarray) -> None:
    """Log scale with a plain tick at every n of the grid."""
    ax.set_xscale("log")
    ax.set_xticks(n, [str(int(v)) for v in n])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel("training-set size n (images)")


def _network_regimes(errors: xr.Dataset) -> list[str]:
    kinds = zip(errors["regime"].values, errors["regime_kind"].values, strict=True)
    return [str(regime) for regime, kind in kinds if kind == "network"]


def test_error(
    errors: xr.Dataset, rows: list[dict], dataset: str, fit_points: int, paths: list[Path]
) -> None:
    """Test error vs n of every regime; solid line: the power-law fit on the fit_points largest n,
    its exponent beta and bootstrap interval in the legend."""
    fig, ax = plt.subplots(figsize=(5.5, 4.2), layout="constrained")
    curves = errors["test_error"].sel(dataset=dataset)  # (regime, n, seed)
    n = curves["n"].values.astype(float)
    for i, regime in enumerate(curves["regime"].values):
        color = f"C{i}"
        row = next(r for r in rows if r["dataset"] == dataset and r["regime"] == regime)
        label = f"{regime}: {interval(row)}"
        mean = _curve(ax, curves.sel(regime=regime), label, color, line="")
        ok = np.isfinite(mean) & (mean > 0)
        if math.isfinite(row["beta"]) and ok.sum() >= 2:
            n_fit, m_fit = n[ok][-fit_points:], mean[ok][-fit_points:]
            log_intercept = np.mean(np.log(m_fit) + row["beta"] * np.log(n_fit))
            ax.plot(n_fit, np.exp(log_intercept) * n_fit ** -row["beta"], "-", color=color, lw=1)
    _n_axis(ax, n)
    ax.set_yscale("log")
    ax.set_ylabel("test error (fraction misclassified)")
    ax.set_title(f"{dataset}: parity of the class, test error ~ n^-beta")
    ax.legend(fontsize=7)
    _save(fig, paths)


def stability(errors: xr.Dataset, dataset: str, paths: list[Path]) -> None:
    """R_f = D_f / G_f vs n of every regime (left), and D_f and G_f themselves (right)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 4.0), layout="constrained")
    sub = errors.sel(dataset=dataset)
    for i, regime in enumerate(sub["regime"].values):
        color = f"C{i}"
        _curve(left, sub["R_f"].sel(regime=regime), str(regime), color)
        _curve(right, sub["D_f"].sel(regime=regime), f"{regime}: D_f", color, "o")
        _curve(right, sub["G_f"].sel(regime=regime), f"{regime}: G_f", color, "s")
    for ax in (left, right):
        _n_axis(ax, sub["n"].values)
        ax.set_yscale("log")
    left.set_ylabel("relative stability R_f = D_f / G_f")
    left.set_title(f"{dataset}: larger R_f, less stable to deformations")
    right.set_ylabel("D_f (circles), G_f (squares)")
    right.set_title("deformation and noise stabilities")
    left.legend(fontsize=7)
    right.legend(fontsize=6, ncol=2, loc="best")
    _save(fig, paths)


def sparsity(errors: xr.Dataset, dataset: str, widths: dict[str, int], paths: list[Path]) -> None:
    """Distinct neuron directions (left) and participation ratio of neuron masses (right) vs n of
    every network regime; dashed: the width, what a representation with no sparsity reaches."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 4.0), layout="constrained")
    sub = errors.sel(dataset=dataset)
    n = sub["n"].values.astype(float)
    for i, regime in enumerate(sub["regime"].values):
        if regime not in _network_regimes(errors):
            continue
        color = f"C{i}"
        _curve(left, sub["n_directions"].sel(regime=regime), str(regime), color)
        _curve(right, sub["participation_ratio"].sel(regime=regime), str(regime), color)
        for ax in (left, right):
            ax.plot(n, np.full_like(n, widths[str(regime)]), "--", color=color, lw=1, alpha=0.7)
    for ax in (left, right):
        _n_axis(ax, n)
        ax.set_yscale("log")
    left.set_ylabel("distinct directions of active neurons")
    left.set_title(f"{dataset}: first-layer sparsity (dashed: width)")
    right.set_ylabel("participation ratio of neuron masses (neurons)")
    right.set_title("(sum m)^2 / sum m^2")
    left.legend(fontsize=7)
    _save(fig, paths)
