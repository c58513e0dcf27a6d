"""`kind: sparse`: the feature regime's limit, the measure of neurons minimising the mean-field
objective, solved as a convex problem with a certified duality gap (sphere.sparse)."""

from __future__ import annotations

import math
import time

import numpy as np
import xarray as xr

from .. import sparse
from .. import theory as sphere_theory
from ..runs import (
    ATOM_VARIABLES,
    CONVERGENCE_VARIABLES,
    RunContext,
    RunFailed,
    mse,
    scalars,
)

# Of the objective and of its dual bound.
OBJECTIVE_UNITS = "target units squared (lambda > 0), target units (lambda = 0)"
VARIABLES = (
    ATOM_VARIABLES
    | CONVERGENCE_VARIABLES
    | {
        "objective": (
            "objective at the solution: (1/2n) sum (f - y)^2 + lambda |mu|_TV, or |mu|_TV when "
            "lambda = 0 (the minimum-total-variation interpolant)",
            OBJECTIVE_UNITS,
        ),
        "dual_bound": (
            "lower bound on the least objective: the dual objective D at the certificate's dual "
            "point (dual_point) scaled to feasibility (module sphere.sparse)",
            OBJECTIVE_UNITS,
        ),
        "duality_gap": (
            "relative duality gap (objective - dual_bound) / objective of the solution",
            "1",
        ),
        "dual_violation": (
            "largest relative violation of the dual constraint found by a final dense search over "
            "directions (0: certified optimal up to duality_gap)",
            "1",
        ),
        "train_residual": ("largest |f(x_i) - y_i| on the training set", "target units"),
    }
)


def spec_from_config(entry: dict) -> sparse.SparseSpec:
    return sparse.spec_from_config(entry)


def run(entry: dict, context: RunContext) -> xr.Dataset:
    """Solve the regime's convex problem (sphere.sparse.solve), score and measure the solution.

    Raises RunFailed when the solver stops above its gap tolerance: only certified solutions are
    results. The atoms (theta_j, c_j) are measured as a network's neurons would be: n_atoms groups
    them by their sign pattern on the training points, the participation ratio is that of their
    masses.
    """
    from ...core import measures as core_measures
    from .. import measures

    spec = spec_from_config(entry)
    train, test, seed, measures_spec = context.train, context.test, context.seed, context.measures
    x, y = train["x"].values, train["y"].values
    start = time.perf_counter()
    try:
        result = sparse.solve(x, y, spec, seed, log=context.log)
    except np.linalg.LinAlgError as err:
        raise RunFailed(f"the sparse solver's linear algebra failed: {err}") from err
    wall = time.perf_counter() - start
    if not result.converged:
        # Not the limit: its numbers would stand in the learning curve for what they are not.
        raise RunFailed(
            "sparse solver not certified: "
            f"relative duality gap {result.duality_gap:.3g} above gap_tol {spec.gap_tol:g} after "
            f"{result.iterations} iterations ({wall:.1f} s)"
        )
    ds = scalars(
        VARIABLES,
        test_mse=mse(result.predict(test["x"].values), test["y"].values),
        train_mse=mse(result.predict(x), y),
        wall_time=wall,
        n_atoms=measures.n_atoms(result.theta, result.c, x, measures_spec["atom_threshold"]),
        participation_ratio=core_measures.participation_ratio(
            core_measures.neuron_masses(result.theta, result.c)
        ),
        rotation_stability=measures.rotation_stability(
            result.predict,
            test["x"].values,
            measures_spec["rotation_angle"],
            measures.rotation_rng(seed),
        ),
        objective=result.objective,
        dual_bound=result.dual_bound,
        duality_gap=result.duality_gap,
        dual_violation=result.dual_violation,
        train_residual=result.train_residual,
        converged=float(result.converged),
        steps=float(result.iterations),
    )
    ds["theta"] = (("atom", "dim"), result.theta, {"description": "atom directions (unit)"})
    ds["c"] = (("atom",), result.c, {"description": "atom weights: mu = sum_j c_j delta_theta_j"})
    ds["dual_point"] = (
        ("sample",),
        result.dual_point,
        {
            "description": "the certificate's dual point p, one entry per training point: with "
            "sup = max_theta |sum_i p_i relu(theta . x_i)|, dual_bound is f.p / sup for f the "
            "atoms' values at the training points (lambda = 0), the largest s y.p - (n/2) s^2 "
            "|p|^2 over 0 <= s <= lambda / sup (lambda > 0; module sphere.sparse)"
        },
    )
    ds.attrs["stop_reason"] = "gap_tol" if result.converged else "max_iter"
    return ds


def theory(entry: dict, d: int, nu_t: float, runs: xr.Dataset, fit: dict) -> tuple[float, str]:
    """The interpolating limit (penalty 0): the feature regime's exponent. A fixed penalty > 0
    biases the fit by an amount that does not shrink with n: the error tends to that bias, not
    along a power law."""
    if entry.get("penalty", 0.0) > 0:
        return math.nan, "none: a fixed penalty > 0 (the error tends to its bias)"
    return sphere_theory.feature_beta(d, nu_t), "feature"
