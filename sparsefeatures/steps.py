"""The sphere pipeline's light steps (data, aggregation, exponents): parameters in, datasets out.

Each step takes exactly the parameters its output depends on (the rule passes them as canonical
JSON) and returns an xarray Dataset; `cli.py` does the file I/O. The fits themselves, which need
torch, are in `runs.py`, so that these steps start fast.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

import numpy as np
import xarray as xr

from . import exponents, sphere, store

# name -> (description, units) of every per-run scalar; the aggregate has one array per name.
RUN_VARIABLES = {
    "test_mse": ("mean squared error on the test set", "target units squared"),
    "train_mse": ("mean squared error on the training set", "target units squared"),
    "gram_jitter": (
        "diagonal jitter added to make the Gram matrix factorisable, relative to its "
        "mean diagonal (0: none needed)",
        "1",
    ),
    "wall_time": ("wall-clock time of the fit", "s"),
    # Alpha-trick networks only: the lazy regime's references on the same data.
    "test_mse_linearised": (
        "test MSE of the network linearised at its initial parameters, solved exactly "
        "(minimum-norm interpolant: regression with its empirical NTK)",
        "target units squared",
    ),
    "test_mse_infinite_width": (
        "test MSE of ridgeless regression with the analytic (infinite-width) NTK",
        "target units squared",
    ),
    # Networks only (NaN for kernel regimes).
    "n_atoms": (
        "number of atoms: distinct training-set activation patterns among the neurons of "
        "non-negligible mass (measures.n_atoms)",
        "1",
    ),
    "n_atoms_init": (
        "distinct training-set activation patterns of the untrained neurons, all counted: "
        "the ceiling the width puts on n_atoms",
        "1",
    ),
    "vanished_fraction": (
        "fraction of neurons whose mass is below the atom threshold (removed from the function)",
        "1",
    ),
    "participation_ratio": (
        "effective number of neurons, (sum m_h)^2 / sum m_h^2 of the masses m_h = |w_h| |theta_h|",
        "1",
    ),
    "theta_displacement": (
        "mean relative distance of the first-layer weights from their "
        "initialisation, |theta_h - theta0_h| / |theta0_h|",
        "1",
    ),
    "rotation_stability": (
        "mean squared change of the predictor when test points are rotated by "
        "the configured angle, over twice its variance",
        "1",
    ),
    # The sparse limit only (kind: sparse): its certificate.
    "objective": (
        "objective at the solution: (1/2n) sum (f - y)^2 + lambda |mu|_TV, or |mu|_TV when "
        "lambda = 0 (the minimum-total-variation interpolant)",
        "target units squared (lambda > 0), target units (lambda = 0)",
    ),
    "duality_gap": ("relative duality gap (primal - dual) / primal of the solution", "1"),
    "dual_violation": (
        "largest relative violation of the dual constraint found by a final dense search over "
        "directions (0: certified optimal up to duality_gap)",
        "1",
    ),
    "train_residual": ("largest |f(x_i) - y_i| on the training set", "target units"),
    "converged": (
        "1 if the fit met its convergence criterion (networks: a loss tolerance; sparse: the "
        "duality-gap tolerance), 0 if it hit its step or iteration cap",
        "1",
    ),
    "steps": ("gradient steps (networks) or column-generation iterations (sparse)", "1"),
    "final_loss": (
        "training objective at the end (alpha-trick: times alpha^2)",
        "target units squared",
    ),
}


def dataset(target: str, spec: dict, d: int, seed: int, split: str, n: int) -> xr.Dataset:
    """Inputs x (sample, dim) and targets y (sample) of one split."""
    x, y = sphere.make_split(spec, target, d, seed, split, n)
    return xr.Dataset(
        {
            "x": (("sample", "dim"), x, {"description": f"points uniform on S^{d - 1}"}),
            "y": (("sample",), y, {"description": f"target {target!r} at x"}),
        },
        attrs={"target": target, "d": d, "seed": seed, "split": split},
    )


def scalars(**values: float) -> xr.Dataset:
    """A dataset of named per-run scalars with their descriptions and units."""
    return xr.Dataset(
        {
            name: (
                (),
                value,
                {"description": RUN_VARIABLES[name][0], "units": RUN_VARIABLES[name][1]},
            )
            for name, value in values.items()
        }
    )


# The aggregates' variable that marks failed runs (store.failure_of), beside the runs' own.
FAILED_VARIABLE = {
    "failed": (
        "1 if the run failed (its training diverged, say): its measurements are NaN and the "
        "reason is in the attribute failed_runs; 0 for a run with results; NaN where absent",
        "1",
    )
}


def run_summary(ds: xr.Dataset) -> str:
    """One line saying how a run ended, for the job's log and the console."""
    parts = [f"test_mse={float(ds.test_mse):.4g}", f"train_mse={float(ds.train_mse):.4g}"]
    if "steps" in ds:
        stop = ds.attrs.get("stop_reason", "")
        state = "converged" if float(ds.converged) else "NOT converged"
        parts.append(f"{state} ({stop}) after {int(ds.steps)} steps")
    parts.append(f"fit {float(ds.wall_time):.1f} s")
    return ", ".join(parts)


