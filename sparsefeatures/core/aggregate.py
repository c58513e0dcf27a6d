"""Runs to aggregates, for every setting: per-run scalars, and one array per variable over the grid.

A run store holds named scalars (each with its description and units); the aggregate stacks them
over the grid's dimensions, with NaN where a run is absent or failed, and lists the failed runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np
import xarray as xr

from . import store


def scalars(variables: dict[str, tuple[str, str]], **values: float) -> dict:
    """Data variables of named per-run scalars (as floats), described by `variables`
    (name -> (description, units)): for xr.Dataset."""
    out = {}
    for name, value in values.items():
        description, units = variables[name]
        out[name] = ((), float(value), {"description": description, "units": units})
    return out


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
