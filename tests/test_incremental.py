"""After a full run, each config or code edit makes Snakemake plan exactly the jobs it must.

One tiny pipeline is run once (on a copy of the workflow and package, so that code edits can be
simulated); each test edits the config or the copied code and asserts the exact set of outputs the
dry run plans.
"""

import copy
import re
import shutil
from pathlib import Path

import pytest

from .conftest import REPO, snakemake, tiny_sphere_config

pytestmark = pytest.mark.slow

BASE = tiny_sphere_config(
    targets={"constant": {"kind": "constant"}},
    regimes={
        "ntk": {"kind": "kernel", "kernel": "ntk"},
        "rfk": {"kind": "kernel", "kernel": "rfk"},
        "feature": {
            "kind": "network",
            "width": 20,
            "penalty": 1e-3,
            "max_steps": 200,
            "check_every": 100,
            "window": 100,
        },
    },
)
ALL_REGIMES = ("ntk", "rfk", "feature")


def plots(target="constant", d=2):
    return {
        f"results/sphere/plots/{target}_d{d}{suffix}.{ext}"
        for suffix in ("", "_atoms")
        for ext in ("png", "pdf")
    }


EXPONENTS_TABLE = {"results/report/sphere_exponents.html"}
REPORT_TABLES = EXPONENTS_TABLE | {"results/report/sphere_run_statistics.html"}
PLOTS_AND_FITS = (
    plots() | {"results/sphere/exponents.csv", "results/sphere/atoms.csv"} | EXPONENTS_TABLE
)
DOWNSTREAM = PLOTS_AND_FITS | REPORT_TABLES | {"results/sphere/errors.zarr"}


