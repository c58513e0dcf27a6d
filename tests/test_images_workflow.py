"""The image pipeline: its config schema, its steps, and one run end to end through Snakemake.

The end-to-end test runs the Fashion-MNIST preset (config/images-fashion-mnist.yaml: its data
set, regimes and stability settings) at n = 32 and 64 with one seed, on the real files of Debian's
`dataset-fashion-mnist`, with a minimal sphere section (the main Snakefile runs both settings). It
skips when the package is missing, except in CI (CI=true), where it must run.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from sparsefeatures.core import aggregate, store
from sparsefeatures.images import runs, steps
from sparsefeatures.images.training import ImageNetworkSpec

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "workflow" / "schemas" / "images.schema.yaml"
PRESET = REPO / "config" / "images-fashion-mnist.yaml"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
RUN_TIMEOUT_S = 600

# Spec fields that are not per-regime settings: the device and the checkpoint interval come from the
# config's `training:` section, through the environment (neither changes results).
NOT_IN_SCHEMA = {"device", "checkpoint_every_s"}

MINIMAL_SPHERE = {
    "dims": [2],
    "n_train": [8],
    "n_test": 16,
    "seeds": [0],
    "targets": {"constant": {"kind": "constant"}},
    "regimes": {"ntk": {"kind": "kernel", "kernel": "ntk"}},
}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny problems: on a loaded machine extra intra-op threads only add synchronisation."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def validated(section: dict) -> dict:
    """The images section with its defaults filled, as Snakemake's validate does."""
    validate(section, str(SCHEMA))
    return section


# ----------------------------------------------------------------------------------------------
# Schema


def test_schema_network_fields_and_defaults_are_the_specs():
    schema = yaml.safe_load(SCHEMA.read_text())
    props = schema["$defs"]["network_regime"]["properties"]
    fields = {f.name: f.default for f in dataclasses.fields(ImageNetworkSpec)}
    assert set(props) - {"kind"} == set(fields) - NOT_IN_SCHEMA
    for name, prop in props.items():
        if name != "kind":
            assert prop["default"] == fields[name], name
            assert prop["description"], name


def test_empty_section_means_no_image_experiment():
    section = validated({})
    assert section["datasets"] == {}
    assert set(section) >= {"n_train", "n_test", "seeds", "regimes", "stability", "fit"}


def test_defaults_follow_each_regime_kind():
    section = validated(
        {
            "datasets": {"d": {"source": "digits"}},
            "regimes": {
                "net": {"kind": "network", "alpha": 2.0},
                "k": {"kind": "svc", "kernel": "rfk"},
            },
        }
    )
    net, k = section["regimes"]["net"], section["regimes"]["k"]
    assert net["alpha"] == 2.0 and net["width"] == 1000 and "C" not in net
    assert k["C"] == 1e20 and "width" not in k
    assert section["datasets"]["d"] == {
        "source": "digits",
        "data_dir": None,
        "allow_download": False,
    }
    assert section["stability"]["cutoff"] == 3 and section["stability"]["delta"] == 1.0
    # Every regime spec builds a valid ImageNetworkSpec.
    runs.network_spec(net)


def test_defaults_fill_through_the_main_schemas_reference(tmp_path):
    """The main schema refers to $defs/images: defaults must be filled through that reference (a
    reference to the file's root would switch to jsonschema's plain validator, which fills none)."""
    main = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "images": {"$ref": f"{SCHEMA.as_uri()}#/$defs/images", "default": {}},
        },
    }
    path = tmp_path / "main.schema.yaml"
    path.write_text(yaml.safe_dump(main))
    config = {
        "images": {"stability": {"cutoff": 4}, "regimes": {"k": {"kind": "svc", "kernel": "ntk"}}}
    }
    validate(config, str(path))
    assert config["images"]["stability"]["convention"] == "exact"
    assert config["images"]["regimes"]["k"]["C"] == 1e20
    assert config["images"]["datasets"] == {}
    empty = {}
    validate(empty, str(path))
    assert empty["images"]["datasets"] == {} and empty["images"]["fit"]["points"] == 4