def aggregate_runs(
    run_stores: Iterable[xr.Dataset],
    grid: dict[str, list],
    variables: dict,
    dims: tuple[str, ...],
) -> xr.Dataset:
    """Combine per-run stores into arrays over `dims`; NaN where a run is absent or failed.

    `grid` lists the coordinate values of each dimension (from the config); each store's own
    parameters say where it belongs, so the order of `run_stores` does not matter. Failed runs
    (store.failure_of) are marked in `failed` and listed with their reasons in the attribute
    `failed_runs` (JSON list).
    """
    shape = tuple(len(grid[dim]) for dim in dims)
    index = {dim: {value: i for i, value in enumerate(grid[dim])} for dim in dims}
    variables = variables | FAILED_VARIABLE
    arrays = {name: np.full(shape, np.nan) for name in variables}
    failures = []
    for ds in run_stores:
        params = store.params_of(ds)
        where = tuple(index[dim][params[dim]] for dim in dims)
        reason = store.failure_of(ds)
        arrays["failed"][where] = float(reason is not None)
        if reason is not None:
            failures.append({dim: params[dim] for dim in dims} | {"reason": reason})
            continue
        for name in variables:
            if name in ds:
                arrays[name][where] = float(ds[name])
    data = {
        name: (dims, arrays[name], {"description": desc, "units": units})
        for name, (desc, units) in variables.items()
    }
    out = xr.Dataset(data, coords={dim: grid[dim] for dim in dims})
    out.attrs["failed_runs"] = store.canonical_json(failures)
    return out


def failed_runs(errors: xr.Dataset) -> list[dict]:
    """The failed runs of an aggregate: their coordinates and the reason."""
    return json.loads(errors.attrs.get("failed_runs", "[]"))


def aggregate(run_stores: Iterable[xr.Dataset], grid: dict[str, list]) -> xr.Dataset:
    """The sphere runs over (target, d, regime, n, seed) (aggregate_runs)."""
    out = aggregate_runs(run_stores, grid, RUN_VARIABLES, ("target", "d", "regime", "n", "seed"))
    out["n"].attrs.update(description="training-set size")
    out["d"].attrs.update(description="input dimension (data on S^{d-1})")
    out["seed"].attrs.update(description="seed of the data (and of the network initialisation)")
    return out


def _fit(curve: xr.DataArray, fit: dict) -> tuple[float, float, float]:
    """(beta, low, high) of curve (n, seed) ~ n^-beta, with the config's fit options."""
    return exponents.fit_exponent(
        curve["n"].values,
        curve.transpose("n", "seed").values,
        points=fit["points"],
        bootstrap=fit["bootstrap"],
        confidence=fit["confidence"],
        rng=np.random.default_rng(fit["seed"]),
    )


# A lazy network's theory is the analytic NTK's only where its own linearisation (what it converges
# to) stays within this factor of the infinite-width NTK's test error at every fitted n: a ratio r
# at the largest n alone shifts a slope fitted over a factor 8 in n by up to ln(r) / ln(8) (0.2 for
# 1.5).
FINITE_WIDTH_FACTOR = 1.5
# Atom counts are read only where the mean count is at most this fraction of the width: beyond, the
# untrained neurons' own sign patterns (up to H of them) cap the count.
ATOMS_WIDTH_FRACTION = 0.25


def _fit_n(curve: xr.DataArray, fit: dict) -> np.ndarray:
    """The n values a fit of curve (n, seed) uses: the `points` largest with a positive mean."""
    mean = curve.mean("seed", skipna=True)
    usable = curve["n"].values[np.isfinite(mean.values) & (mean.values > 0)]
    return np.sort(usable)[-fit["points"] :]


