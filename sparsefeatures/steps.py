"""The sphere pipeline's light steps (data, aggregation, exponents): parameters in, datasets out.

Each step takes exactly the parameters its output depends on (the rule passes them as canonical
JSON) and returns an xarray Dataset; `cli.py` does the file I/O. The fits themselves, which need
torch, are in `runs.py`, so that these steps start fast.
"""

from __future__ import annotations

import json
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
    # Networks only (NaN for kernel regimes).
    "n_atoms": (
        "number of atoms: distinct training-set activation patterns among the neurons of "
        "non-negligible mass (measures.n_atoms)",
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
    "converged": ("1 if training met its convergence criterion, 0 if it hit the step cap", "1"),
    "steps": ("gradient steps taken", "1"),
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


def exponents_table(errors: xr.Dataset, targets: dict, regimes: dict, fit: dict) -> list[dict]:
    """One row per (target, d, regime): fitted beta of test_mse with its interval, and the theory."""
    rows = []
    for target in errors["target"].values:
        nu_t = sphere.smoothness(targets[str(target)])
        for d in errors["d"].values:
            for regime in errors["regime"].values:
                curve = errors["test_mse"].sel(target=target, d=d, regime=regime)  # (n, seed)
                tried = errors["failed"].sel(target=target, d=d, regime=regime).notnull()
                if not tried.any():
                    continue  # the regime does not run on this target
                beta, low, high = _fit(curve, fit)
                kernel = theory_kernel(regimes[str(regime)])
                rows.append(
                    {
                        "target": str(target),
                        "d": int(d),
                        "regime": str(regime),
                        "beta": beta,
                        "beta_low": low,
                        "beta_high": high,
                        "beta_theory": exponents.theory_beta(kernel, int(d), nu_t),
                    }
                )
    return rows


def atoms_table(errors: xr.Dataset, regimes: dict, fit: dict) -> list[dict]:
    """One row per (target, d, network regime): log-log slope of n_atoms vs n with its interval."""
    rows = []
    networks = [r for r in errors["regime"].values if regimes[str(r)]["kind"] == "network"]
    for target in errors["target"].values:
        for d in errors["d"].values:
            for regime in networks:
                curve = errors["n_atoms"].sel(target=target, d=d, regime=regime)  # (n, seed)
                tried = errors["failed"].sel(target=target, d=d, regime=regime).notnull()
                if not tried.any():
                    continue  # the regime does not run on this target
                beta, low, high = _fit(curve, fit)
                row = {"target": str(target), "d": int(d), "regime": str(regime)}
                rows.append(row | {"slope": -beta, "slope_low": -high, "slope_high": -low})
    return rows


def theory_kernel(regime: dict) -> str | None:
    """The kernel whose theory applies to a regime: its own kernel, the NTK for lazy networks.

    A network counts as lazy when it uses the alpha-trick with alpha >= 1 (Geiger et al. 2020);
    feature learning has no kernel theory (NaN in exponents.csv).
    """
    if regime["kind"] == "kernel":
        return regime["kernel"]
    if regime.get("scaling") == "alpha" and regime.get("alpha", 0) >= 1:
        return "ntk"
    return None
