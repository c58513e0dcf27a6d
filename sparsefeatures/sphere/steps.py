"""The sphere pipeline's light steps (data, aggregation, exponents, atoms): parameters in, datasets
and table rows out.

Each step takes exactly the parameters its output depends on (the rule passes them as canonical
JSON) and returns an xarray Dataset or rows; `cli.py` does the file I/O. The runs themselves are
their kinds' (registry.py), imported only by the steps that need them.
"""

from __future__ import annotations

from collections.abc import Iterable

import xarray as xr

from ..core import aggregate as core_aggregate
from ..core import fits
from . import data, registry, runs

DIMS = ("target", "d", "regime", "n", "seed")
# Atom counts are read only where the mean count is at most this fraction of the width: beyond, the
# untrained neurons' own sign patterns (up to H of them) cap the count.
ATOMS_WIDTH_FRACTION = 0.25


def run_variables() -> dict[str, tuple[str, str]]:
    """name -> (description, units) of every per-run scalar of every kind: the aggregate's arrays.
    A name two kinds share must mean the same in both."""
    out = dict(runs.COMMON_VARIABLES)
    for kind in registry.KINDS.values():
        for name, meaning in kind.load().VARIABLES.items():
            if out.setdefault(name, meaning) != meaning:
                raise ValueError(f"run variable {name!r} of kind {kind.name!r} redefined")
    return out


def aggregate(run_stores: Iterable[xr.Dataset], grid: dict[str, list]) -> xr.Dataset:
    """The sphere runs over (target, d, regime, n, seed) (core.aggregate.aggregate_runs)."""
    out = core_aggregate.aggregate_runs(run_stores, grid, run_variables(), DIMS)
    out["n"].attrs.update(description="training-set size")
    out["d"].attrs.update(description="input dimension (data on S^{d-1})")
    out["seed"].attrs.update(description="seed of the data (and of the network initialisation)")
    return out


def regime_theory(
    regime: dict, target: dict, d: int, runs: xr.Dataset, fit: dict
) -> tuple[float, str]:
    """(beta_theory, what it rests on) of one regime on one target in dimension d.

    `runs` holds the regime's aggregated runs (n, seed) on that target. The second element names
    the theory ("ntk", "rfk", "feature", "plateau") or says why there is none ("none: ...").
    Targets no model here can learn (data.unreachable_part) have 0: the error tends to a plateau;
    otherwise the regime's kind says (its `theory`).
    """
    if data.unreachable_part(target):
        return 0.0, "plateau"
    return registry.kind_of(regime).load().theory(regime, d, data.smoothness(target), runs, fit)


def exponents_table(errors: xr.Dataset, targets: dict, regimes: dict, fit: dict) -> list[dict]:
    """One row per (target, d, regime): fitted beta of test_mse with its interval, and the theory."""
    rows = []
    for target in errors["target"].values:
        for d in errors["d"].values:
            for regime in errors["regime"].values:
                runs = errors.sel(target=target, d=d, regime=regime)  # (n, seed)
                if not runs["failed"].notnull().any():
                    continue  # the regime does not run on this target
                beta, low, high = fits.fit_curve(runs["test_mse"], fit)
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


def atoms_table(errors: xr.Dataset, regimes: dict, fit: dict) -> list[dict]:
    """One row per (target, d, regime with atoms): log-log slope of n_atoms vs n, its interval.

    A network's n with a mean atom count above ATOMS_WIDTH_FRACTION of its width are left out of
    the fit (their count is capped by the width) and listed in `capped_n` (space-separated).
    """
    rows = []
    counted = [r for r in errors["regime"].values if registry.kind_of(regimes[str(r)]).counts_atoms]
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
                beta, low, high = fits.fit_curve(curve, fit)
                row = {"target": str(target), "d": int(d), "regime": str(regime)}
                row |= {"slope": -beta, "slope_low": -high, "slope_high": -low}
                rows.append(row | {"capped_n": " ".join(map(str, capped))})
    return rows


# Columns of exponents.csv and atoms.csv read back as text (core.cli.read_csv).
TEXT_COLUMNS = ("target", "regime", "theory", "capped_n")
INTEGER_COLUMNS = ("d",)
