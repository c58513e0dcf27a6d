"""After a full run, each config or code edit makes Snakemake plan exactly the jobs it must.

One tiny pipeline of both settings (sphere and images, on scikit-learn's digits) is run once, on a
copy of the workflow and package so that code edits can be simulated; each test edits the config
or the copied code and asserts the exact set of outputs the dry run plans. Every module of the
package is edited in turn: an edit must rerun exactly the steps whose import closure holds the
module (sparsefeatures/codeversion.py), and what follows them.
"""

import copy
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from sparsefeatures.core import codeversion

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
        "limit": {"kind": "sparse"},
    },
)
# The image setting at its smallest: one network and one SVC regime, two n, one seed.
BASE["images"] = {
    "datasets": {"digits": {"source": "digits"}},
    "n_train": [16, 32],
    "n_test": 40,
    "seeds": [0],
    "regimes": {
        "feature": {
            "kind": "network",
            "width": 16,
            "alpha": 1e-3,
            "max_dgrad": 1e-3,
            "max_steps": 50,
        },
        "svc": {"kind": "svc", "kernel": "ntk"},
    },
    "stability": {"n_points": 20},
    "fit": {"points": 2, "bootstrap": 10},
}
ALL_REGIMES = ("ntk", "rfk", "feature", "limit")


def plots(target="constant", d=2):
    return {
        f"results/sphere/plots/{target}_d{d}{suffix}.{ext}"
        for suffix in ("", "_atoms")
        for ext in ("png", "pdf")
    }


EXPONENTS_TABLE = {"results/report/sphere_exponents.html"}
SPHERE_TABLES = EXPONENTS_TABLE | {"results/report/sphere_run_statistics.html"}
IMAGE_TABLES = {f"results/report/images_{t}.html" for t in ("exponents", "run_statistics")}
REPORT_TABLES = SPHERE_TABLES | IMAGE_TABLES
PLOTS_AND_FITS = (
    plots() | {"results/sphere/exponents.csv", "results/sphere/atoms.csv"} | EXPONENTS_TABLE
)
DOWNSTREAM = PLOTS_AND_FITS | SPHERE_TABLES | {"results/sphere/errors.zarr"}


def runs(regimes=ALL_REGIMES, ns=(8, 16), seeds=(0, 1), target="constant", d=2):
    return {
        f"results/sphere/runs/{target}/d{d}/{r}/n{n}/seed{s}.zarr"
        for r in regimes
        for n in ns
        for s in seeds
    }


DATA = {
    f"results/sphere/data/constant/d2/seed{s}/{f}.zarr"
    for s in (0, 1)
    for f in ("test", "train_n8", "train_n16")
}
IMAGE_DATA = {"results/images/data/digits/seed0.zarr"}
IMAGE_RUNS = {
    f"results/images/runs/digits/{r}/n{n}/seed0.zarr" for r in ("feature", "svc") for n in (16, 32)
}
IMAGE_PLOTS = {
    f"results/images/plots/digits_{figure}.{ext}"
    for figure in ("test_error", "stability", "sparsity")
    for ext in ("png", "pdf")
}
IMAGES_DOWNSTREAM = (
    IMAGE_PLOTS | IMAGE_TABLES | {"results/images/errors.zarr", "results/images/exponents.csv"}
)
SPHERE = DATA | runs() | DOWNSTREAM
IMAGE_STEPS = IMAGE_RUNS | IMAGES_DOWNSTREAM  # every image job but the data's
IMAGES = IMAGE_DATA | IMAGE_STEPS


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


def test_changing_the_sparse_penalty_reruns_only_that_regime(workspace):
    regimes = copy.deepcopy(BASE["sphere"]["regimes"])
    regimes["limit"]["penalty"] = 1e-4
    assert planned(workspace, edited(regimes=regimes)) == runs(regimes=["limit"]) | DOWNSTREAM


def test_changing_a_network_measure_reruns_only_the_runs_it_measures(workspace):
    config = edited(measures={"rotation_angle": 0.2})
    assert planned(workspace, config) == runs(regimes=["feature", "limit"]) | DOWNSTREAM


def images_edited(**changes) -> dict:
    config = copy.deepcopy(BASE)
    config["images"].update(changes)
    return config


def test_adding_an_image_n_reruns_no_data(workspace):
    """A seed's data store holds the whole balanced order: a new n needs its runs only (the SVC
    job of the seed fits every n, so it reruns)."""
    expected = (
        {"results/images/runs/digits/feature/n64/seed0.zarr"}
        | {f"results/images/runs/digits/svc/n{n}/seed0.zarr" for n in (16, 32, 64)}
        | IMAGES_DOWNSTREAM
    )
    assert planned(workspace, images_edited(n_train=[16, 32, 64])) == expected


