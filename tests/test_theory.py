"""The theory column (steps.regime_theory) and the atoms fit's width cap (steps.atoms_table)."""

import math

import numpy as np
import pytest
import xarray as xr

from sparsefeatures.sphere import steps
from sparsefeatures.sphere import theory as exponents

N = [16, 32, 64, 128, 256]
SEEDS = [0, 1, 2]
FIT = {"points": 4, "bootstrap": 50, "confidence": 0.95, "seed": 0}
CONSTANT = {"kind": "constant"}
LAZY = {"kind": "network", "scaling": "alpha", "alpha": 1e4, "width": 1000}
FEATURE = {"kind": "network", "scaling": "mean_field", "width": 1000}


def runs(**curves: np.ndarray) -> xr.Dataset:
    """A regime's aggregated runs (n, seed): each curve given per n, equal over seeds."""
    return xr.Dataset(
        {
            name: (("n", "seed"), np.repeat(np.asarray(v, float)[:, None], len(SEEDS), 1))
            for name, v in curves.items()
        },
        coords={"n": N, "seed": SEEDS},
    )


def test_kernels_get_their_exponent_with_the_targets_smoothness():
    quartic = {"kind": "teacher", "activation": "abs", "power": 4, "width": 10}
    cubic = {"kind": "teacher", "activation": "abs", "power": 3, "width": 10}
    ntk = {"kind": "kernel", "kernel": "ntk"}
    rfk = {"kind": "kernel", "kernel": "rfk"}
    # d = 3: a quartic teacher is as smooth as the constant (NTK 3, RFK 5), a cubic one is not.
    assert steps.regime_theory(ntk, quartic, 3, runs(), FIT) == (3.0, "ntk")
    assert steps.regime_theory(rfk, quartic, 3, runs(), FIT) == (5.0, "rfk")
    assert steps.regime_theory(rfk, cubic, 3, runs(), FIT) == (3.5, "rfk")


def test_feature_regimes_get_the_feature_estimate():
    assert steps.regime_theory(FEATURE, CONSTANT, 3, runs(), FIT) == (2.5, "feature")
    assert steps.regime_theory({"kind": "sparse"}, CONSTANT, 5, runs(), FIT) == (1.75, "feature")
    penalised = steps.regime_theory({"kind": "sparse", "penalty": 1e-3}, CONSTANT, 5, runs(), FIT)
    assert math.isnan(penalised[0]) and penalised[1].startswith("none: a fixed penalty > 0")


def test_unlearnable_targets_plateau_for_every_regime():
    relu2 = {"kind": "teacher", "activation": "relu", "power": 2, "width": 10}
    for regime in (FEATURE, LAZY, {"kind": "kernel", "kernel": "ntk"}):
        assert steps.regime_theory(regime, relu2, 3, runs(), FIT) == (0.0, "plateau")


def test_lazy_network_gets_the_ntk_theory_only_where_its_width_follows_it():
    ntk_curve = np.array(N, float) ** -3.0
    follows = runs(
        test_mse=ntk_curve, test_mse_linearised=1.2 * ntk_curve, test_mse_infinite_width=ntk_curve
    )
    assert steps.regime_theory(LAZY, CONSTANT, 3, follows, FIT) == (3.0, "ntk")
    floor = np.maximum(ntk_curve, 1e-6)  # the finite-width floor from n = 100 on
    floored = runs(test_mse=floor, test_mse_linearised=floor, test_mse_infinite_width=ntk_curve)
    beta, basis = steps.regime_theory(LAZY, CONSTANT, 3, floored, FIT)
    assert math.isnan(beta)
    assert basis.startswith("none: width 1000 too small") and "n = 256" in basis
    between = LAZY | {"alpha": 0.1}
    assert math.isnan(steps.regime_theory(between, CONSTANT, 3, follows, FIT)[0])


def test_atoms_fit_leaves_out_counts_capped_by_the_width():
    n = np.array(N, float)
    atoms = 1.5 * n  # ~ n^1 until the width caps it
    atoms[-1] = 400.0  # > 1000 / 4: left out
    regimes = {"feature": FEATURE, "sparse": {"kind": "sparse"}}
    grid = {"target": ["constant"], "d": [3], "regime": list(regimes)}
    data = runs(n_atoms=atoms, failed=np.zeros(len(N)))
    uncapped = runs(n_atoms=2.0 * n, failed=np.zeros(len(N)))
    errors = xr.concat([data, uncapped], dim="regime")
    errors = errors.assign_coords(regime=grid["regime"]).expand_dims(target=grid["target"], d=[3])
    rows = {r["regime"]: r for r in steps.atoms_table(errors, regimes, FIT)}
    assert rows["feature"]["capped_n"] == "256"
    assert rows["feature"]["slope"] == pytest.approx(1.0)  # fitted on n = 16..128 only
    assert rows["sparse"]["capped_n"] == ""  # no width: never capped
    assert rows["sparse"]["slope"] == pytest.approx(1.0)


def test_exponents_table_names_its_theory():
    n = np.array(N, float)
    data = runs(test_mse=n**-2.5, failed=np.zeros(len(N)))
    errors = data.expand_dims(target=["constant"], d=[3], regime=["feature"])
    (row,) = steps.exponents_table(errors, {"constant": CONSTANT}, {"feature": FEATURE}, FIT)
    assert row["beta"] == pytest.approx(2.5)
    assert (row["beta_theory"], row["theory"]) == (exponents.feature_beta(3, math.inf), "feature")