def runs(regimes=ALL_REGIMES, ns=(8, 16), seeds=(0, 1), target="constant", d=2):
    return {
        f"results/sphere/runs/{target}/d{d}/{r}/n{n}/seed{s}.zarr"
        for r in regimes
        for n in ns
        for s in seeds
    }


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A copy of the workflow and package, and a finished run of BASE in its `work` folder."""
    root = tmp_path_factory.mktemp("incremental")
    repo = root / "repo"
    repo.mkdir()
    shutil.copy(REPO / "Snakefile", repo)
    shutil.copytree(REPO / "workflow", repo / "workflow")
    shutil.copytree(REPO / "envs", repo / "envs")
    shutil.copytree(
        REPO / "sparsefeatures",
        repo / "sparsefeatures",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    snakemake(root / "work", BASE, snakefile=repo / "Snakefile")
    return root


def planned(workspace: Path, config: dict) -> set[str]:
    """Outputs of the jobs a dry run plans on `config`."""
    result = snakemake(
        workspace / "work", config, "--dry-run", "--snakefile", str(workspace / "repo/Snakefile")
    )
    outputs = set()
    for line in result.stdout.splitlines():
        match = re.match(r"\s+output: (.*)", line)
        if match:
            outputs.update(match.group(1).split(", "))
    return outputs


def edited(**changes) -> dict:
    config = copy.deepcopy(BASE)
    config["sphere"].update(changes)
    return config


def test_nothing_to_do_after_a_full_run(workspace):
    assert planned(workspace, BASE) == set()


def test_adding_a_seed_runs_only_the_new_runs(workspace):
    expected = (
        runs(seeds=[2])
        | DOWNSTREAM
        | {
            "results/sphere/data/constant/d2/seed2/test.zarr",
            "results/sphere/data/constant/d2/seed2/train_n8.zarr",
            "results/sphere/data/constant/d2/seed2/train_n16.zarr",
        }
    )
    assert planned(workspace, edited(seeds=[0, 1, 2])) == expected


def test_adding_an_n_runs_only_the_new_runs(workspace):
    expected = (
        runs(ns=[32])
        | DOWNSTREAM
        | {
            "results/sphere/data/constant/d2/seed0/train_n32.zarr",
            "results/sphere/data/constant/d2/seed1/train_n32.zarr",
        }
    )
    assert planned(workspace, edited(n_train=[8, 16, 32])) == expected


def test_adding_a_dimension_runs_only_the_new_runs(workspace):
    data = {
        f"results/sphere/data/constant/d3/seed{s}/{f}.zarr"
        for s in (0, 1)
        for f in ("test", "train_n8", "train_n16")
    }
    expected = runs(d=3) | DOWNSTREAM | data | plots(d=3)
    assert planned(workspace, edited(dims=[2, 3])) == expected


def test_adding_a_target_runs_only_the_new_runs(workspace):
    targets = BASE["sphere"]["targets"] | {"rough": {"kind": "teacher", "width": 100}}
    data = {
        f"results/sphere/data/rough/d2/seed{s}/{f}.zarr"
        for s in (0, 1)
        for f in ("test", "train_n8", "train_n16")
    }
    expected = runs(target="rough") | DOWNSTREAM | data | plots(target="rough")
    assert planned(workspace, edited(targets=targets)) == expected


def test_changing_a_ridge_reruns_only_that_kernel(workspace):
    regimes = copy.deepcopy(BASE["sphere"]["regimes"])
    regimes["rfk"]["ridge"] = 1e-3
    assert planned(workspace, edited(regimes=regimes)) == runs(regimes=["rfk"]) | DOWNSTREAM


def test_changing_a_network_hyperparameter_reruns_only_that_regime(workspace):
    regimes = copy.deepcopy(BASE["sphere"]["regimes"])
    regimes["feature"]["lr"] = 0.5
    assert planned(workspace, edited(regimes=regimes)) == runs(regimes=["feature"]) | DOWNSTREAM


def test_changing_a_network_measure_reruns_only_network_runs(workspace):
    config = edited(measures={"rotation_angle": 0.2})
    assert planned(workspace, config) == runs(regimes=["feature"]) | DOWNSTREAM


def test_changing_the_training_device_or_checkpointing_reruns_nothing(workspace):
    config = copy.deepcopy(BASE) | {"training": {"device": "cpu", "checkpoint_minutes": 1}}
    assert planned(workspace, config) == set()


def test_renaming_the_configuration_reruns_only_the_report_tables(workspace):
    assert planned(workspace, copy.deepcopy(BASE) | {"name": "renamed"}) == REPORT_TABLES


def test_changing_a_fit_option_reruns_only_exponents_and_plots(workspace):
    assert planned(workspace, edited(fit={"points": 2, "bootstrap": 50})) == PLOTS_AND_FITS


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("kernels.py", runs() | DOWNSTREAM),  # networks use it for their NTK references
        ("network.py", runs(regimes=["feature"]) | DOWNSTREAM),
        ("runs.py", runs() | DOWNSTREAM),
        ("plots.py", plots()),
        ("report.py", REPORT_TABLES),
    ],
)
def test_editing_numerical_code_reruns_what_uses_it(workspace, module, expected):
    path = workspace / "repo/sparsefeatures" / module
    original = path.read_text()
    path.write_text(original + "\n# an edit\n")
    try:
        assert planned(workspace, BASE) == expected
    finally:
        path.write_text(original)


def test_a_regime_restricted_to_some_targets_skips_the_others(workspace):
    regimes = copy.deepcopy(BASE["sphere"]["regimes"])
    regimes["feature"]["targets"] = ["constant"]  # a selection, not a parameter: no rerun
    assert planned(workspace, edited(regimes=regimes)) == set()
    targets = BASE["sphere"]["targets"] | {"rough": {"kind": "teacher", "width": 100}}
    data = {
        f"results/sphere/data/rough/d2/seed{s}/{f}.zarr"
        for s in (0, 1)
        for f in ("test", "train_n8", "train_n16")
    }
    rough_plots = {f"results/sphere/plots/rough_d2.{ext}" for ext in ("png", "pdf")}
    expected = runs(regimes=["ntk", "rfk"], target="rough") | DOWNSTREAM | data | rough_plots
    assert planned(workspace, edited(regimes=regimes, targets=targets)) == expected


def test_n_max_selects_runs_and_reruns_none(workspace):
    regimes = copy.deepcopy(BASE["sphere"]["regimes"])
    regimes["feature"]["n_max"] = 8  # drops the n = 16 runs from the sweep, recomputes no run
    assert planned(workspace, edited(regimes=regimes)) == DOWNSTREAM


def test_a_selection_naming_an_unknown_target_is_an_error(workspace):
    regimes = copy.deepcopy(BASE["sphere"]["regimes"])
    regimes["feature"]["targets"] = ["constnat"]
    result = snakemake(workspace / "work", edited(regimes=regimes), "--dry-run", check=False)
    assert result.returncode != 0
    assert (
        "sphere.regimes.feature.targets: 'constnat' is not a target"
        in result.stdout + result.stderr
    )