def test_allowing_image_downloads_reruns_nothing(workspace):
    datasets = {"digits": {"source": "digits", "allow_download": True}}
    assert planned(workspace, images_edited(datasets=datasets)) == set()


def test_changing_the_training_device_or_checkpointing_reruns_nothing(workspace):
    config = copy.deepcopy(BASE) | {"training": {"device": "cpu", "checkpoint_minutes": 1}}
    assert planned(workspace, config) == set()


def test_renaming_the_configuration_reruns_only_the_report_tables(workspace):
    assert planned(workspace, copy.deepcopy(BASE) | {"name": "renamed"}) == REPORT_TABLES


def test_changing_a_fit_option_reruns_only_exponents_and_plots(workspace):
    assert planned(workspace, edited(fit={"points": 2, "bootstrap": 50})) == PLOTS_AND_FITS


# ------------------------------------------------------------------------------------------------
# Code edits. What each rule computes with, read from the step it calls (sparsefeatures/sphere/cli.py,
# sparsefeatures/images/cli.py, sparsefeatures/core/report.py): the module(s) holding its numerics.
KIND_MODULES = ("sphere.kinds.kernel", "sphere.kinds.network", "sphere.kinds.sparse")
RULE_ENTRIES = {
    "sphere_train_data": ("sphere.data",),  # data.dataset
    "sphere_test_data": ("sphere.data",),
    "sphere_kernel_run": ("sphere.kinds.kernel",),  # the kind's run
    "sphere_network_run": ("sphere.kinds.network",),
    "sphere_sparse_run": ("sphere.kinds.sparse",),
    # The steps over all runs reach every kind's module through the registry (by name).
    "sphere_aggregate": ("sphere.steps", *KIND_MODULES),
    "sphere_exponents": ("sphere.steps", *KIND_MODULES),
    "sphere_atoms": ("sphere.steps", *KIND_MODULES),
    "sphere_plot": ("sphere.plots",),
    "sphere_atoms_plot": ("sphere.plots",),
    "report_exponents": ("core.report",),
    "report_statistics": ("core.report",),
    "images_data": ("images.task",),  # images.task.seed_data
    "images_train": ("images.runs",),  # images.runs.train_run
    "images_svc": ("images.runs",),  # images.runs.svc_run
    "images_aggregate": ("images.steps",),
    "images_exponents": ("images.steps",),
    "images_plot_test_error": ("images.plots",),
    "images_plot_stability": ("images.plots",),
    "images_plot_sparsity": ("images.plots",),
}
PACKAGE = REPO / "sparsefeatures"
MODULES = sorted(path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py"))


@dataclass(frozen=True)
class Job:
    rule: str
    inputs: frozenset[str]
    outputs: frozenset[str]
    code: str


@pytest.fixture(scope="module")
def jobs(workspace) -> list[Job]:
    """Every job of BASE, from a forced dry run: its rule, inputs, outputs and params' code."""
    result = snakemake(
        workspace / "work",
        BASE,
        "--dry-run",
        "--forceall",
        "--printshellcmds",
        "--snakefile",
        str(workspace / "repo/Snakefile"),
    )
    found, job = [], None
    for line in result.stdout.splitlines():
        if match := re.match(r"\s*(?:local)?rule (\w+):$", line):
            job = {"rule": match.group(1), "inputs": set(), "outputs": set()}
        elif job and (match := re.match(r"\s+(input|output): (.*)", line)):
            job[match.group(1) + "s"].update(match.group(2).split(", "))
        elif job and (match := re.search(r"--params '([^']*)'", line)):
            code = json.loads(match.group(1))["code"]
            found.append(
                Job(job["rule"], frozenset(job["inputs"]), frozenset(job["outputs"]), code)
            )
            job = None
    # Every rule of BASE is in RULE_ENTRIES, and BASE runs each of them.
    assert {j.rule for j in found} == set(RULE_ENTRIES)
    return found


def reruns(jobs: list[Job], module: str) -> set[str]:
    """What an edit of `module` must rerun: the jobs whose rule's entry modules import it (directly
    or not; nothing for the exempt modules), and every job that follows them."""
    outputs = set()
    if module not in codeversion.EXEMPT:
        for job in jobs:
            if module in codeversion.closure(PACKAGE, RULE_ENTRIES[job.rule]):
                outputs |= job.outputs
    grown = True
    while grown:
        grown = False
        for job in jobs:
            if job.inputs & outputs and not job.outputs <= outputs:
                outputs |= job.outputs
                grown = True
    return outputs


@pytest.fixture(scope="module")
def planned_after_editing(workspace):
    """The dry run's plan after a comment is appended to a module of the copy (one run a module)."""
    plans: dict[str, set[str]] = {}

    def plan(module: str) -> set[str]:
        if module not in plans:
            path = workspace / "repo/sparsefeatures" / module
            original = path.read_bytes()
            path.write_bytes(original + b"\n# an edit\n")
            try:
                plans[module] = planned(workspace, BASE)
            finally:
                path.write_bytes(original)
        return plans[module]

    return plan


def test_each_rule_hashes_the_import_closure_of_its_entry_modules(workspace, jobs):
    for job in jobs:
        expected = codeversion.code_version(
            workspace / "repo/sparsefeatures", *RULE_ENTRIES[job.rule]
        )
        assert job.code == expected, job.rule


@pytest.mark.parametrize("module", MODULES)
def test_editing_any_module_reruns_exactly_the_steps_importing_it(
    planned_after_editing, jobs, module
):
    assert planned_after_editing(module) == reruns(jobs, module)


# Written out by hand from the imports, independently of codeversion.
EVERYTHING = SPHERE | IMAGES
NOT_DATA = EVERYTHING - DATA - IMAGE_DATA
WRITTEN_OUT = {
    "__init__.py": EVERYTHING,  # runs on every import of the package
    # The core: every step but the datasets (sphere.data and images.task import none of it).
    "core/__init__.py": NOT_DATA,
    "core/aggregate.py": NOT_DATA,  # run scalars (both settings), aggregates, the report's failures
    "core/fits.py": runs(["feature"]) | DOWNSTREAM | IMAGE_STEPS,  # lazy theory; images.steps
    "core/kernels.py": runs(["ntk", "rfk", "feature"]) | DOWNSTREAM | IMAGE_STEPS,  # SVC's Grams
    "core/measures.py": runs(["feature", "limit"]) | DOWNSTREAM | IMAGE_STEPS,
    "core/plots.py": plots() | IMAGE_PLOTS,
    "core/report.py": REPORT_TABLES,
    "core/specs.py": runs() | DOWNSTREAM,  # every kind's spec
    "core/training.py": runs(["feature"]) | DOWNSTREAM | IMAGE_STEPS,  # devices, checkpoints
    "core/cli.py": set(),  # exempt: I/O
    "core/codeversion.py": set(),
    "core/store.py": set(),
    "core/progress.py": set(),  # exempt: the rate of progress lines
    # The sphere setting: nothing of the images'.
    "sphere/__init__.py": SPHERE,
    "sphere/data.py": SPHERE,  # the datasets
    "sphere/registry.py": DOWNSTREAM,  # read by the steps over all runs, imported by no kind
    "sphere/kinds/__init__.py": runs() | DOWNSTREAM,
    "sphere/kinds/kernel.py": runs(["ntk", "rfk"]) | DOWNSTREAM,
    "sphere/kinds/network.py": runs(["feature"]) | DOWNSTREAM,
    "sphere/kinds/sparse.py": runs(["limit"]) | DOWNSTREAM,
    "sphere/network.py": runs(["feature"]) | DOWNSTREAM,
    "sphere/sparse.py": runs(["limit"]) | DOWNSTREAM,
    "sphere/measures.py": runs(["feature", "limit"]) | DOWNSTREAM,
    "sphere/runs.py": runs() | DOWNSTREAM,
    "sphere/theory.py": runs() | DOWNSTREAM,  # each kind's theory is in its module
    "sphere/steps.py": DOWNSTREAM,
    "sphere/plots.py": plots(),
    "sphere/cli.py": set(),
    # The image setting: nothing of the sphere's.
    "images/__init__.py": IMAGES,
    # A seed's data: the data set's record, its files, their reader, the task; the runs import
    # the task too (ImageDataset), and rerun after the data anyway.
    "images/registry.py": IMAGES,
    "images/files.py": IMAGES,
    "images/formats.py": IMAGES,
    "images/task.py": IMAGES,
    "images/runs.py": IMAGE_STEPS,
    "images/diffeo.py": IMAGE_STEPS,  # the stability measure, in every run
    "images/steps.py": IMAGE_STEPS,  # images.runs imports its RUN_VARIABLES
    "images/training.py": IMAGE_STEPS,
    "images/svc.py": IMAGE_STEPS,
    "images/plots.py": IMAGE_PLOTS,
    "images/cli.py": set(),
    # Tools: imported by no step.
    "tools/__init__.py": set(),
    "tools/cost.py": set(),
    "tools/summary.py": set(),
}


def test_every_module_is_written_out():
    assert sorted(WRITTEN_OUT) == MODULES


@pytest.mark.parametrize("module", sorted(WRITTEN_OUT))
def test_editing_a_module_reruns_what_it_can_change(planned_after_editing, module):
    assert planned_after_editing(module) == WRITTEN_OUT[module]


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
    # The feature network stays on the constant; the kernels and the sparse limit run on both.
    expected = runs(regimes=["ntk", "rfk", "limit"], target="rough") | DOWNSTREAM | data
    expected |= plots(target="rough")
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
