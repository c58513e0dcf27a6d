"""The sphere pipeline's light steps (data, aggregation, exponents): parameters in, datasets out.

Each step takes exactly the parameters its output depends on (the rule passes them as canonical
JSON) and returns an xarray Dataset; `cli.py` does the file I/O. The fits themselves, which need
torch, are in `runs.py`, so that these steps start fast.
"""

from __future__ import annotations

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


def aggregate(
    run_stores: Iterable[xr.Dataset], grid: dict[str, list], variables: dict = RUN_VARIABLES
) -> xr.Dataset:
    """Combine per-run stores into arrays over (target, d, regime, n, seed); NaN where absent.

    `grid` lists the coordinate values of each dimension (from the config); each store's own
    parameters say where it belongs, so the order of `run_stores` does not matter.
    """
    dims = ("target", "d", "regime", "n", "seed")
    shape = tuple(len(grid[dim]) for dim in dims)
    index = {dim: {value: i for i, value in enumerate(grid[dim])} for dim in dims}
    arrays = {name: np.full(shape, np.nan) for name in variables}
    for ds in run_stores:
        params = store.params_of(ds)
        where = tuple(index[dim][params[dim]] for dim in dims)
        for name in variables:
            if name in ds:
                arrays[name][where] = float(ds[name])
    coords = {dim: grid[dim] for dim in dims}
    data = {
        name: (dims, arrays[name], {"description": desc, "units": units})
        for name, (desc, units) in variables.items()
    }
    out = xr.Dataset(data, coords=coords)
    out["n"].attrs.update(description="training-set size")
    out["d"].attrs.update(description="input dimension (data on S^{d-1})")
    out["seed"].attrs.update(description="seed of the data (and of the network initialisation)")
    return out


def exponents_table(errors: xr.Dataset, targets: dict, regimes: dict, fit: dict) -> list[dict]:
    """One row per (target, d, regime): fitted beta with its interval, and the theory."""
    rows = []
    for target in errors["target"].values:
        nu_t = sphere.smoothness(targets[str(target)])
        for d in errors["d"].values:
            for regime in errors["regime"].values:
                spec = regimes[str(regime)]
                curve = errors["test_mse"].sel(target=target, d=d, regime=regime)  # (n, seed)
                beta, low, high = exponents.fit_exponent(
                    curve["n"].values,
                    curve.transpose("n", "seed").values,
                    points=fit["points"],
                    bootstrap=fit["bootstrap"],
                    confidence=fit["confidence"],
                    rng=np.random.default_rng(fit["seed"]),
                )
                rows.append(
                    {
                        "target": str(target),
                        "d": int(d),
                        "regime": str(regime),
                        "beta": beta,
                        "beta_low": low,
                        "beta_high": high,
                        "beta_theory": exponents.theory_beta(theory_kernel(spec), int(d), nu_t),
                    }
                )
    return rows


def theory_kernel(regime: dict) -> str | None:
    """The kernel whose theory applies to a regime: its own kernel, the NTK for lazy networks."""
    if regime["kind"] == "kernel":
        return regime["kernel"]
    if regime.get("scaling") == "alpha" and regime.get("alpha", 0) >= 1:
        return "ntk"
    return None
