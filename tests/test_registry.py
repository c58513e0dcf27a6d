"""The sphere's registry of regime kinds: every kind is complete and agrees with the schema, and a new
kind needs its module, its record and its schema block, nothing else (no CLI, aggregate or rule)."""

import dataclasses
import math
import shutil

import pytest
import xarray as xr
import yaml

from sparsefeatures.core import store
from sparsefeatures.sphere import registry, runs, steps

from .conftest import REPO, snakemake, tiny_sphere_config

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
SELECTION = ("kind", "targets", "n_max")  # what a regime is and where it runs, not how
# Spec fields that are no regime key: where a network trains is the config's `training.device`.
NOT_REGIME_KEYS = {"network": {"device"}}


def schema() -> dict:
    return yaml.safe_load(SCHEMA.read_text())


def test_the_schema_lists_exactly_the_registered_kinds():
    regime = schema()["$defs"]["regime"]
    assert regime["properties"]["kind"]["enum"] == list(registry.KINDS)
    branches = {b["if"]["properties"]["kind"]["const"]: b["then"]["$ref"] for b in regime["allOf"]}
    assert branches == {name: f"#/$defs/{name}_regime" for name in registry.KINDS}


@pytest.mark.parametrize("name", list(registry.KINDS))
def test_a_kinds_schema_block_has_its_specs_keys_and_defaults(name):
    """The spec dataclass is the one place of the defaults; the schema repeats them for users."""
    properties = schema()["$defs"][f"{name}_regime"]["properties"]
    spec_class = type(registry.KINDS[name].load().spec_from_config(example_entry(name)))
    fields = {f.name: f for f in dataclasses.fields(spec_class)}
    keys = set(properties) - set(SELECTION)
    assert keys == set(fields) - NOT_REGIME_KEYS.get(name, set())
    required = set(schema()["$defs"][f"{name}_regime"].get("required", []))
    for key in keys:
        field = fields[key]
        if field.default is dataclasses.MISSING:
            assert key in required, key
        else:
            assert properties[key]["default"] == field.default, key


def example_entry(name: str) -> dict:
    """A valid config entry of each kind (the schema's required keys)."""
    return {"kernel": {"kind": "kernel", "kernel": "ntk"}}.get(name, {"kind": name})


@pytest.mark.parametrize("name", list(registry.KINDS))
def test_a_kinds_module_brings_what_the_steps_call(name):
    module = registry.KINDS[name].load()
    for attribute in ("spec_from_config", "VARIABLES", "run", "theory"):
        assert hasattr(module, attribute), f"sphere.kinds.{name} lacks {attribute}"
    for variable, (description, units) in module.VARIABLES.items():
        assert description and units, variable


def test_the_aggregate_has_every_kinds_variables_once():
    variables = steps.run_variables()
    assert set(runs.COMMON_VARIABLES) <= set(variables)
    for kind in registry.KINDS.values():
        assert set(kind.load().VARIABLES) <= set(variables)


def test_an_unknown_kind_is_an_error_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown regime kind 'mlp'; expected one of \['kernel'"):
        registry.kind_of({"kind": "mlp"})


# A trivial kind for the test below: the training mean as predictor.
MEAN_KIND = '''"""`kind: mean`: predicts the training targets' mean (a baseline)."""

import math
import time
from dataclasses import dataclass

import numpy as np

from ...core import specs
from ..runs import mse, scalars

VARIABLES = {"mean": ("the prediction: shrink times the training targets' mean", "target units")}


@dataclass(frozen=True)
class MeanSpec:
    shrink: float = 1.0  # predict shrink * mean


def spec_from_config(entry):
    return specs.from_config(MeanSpec, entry)


def run(entry, context):
    spec = spec_from_config(entry)
    start = time.perf_counter()
    mean = spec.shrink * float(np.mean(context.train["y"].values))
    test_y, train_y = context.test["y"].values, context.train["y"].values
    return scalars(
        VARIABLES,
        test_mse=mse(np.full_like(test_y, mean), test_y),
        train_mse=mse(np.full_like(train_y, mean), train_y),
        wall_time=time.perf_counter() - start,
        mean=mean,
    )


def theory(entry, d, nu_t, runs, fit):
    return math.nan, "none: a constant predictor"
'''
MEAN_RECORD = '        RegimeKind("mean", counts_atoms=False, runtime=5, group="kernel"),\n'
MEAN_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "kind": {"const": "mean"},
        "targets": {"$ref": "#/$defs/targets_selection"},
        "n_max": {"$ref": "#/$defs/n_max_selection"},
        "shrink": {"type": "number", "default": 1.0},
    },
}


@pytest.mark.slow
def test_a_new_kind_is_its_module_its_record_and_its_schema_block(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(REPO / "Snakefile", repo)
    for folder in ("workflow", "envs", "sparsefeatures"):
        shutil.copytree(REPO / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    # 1. The kind's module.
    (repo / "sparsefeatures/sphere/kinds/mean.py").write_text(MEAN_KIND)
    # 2. Its record in the registry.
    registry_file = repo / "sparsefeatures/sphere/registry.py"
    text = registry_file.read_text()
    anchor = '        RegimeKind("sparse"'
    assert anchor in text
    registry_file.write_text(text.replace(anchor, MEAN_RECORD + anchor))
    # 3. Its schema block.
    schema_file = repo / "workflow/schemas/config.schema.yaml"
    config_schema = yaml.safe_load(schema_file.read_text())
    regime = config_schema["$defs"]["regime"]
    regime["properties"]["kind"]["enum"].append("mean")
    regime["allOf"].append(
        {"if": {"properties": {"kind": {"const": "mean"}}}, "then": {"$ref": "#/$defs/mean_regime"}}
    )
    config_schema["$defs"]["mean_regime"] = MEAN_SCHEMA
    schema_file.write_text(yaml.safe_dump(config_schema, sort_keys=False))

    config = tiny_sphere_config(
        regimes={
            "ntk": {"kind": "kernel", "kernel": "ntk"},
            "half": {"kind": "mean", "shrink": 0.5},
        }
    )
    snakemake(tmp_path / "work", config, snakefile=repo / "Snakefile")
    results = tmp_path / "work/results/sphere"
    errors = store.read(results / "errors.zarr")
    half = errors.sel(target="constant", d=2, regime="half")
    # The constant target y = 1: predicting 0.5 costs exactly 0.25 everywhere.
    xr.testing.assert_allclose(half["mean"], xr.full_like(half["mean"], 0.5))
    xr.testing.assert_allclose(half["test_mse"], xr.full_like(half["test_mse"], 0.25))
    assert math.isnan(float(errors["mean"].sel(regime="ntk").mean()))
    rows = (results / "exponents.csv").read_text()
    assert "constant,2,half," in rows and "none: a constant predictor" in rows