@pytest.mark.parametrize(
    "section",
    [
        {"datasets": {"d": {"source": "digits", "dir": "x"}}},  # misspelt key
        {"datasets": {"d": {"source": "svhn"}}},
        {"regimes": {"k": {"kind": "svc", "kernel": "ntk", "width": 10}}},  # a network key
        {"regimes": {"k": {"kind": "svc"}}},  # no kernel
        {"regimes": {"n": {"kind": "network", "widht": 10}}},
        {"regimes": {"bad/name": {"kind": "network"}}},
        {"stability": {"cutoff": 1}},  # keeps no mode
    ],
)
def test_schema_rejects(section):
    with pytest.raises(WorkflowError):
        validate(section, str(SCHEMA))


# ----------------------------------------------------------------------------------------------
# Steps


def fake_run(dataset: str, regime: str, n: int, seed: int, error: float) -> xr.Dataset:
    ds = xr.Dataset(aggregate.scalars(steps.RUN_VARIABLES, test_error=error, R_f=2.0))
    ds.attrs["params"] = store.canonical_json(
        {"dataset": dataset, "regime": regime, "n": n, "seed": seed}
    )
    return ds


def test_aggregate_places_runs_by_their_params():
    grid = {"dataset": ["a"], "regime": ["f", "k"], "n": [8, 16], "seed": [0, 1]}
    stores = [fake_run("a", "k", 16, 1, 0.25), fake_run("a", "f", 8, 0, 0.5)]
    out = steps.aggregate(stores, grid, {"f": "network", "k": "svc"})
    assert out["test_error"].dims == steps.DIMS
    assert float(out["test_error"].sel(dataset="a", regime="k", n=16, seed=1)) == 0.25
    assert float(out["test_error"].sel(dataset="a", regime="f", n=8, seed=0)) == 0.5
    assert int(np.isnan(out["test_error"]).sum()) == 6  # missing runs are NaN
    assert np.isnan(out["n_directions"]).all()  # no store defines it
    assert list(out["regime_kind"].values) == ["network", "svc"]
    for name in steps.RUN_VARIABLES:
        assert out[name].attrs["description"] and out[name].attrs["units"]


def test_exponents_recover_a_power_law():
    n = [64, 128, 256, 512]
    errors = xr.Dataset(
        {"test_error": (("dataset", "regime", "n", "seed"), np.zeros((1, 1, 4, 3)))},
        coords={"dataset": ["a"], "regime": ["r"], "n": n, "seed": [0, 1, 2]},
    )
    rng = np.random.default_rng(0)
    noise = np.exp(0.01 * rng.standard_normal((4, 3)))  # (n, seed)
    errors["test_error"][0, 0] = 3.0 * np.asarray(n, dtype=float)[:, None] ** -0.5 * noise
    fit = {"points": 4, "bootstrap": 200, "confidence": 0.95, "seed": 0}
    (row,) = steps.exponents_table(errors, fit)
    assert math.isclose(row["beta"], 0.5, abs_tol=0.02)
    assert row["beta_low"] <= row["beta"] <= row["beta_high"]


DIGITS_PARAMS = {
    "dataset": "digits",
    "dataset_spec": {"source": "digits", "data_dir": None},
    "regime": "feature",
    "n": 32,
    "n_test": 100,
    "seed": 0,
    "stability": {"cutoff": 3, "delta": 1.0, "convention": "exact", "repeats": 1, "n_points": 50},
}


def network_params(**spec) -> dict:
    regime = validated({"regimes": {"r": {"kind": "network", **spec}}})["regimes"]["r"]
    return DIGITS_PARAMS | {"regime_spec": regime}


def test_train_run_resumes_a_capped_run_from_its_checkpoint(tmp_path):
    base = dict(width=16, alpha=1e-3, max_dgrad=1e-3)
    capped = runs.train_run(network_params(**base, max_steps=50), checkpoint_dir=tmp_path)
    assert capped.attrs["stop_reason"] == "max_steps" and float(capped.converged) == 0.0
    # A larger cap has the same checkpoint name: training resumes where the capped run stopped.
    resumed = runs.train_run(network_params(**base), checkpoint_dir=tmp_path)
    assert resumed.attrs["resumed_from_step"] == 50 and float(resumed.converged) == 1.0
    assert not list(tmp_path.glob("*.pt"))  # fitted: nothing left to resume
    fresh = runs.train_run(network_params(**base))
    assert float(resumed.test_error) == float(fresh.test_error)
    np.testing.assert_array_equal(resumed["neuron_mass"].values, fresh["neuron_mass"].values)
    # Another hyperparameter: another checkpoint, the stale one removed.
    runs.train_run(network_params(**base | {"alpha": 1e-2}, max_steps=5), checkpoint_dir=tmp_path)
    assert len(list(tmp_path.glob("*.pt"))) == 1