def regime_theory(
    regime: dict, target: dict, d: int, runs: xr.Dataset, fit: dict
) -> tuple[float, str]:
    """(beta_theory, what it rests on) of one regime on one target in dimension d.

    `runs` holds the regime's aggregated runs (n, seed) on that target. The second element names
    the theory ("ntk", "rfk", "feature", "plateau") or says why there is none ("none: ...").
    - Targets no model here can learn (sphere.unreachable_part): 0, the error tends to a plateau.
    - Kernels: their own exponent. Mean-field networks and the sparse limit: the feature regime's.
    - Alpha-trick networks with alpha >= 1 (lazy; Geiger et al. 2020): the NTK's where the width
      makes it meaningful (FINITE_WIDTH_FACTOR), none otherwise; alpha < 1: none (in between).
    """
    if sphere.unreachable_part(target):
        return 0.0, "plateau"
    nu_t = sphere.smoothness(target)
    kind = regime["kind"]
    if kind == "kernel":
        return exponents.theory_beta(regime["kernel"], d, nu_t), regime["kernel"]
    if kind == "sparse" or regime.get("scaling", "mean_field") == "mean_field":
        return exponents.feature_beta(d, nu_t), "feature"
    if regime.get("alpha", 1.0) < 1:
        return math.nan, "none: alpha-trick with alpha < 1, between the lazy and feature regimes"
    at_n = runs.sel(n=_fit_n(runs["test_mse"], fit)).mean("seed", skipna=True)
    ratio = (at_n["test_mse_linearised"] / at_n["test_mse_infinite_width"]).values  # (n,)
    if not np.isfinite(ratio).all() or len(ratio) == 0:
        return math.nan, "none: no linearised reference in the runs"
    worst = int(np.argmax(ratio))
    if ratio[worst] > FINITE_WIDTH_FACTOR:
        n = int(at_n["n"].values[worst])
        return math.nan, (
            f"none: width {regime.get('width')} too small, its linearisation's test error is "
            f"{ratio[worst]:.3g} x the infinite-width NTK's at n = {n}"
        )
    return exponents.theory_beta("ntk", d, nu_t), "ntk"


def exponents_table(errors: xr.Dataset, targets: dict, regimes: dict, fit: dict) -> list[dict]:
    """One row per (target, d, regime): fitted beta of test_mse with its interval, and the theory."""
    rows = []
    for target in errors["target"].values:
        for d in errors["d"].values:
            for regime in errors["regime"].values:
                runs = errors.sel(target=target, d=d, regime=regime)  # (n, seed)
                if not runs["failed"].notnull().any():
                    continue  # the regime does not run on this target
                beta, low, high = _fit(runs["test_mse"], fit)
                theory, basis = regime_theory(
                    regimes[str(regime)], targets[str(target)], int(d), runs, fit
                )
                rows.append(
                    {
                        "target": str(target),
                        "d": int(d),
                        "regime": str(regime),
                        "beta": beta,
                        "beta_low": low,
                        "beta_high": high,
                        "beta_theory": theory,
                        "theory": basis,
                    }
                )
    return rows


def has_atoms(regime: dict) -> bool:
    """Whether a regime's runs count atoms (networks and the sparse limit)."""
    return regime["kind"] in ("network", "sparse")


def atoms_table(errors: xr.Dataset, regimes: dict, fit: dict) -> list[dict]:
    """One row per (target, d, regime with atoms): log-log slope of n_atoms vs n, its interval.

    A network's n with a mean atom count above ATOMS_WIDTH_FRACTION of its width are left out of
    the fit (their count is capped by the width) and listed in `capped_n` (space-separated).
    """
    rows = []
    counted = [r for r in errors["regime"].values if has_atoms(regimes[str(r)])]
    for target in errors["target"].values:
        for d in errors["d"].values:
            for regime in counted:
                runs = errors.sel(target=target, d=d, regime=regime)  # (n, seed)
                if not runs["failed"].notnull().any():
                    continue  # the regime does not run on this target
                curve = runs["n_atoms"]
                width = regimes[str(regime)].get("width")
                capped = []
                if width is not None:
                    mean = curve.mean("seed", skipna=True)
                    over = mean > ATOMS_WIDTH_FRACTION * width
                    capped = [int(n) for n in curve["n"].values[over.values]]
                    curve = curve.where(~over)
                beta, low, high = _fit(curve, fit)
                row = {"target": str(target), "d": int(d), "regime": str(regime)}
                row |= {"slope": -beta, "slope_low": -high, "slope_high": -low}
                rows.append(row | {"capped_n": " ".join(map(str, capped))})
    return rows
