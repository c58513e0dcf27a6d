"""Every config shipped with the pipeline is valid and its cost can be estimated.

For config.yaml, config/*.yaml and config/paper/*.yaml: the schema validates the whole file (and
fills its defaults, as the Snakefile does), and the forced dry run that sparsefeatures.tools.cost
reads its jobs from builds its DAG without reading any data (the image presets name data sets that
need not be installed); every rule it plans has a cost kind, and the estimate is finite. On a
small config written here, the jobs per rule and per cost kind are those counted by hand. Dry runs
only, two at a time: about 15 s for the module on a 2-core machine.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from sparsefeatures.tools import cost

from .test_cost import CONSTANTS

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
CONFIGS = sorted(
    [
        REPO / "config.yaml",
        *(REPO / "config").glob("*.yaml"),
        *(REPO / "config/paper").glob("*.yaml"),
    ]
)
NAMES = [str(path.relative_to(REPO)) for path in CONFIGS]
# Every config with the default target; those with image data sets also with images_all, the
# target their presets run.
PLANS = [(path, "all") for path in CONFIGS] + [
    (path, "images_all")
    for path in CONFIGS
    if yaml.safe_load(path.read_text()).get("images", {}).get("datasets")
]
PLAN_NAMES = [f"{path.relative_to(REPO)}:{target}" for path, target in PLANS]


def test_the_paper_presets_are_there():
    paper = {path.name for path in (REPO / "config/paper").glob("*.yaml")}
    for d in (2, 3, 5):
        assert f"sphere-constant-d{d}.yaml" in paper
    assert {"sphere-teacher-d5.yaml", "images-mnist.yaml", "images-cifar10.yaml"} <= paper
    assert "images-fashion-mnist.yaml" in paper


@pytest.mark.parametrize("path", CONFIGS, ids=NAMES)
def test_config_validates_against_the_schema_and_says_what_it_is(path):
    text = path.read_text()
    validate(yaml.safe_load(text), str(SCHEMA))  # raises on a misspelt key, a wrong type or value
    assert text.startswith("#"), "a config opens with a comment saying what it runs"


@pytest.fixture(scope="module")
def planned(tmp_path_factory) -> dict[tuple[Path, str], list[cost.Job]]:
    """Every plan's jobs, from its dry run, two at a time (each is a second or two of Snakemake's
    start). An empty download cache: the DAG must not need data files (none is read before a job
    runs)."""
    with pytest.MonkeyPatch.context() as patch, ThreadPoolExecutor(2) as pool:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        futures = {plan: pool.submit(cost.planned_jobs, *plan) for plan in PLANS}
        return {plan: future.result() for plan, future in futures.items()}


def finite_and_positive(jobs: list[cost.Job]) -> bool:
    result = cost.estimate(jobs, CONSTANTS, cost.RecordedSteps())
    walls = [seconds for ways in result.wall.values() for seconds in ways.values()]
    return all(math.isfinite(s) and s > 0 for s in walls)


@pytest.mark.parametrize(("path", "target"), PLANS, ids=PLAN_NAMES)
def test_every_planned_job_has_a_cost_and_the_estimate_is_finite(path, target, planned):
    jobs = planned[(path, target)]
    assert {job.kind for job in jobs} <= {*cost.MEASURED_KINDS, "target"}
    assert [job.rule for job in jobs if job.kind == "target"] == [target]
    assert finite_and_positive(jobs)
    print(f"{path.relative_to(REPO)} ({target}): {len(jobs)} jobs {cost.job_counts(jobs)}")


FEATURE = {"kind": "network", "width": 20, "max_steps": 100, "targets": ["constant"]}
SMALL = {
    "sphere": {
        "dims": [3],
        "n_train": [8, 16],
        "n_test": 32,
        "seeds": [0, 1],
        "targets": {"constant": {"kind": "constant"}, "rough": {"kind": "teacher"}},
        "regimes": {
            "ntk": {"kind": "kernel", "kernel": "ntk"},
            "feature": FEATURE,
            "limit": {"kind": "sparse", "n_max": 8},
        },
    },
    "images": {
        "datasets": {"digits": {"source": "digits"}},
        "n_train": [16, 32],
        "n_test": 40,
        "seeds": [0],
        "regimes": {
            "feature": {"kind": "network", "width": 16, "max_steps": 50},
            "svc": {"kind": "svc", "kernel": "ntk"},
        },
        "stability": {"n_points": 20},
    },
}


def test_a_small_config_plans_the_jobs_counted_by_hand(tmp_path):
    configfile = tmp_path / "small.yaml"
    configfile.write_text(yaml.safe_dump(SMALL))
    jobs = cost.planned_jobs(configfile)
    runs = {
        "sphere_kernel_run": 2 * 2 * 2,  # targets x n x seeds
        "sphere_network_run": 2 * 2,  # the constant target only
        "sphere_sparse_run": 2 * 1 * 2,  # n up to n_max = 8
        "images_data": 1,  # (data set, seed)
        "images_train": 2,  # n, one seed
        "images_svc": 1,  # one job per seed fits every n
    }
    expected = {
        "sphere_train_data": 2 * 2 * 2,
        "sphere_test_data": 2 * 2,  # one per (target, seed)
        **runs,
        "sphere_aggregate": 1,
        "sphere_exponents": 1,
        "sphere_atoms": 1,
        "sphere_plot": 2,  # (target, d)
        "sphere_atoms_plot": 2,  # both targets have a regime that counts atoms
        "images_aggregate": 1,
        "images_exponents": 1,
        "images_plot_test_error": 1,
        "images_plot_stability": 1,
        "images_plot_sparsity": 1,
        "report_exponents": 2,  # one per setting
        "report_statistics": 2,
        "all": 1,
    }
    assert cost.job_counts(jobs) == expected
    kinds = cost.job_counts(cost.Job(job.kind, job.kind) for job in jobs)
    assert kinds == {
        "dataset": 12,
        "image_data": 1,
        "kernel": 8,
        "network": 4,
        "sparse": 4,
        "image_network": 2,
        "svc": 1,
        "light": 9,
        "plot": 7,
        "target": 1,
    }
    # What each job's cost reads: a run its test set's size, an aggregate its stores.
    assert {job.spec["n_test"] for job in jobs if job.rule in cost.RUN_RULES} == {32}
    stores = {job.rule: job.spec["runs"] for job in jobs if job.rule in cost.AGGREGATE_RULES}
    assert stores == {"sphere_aggregate": 8 + 4 + 4, "images_aggregate": 2 + 2}
    assert finite_and_positive(jobs)
