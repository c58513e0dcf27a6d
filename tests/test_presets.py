"""Every config shipped with the pipeline is valid and plans the jobs it should.

For config.yaml, config/*.yaml and config/paper/*.yaml: the schema validates the whole file (and
fills its defaults, as the Snakefile does), `snakemake -n` builds its DAG without reading any data
(the image presets name data sets that need not be installed), and the job counts Snakemake prints
equal those that sparsefeatures.tools.cost lists, which benchmarks/estimate_cost.py prices. Dry runs
only, two at a time: about 15 s for the module on a 2-core machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from sparsefeatures.tools import cost

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
DRY_RUN_TIMEOUT_S = 120


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


def dry_run(path: Path, target: str, workdir: Path) -> subprocess.CompletedProcess:
    """`snakemake -n TARGET` of the repository's Snakefile on config `path`, in `workdir`."""
    snakemake = Path(sys.executable).parent / "snakemake"
    cmd = [str(snakemake), "-n", "--snakefile", str(REPO / "Snakefile"), "--configfile", str(path)]
    cmd += ["--directory", str(workdir), "--cores", "2", target]
    # An empty download cache: the DAG must not need data files (none is read before a job runs).
    env = os.environ | {"XDG_CACHE_HOME": str(workdir / "cache"), "PYTHONWARNINGS": "ignore"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=DRY_RUN_TIMEOUT_S)


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory) -> dict[tuple[Path, str], subprocess.CompletedProcess]:
    """Every plan's dry run, two at a time (each is a second or two of Snakemake's start)."""
    root = tmp_path_factory.mktemp("dry-runs")
    with ThreadPoolExecutor(2) as pool:
        futures = {plan: pool.submit(dry_run, *plan, root / str(i)) for i, plan in enumerate(PLANS)}
    return {plan: future.result() for plan, future in futures.items()}


def job_stats(output: str) -> dict[str, int]:
    """The `Job stats` table Snakemake prints (rule -> count), without its total."""
    lines = output.splitlines()
    start = lines.index("Job stats:") + 3  # the title, the header, the dashes
    counts = {}
    for line in lines[start:]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


@pytest.mark.parametrize(("path", "target"), PLANS, ids=PLAN_NAMES)
def test_dry_run_plans_the_jobs_the_cost_estimate_counts(path, target, dry_runs):
    proc = dry_runs[(path, target)]
    assert proc.returncode == 0, proc.stderr[-3000:]
    planned = job_stats(proc.stdout + "\n" + proc.stderr)
    expected = cost.job_counts(cost.pipeline_jobs(cost.validated_config(path), target))
    assert planned == expected
    print(f"{path.relative_to(REPO)} ({target}): {sum(planned.values())} jobs {planned}")