def test_svc_run_scores_and_stability():
    params = DIGITS_PARAMS | {
        "regime": "k",
        "regime_spec": {"kind": "svc", "kernel": "ntk", "C": 1e20},
    }
    ds = runs.svc_run(params)
    assert 0.0 <= float(ds.test_error) <= 0.5
    assert float(ds.train_error) == 0.0  # hard margin on separable data
    assert float(ds.R_f) > 0 and math.isclose(float(ds.R_f), float(ds.D_f) / float(ds.G_f))
    assert ds.attrs["stability_images"] == 50


# ----------------------------------------------------------------------------------------------
# End to end through Snakemake


@pytest.mark.slow
def test_fashion_mnist_preset_end_to_end(tmp_path):
    if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        reason = (
            f"Fashion-MNIST not installed in {FASHION_MNIST_DIR}: "
            "`apt-get install dataset-fashion-mnist`"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI must run this test)")
        pytest.skip(reason)
    images = yaml.safe_load(PRESET.read_text())["images"] | {"n_train": [32, 64], "seeds": [0]}
    config = tmp_path / "test_config.yaml"
    config.write_text(yaml.safe_dump({"sphere": MINIMAL_SPHERE, "images": images}))
    snakemake = Path(sys.executable).parent / "snakemake"
    cmd = [str(snakemake), "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path)]
    cmd += ["--configfile", str(config), "--cores", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-5000:]

    errors = store.read(tmp_path / "results" / "images" / "errors.zarr")
    assert list(errors["dataset"].values) == ["fashion-mnist"]
    assert list(errors["regime"].values) == list(images["regimes"])
    assert list(errors["n"].values) == images["n_train"]
    assert list(errors["seed"].values) == images["seeds"]
    assert errors["test_error"].dims == ("dataset", "regime", "n", "seed")
    test_error = errors["test_error"].values
    assert np.all((test_error >= 0) & (test_error <= 1))
    r_f = errors["R_f"].values
    assert np.all(np.isfinite(r_f) & (r_f > 0))
    # The feature regime's first layer is sparser than the lazy one's (about 40 vs 97 of 100).
    directions = errors["n_directions"].mean(["dataset", "n", "seed"])
    assert float(directions.sel(regime="feature")) < float(directions.sel(regime="lazy"))

    with open(tmp_path / "results" / "images" / "exponents.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {row["regime"] for row in rows} == set(images["regimes"])
    for figure in ("test_error", "stability", "sparsity"):
        for ext in ("png", "pdf"):
            path = tmp_path / "results" / "images" / "plots" / f"fashion-mnist_{figure}.{ext}"
            assert path.stat().st_size > 0, path

    # The report: every figure and table of the run, in its setting's category, with its caption
    # naming the configuration.
    report_path = tmp_path / "report.html"
    proc = subprocess.run([*cmd, "--report", str(report_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-5000:]
    report = report_path.read_text()
    made = [*(tmp_path / "results").rglob("*.png"), *(tmp_path / "results/report").glob("*.html")]
    assert len(made) == 3 + 1 + 4  # image figures, the sphere's learning curve, 2 x 2 tables
    for path in made:
        assert path.name in report, f"{path.name} is not in the report"
    for category in ("Sphere", "Images", "Summary"):
        assert f'"{category}"' in report
    assert "Relative stability R_f = D_f / G_f" in report
    assert "configuration test_config, n = 32, 64, 1 seeds" in report
    tables = (tmp_path / "results/report/images_exponents.html").read_text()
    assert "Images: test error ~ n^-beta" in tables and "fashion-mnist" in tables
    statistics = (tmp_path / "results/report/images_run_statistics.html").read_text()
    assert "<td class='text'>fashion-mnist / feature</td><td>2</td>" in statistics
