"""The workflow end to end on tiny configs, and the config's validation."""

import csv
import math

import numpy as np
import pytest

from sparsefeatures import kernels, sphere, store

from .conftest import tiny_sphere_config

pytestmark = pytest.mark.slow


def test_tiny_sphere_pipeline_end_to_end(tmp_path, run_snakemake):
    config = tiny_sphere_config(
        targets={"constant": {"kind": "constant"}, "rough": {"kind": "teacher", "width": 1000}},
        regimes={
            "ntk": {"kind": "kernel", "kernel": "ntk"},
            "rfk": {"kind": "kernel", "kernel": "rfk", "ridge": 1e-3},
        },
    )
    run_snakemake(tmp_path, config)
    errors = store.read(tmp_path / "results/sphere/errors.zarr")
    assert dict(errors["test_mse"].sizes) == {"target": 2, "d": 1, "regime": 2, "n": 2, "seed": 2}
    assert list(errors["target"].values) == ["constant", "rough"]
    assert list(errors["n"].values) == [8, 16]
    assert errors["test_mse"].attrs["units"]
    assert np.all(np.isfinite(errors["test_mse"].values))

    # One cell recomputed independently from the dataset's definition.
    x, y = sphere.make_split(
        config["sphere"]["targets"]["rough"] | {"activation": "abs", "power": 1},
        "rough",
        2,
        1,
        "train",
        16,
    )
    x_test, y_test = sphere.make_split(
        config["sphere"]["targets"]["rough"] | {"activation": "abs", "power": 1},
        "rough",
        2,
        1,
        "test",
        64,
    )
    model = kernels.fit("rfk", x, y, ridge=1e-3)
    expected = np.mean((model.predict(x_test) - y_test) ** 2)
    got = float(errors["test_mse"].sel(target="rough", d=2, regime="rfk", n=16, seed=1))
    assert got == pytest.approx(expected, rel=1e-10)

    run = store.read(tmp_path / "results/sphere/runs/rough/d2/rfk/n16/seed1.zarr")
    assert store.params_of(run)["regime_spec"] == {"kind": "kernel", "kernel": "rfk", "ridge": 1e-3}

    with open(tmp_path / "results/sphere/exponents.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["target"], r["regime"]) for r in rows] == [
        ("constant", "ntk"),
        ("constant", "rfk"),
        ("rough", "ntk"),
        ("rough", "rfk"),
    ]
    assert float(rows[0]["beta_theory"]) == pytest.approx(2 * 2 / 1)  # min(inf, 2 d) / (d - 1)
    assert math.isfinite(float(rows[0]["beta"]))
    for target in ("constant", "rough"):
        for ext in ("png", "pdf"):
            assert (tmp_path / f"results/sphere/plots/{target}_d2.{ext}").stat().st_size > 1000


@pytest.mark.parametrize(
    ("sphere_overrides", "message"),
    [
        ({"n_train": [-4]}, "-4 is less than the minimum of 1"),
        ({"dims": [1]}, "1 is less than the minimum of 2"),
        ({"seeds": []}, "should be non-empty"),
        ({"regimes": {"k": {"kind": "kernel", "kernel": "laplace"}}}, "'laplace' is not one of"),
        (
            {"regimes": {"k": {"kind": "kernel", "kernel": "ntk", "rigde": 0.1}}},
            "'rigde' was unexpected",
        ),
        ({"targets": {"t": {"kind": "teacher", "width": 0}}}, "0 is less than the minimum of 1"),
        ({"n_tset": 10}, "'n_tset' was unexpected"),
    ],
)
def test_invalid_config_fails_before_any_job(tmp_path, run_snakemake, sphere_overrides, message):
    result = run_snakemake(tmp_path, tiny_sphere_config(**sphere_overrides), "-n", check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()
