"""The cost model of sparsefeatures.tools.cost on hand-made constants: its formulas, the choice of
typical step counts, the schedule, and how a dry run's printout becomes cost jobs. (Real dry runs
are in test_presets.py; the constants are measured by benchmarks/estimate_cost.py, not here.)"""

from __future__ import annotations

import json
import math

import pytest
from snakemake.utils import validate

from sparsefeatures.sphere import registry
from sparsefeatures.tools import cost

RTOL = 1e-12

CONSTANTS = cost.CpuConstants(
    overhead_s={kind: 1.0 for kind in cost.MEASURED_KINDS},
    snakemake_start_s=2.0,
    store_read_s=0.01,
    kernel_entry_s=1e-8,
    cholesky_n3_s=1e-11,
    teacher_entry_s={"fast": 1e-9, "pow": 1e-8},
    teacher_unit_s=1e-7,
    sphere_step=[[8, 1000, 1e-4], [1024, 1000, 1e-3], [8, 10000, 1e-3], [1024, 10000, 1e-2]],
    sphere_forward_entry_s=1e-9,
    sparse_solve=[[3, 64, 0.1], [3, 256, 0.8], [5, 64, 0.2], [5, 256, 3.2]],
    image_trial=[1e-3, 1e-10, 1e-8],
    svc_gram=[1e-9, 1e-11],
    svc_solve=[1e-7, 1.5],
    image_load_s={"digits": 0.1, "fashion-mnist": 0.5, "mnist": 0.5, "cifar10": 1.5},
    image_load_basis={},
)


def config(**sphere) -> dict:
    c = {"sphere": sphere}
    validate(c, str(cost.SCHEMA))
    return c


FEATURE = {"kind": "network", "width": 1000, "max_steps": 1000, "targets": ["constant"]}


def printout(*jobs: tuple[str, list[str], list[str], dict | None]) -> str:
    """A dry run's printout (--printshellcmds) of jobs (rule, inputs, outputs, params)."""
    lines = []
    for rule, inputs, outputs, params in jobs:
        lines += (
            [f"rule {rule}:", f"    input: {', '.join(inputs)}"] if inputs else [f"rule {rule}:"]
        )
        lines += [f"    output: {', '.join(outputs)}", "    jobid: 1"] if outputs else []
        command = f"python -m step --params '{json.dumps(params)}' --log x" if params else "None"
        lines += [f"Shell command: {command}", ""]
    return "\n".join(lines)


KERNEL = {"kind": "kernel", "kernel": "ntk", "ridge": 0.0}
SPHERE_JOBS = [
    (
        "sphere_test_data",
        [],
        ["test.zarr"],
        {"spec": {"kind": "constant"}, "n": 64, "split": "test"},
    ),
    (
        "sphere_train_data",
        [],
        ["train.zarr"],
        {"spec": {"kind": "constant"}, "n": 8, "split": "train"},
    ),
    (
        "sphere_kernel_run",
        ["train.zarr", "test.zarr"],
        ["run.zarr"],
        {"d": 3, "n": 8, "regime_spec": KERNEL},
    ),
    ("sphere_aggregate", ["run.zarr"], ["errors.zarr"], {"grid": {}}),
    ("all", ["errors.zarr"], [], None),
]


def test_jobs_are_read_from_the_printout_with_what_they_read():
    jobs = cost.jobs_from_dry_run(printout(*SPHERE_JOBS))
    assert [(job.rule, job.kind) for job in jobs] == [
        ("sphere_train_data", "dataset"),  # in the pipeline's order, not the printout's
        ("sphere_test_data", "dataset"),
        ("sphere_kernel_run", "kernel"),
        ("sphere_aggregate", "light"),
        ("all", "target"),
    ]
    run = jobs[2]
    assert run.spec == {"d": 3, "n": 8, "regime_spec": KERNEL, "n_test": 64}  # its test set's n
    assert jobs[3].spec["runs"] == 1
    seconds = cost.job_seconds(run, CONSTANTS, cost.RecordedSteps()).cpu_bound
    assert seconds == pytest.approx(1.0 + 1e-8 * (2 * 8**2 + 8 * 64) + 1e-11 * 8**3, rel=RTOL)


def test_every_regime_kind_of_the_registry_has_a_cost_model():
    assert set(cost.REGIME_COST_KINDS) == set(registry.KINDS)
    assert cost.RUN_RULES == {f"sphere_{kind}_run" for kind in registry.KINDS}


def test_an_unknown_rule_or_a_regime_kind_without_cost_model_is_an_error_naming_it(monkeypatch):
    unknown = ("images_thumbnails", [], ["digits.png"], {"source": "digits"})
    with pytest.raises(
        ValueError, match="rule 'images_thumbnails' has no cost kind: add it to RULE_KINDS"
    ):
        cost.jobs_from_dry_run(printout(unknown))
    monkeypatch.delitem(cost.REGIME_COST_KINDS, "kernel")
    with pytest.raises(ValueError, match="regime kind 'kernel' .* add its time to job_seconds"):
        cost.jobs_from_dry_run(printout(*SPHERE_JOBS))


def test_sparse_solves_are_interpolated_at_the_nearest_measured_d():
    assert cost.sparse_seconds(CONSTANTS, 3, 256) == pytest.approx(0.8, rel=RTOL)
    # Between two measured d, the larger one (the dearer): d = 4 reads d = 5.
    assert cost.sparse_seconds(CONSTANTS, 4, 64) == pytest.approx(0.2, rel=RTOL)
    assert cost.sparse_seconds(CONSTANTS, 10, 64) == pytest.approx(0.2, rel=RTOL)  # nearest d
    # Beyond the grid: the last segment's slope, here 0.8 / 0.1 per factor 4 (n^1.5).
    assert cost.sparse_seconds(CONSTANTS, 3, 1024) == pytest.approx(6.4, rel=RTOL)
    job = cost.Job("sphere_sparse_run", "sparse", {"d": 5, "n": 256, "n_test": 10})
    assert cost.job_seconds(job, CONSTANTS, cost.RecordedSteps()).cpu_bound == pytest.approx(4.2)


def test_kernel_job_is_overhead_gram_entries_and_cholesky():
    job = cost.Job("sphere_kernel_run", "kernel", {"d": 3, "n": 1000, "n_test": 4000})
    t = cost.job_seconds(job, CONSTANTS, cost.RecordedSteps())
    expected = 1.0 + 1e-8 * (2 * 1000**2 + 1000 * 4000) + 1e-11 * 1000**3
    assert math.isclose(t.cpu_bound, expected, rel_tol=RTOL) and t.gpu_bound is None


def test_step_time_is_interpolated_log_log_and_linear_beyond():
    assert cost.sphere_step_seconds(CONSTANTS, 1024, 1000) == pytest.approx(1e-3)
    assert cost.sphere_step_seconds(CONSTANTS, 2048, 10000) == pytest.approx(2e-2)
    between = cost.sphere_step_seconds(CONSTANTS, math.sqrt(8 * 1024), 1000)  # log midpoint
    assert between == pytest.approx(math.sqrt(1e-4 * 1e-3))
    assert cost.sphere_step_seconds(CONSTANTS, 1024, 500) == pytest.approx(0.5e-3)


def network_job(n: int = 1024) -> cost.Job:
    spec = validate_network(FEATURE)
    return cost.Job(
        "sphere_network_run",
        "network",
        {"d": 3, "n": n, "n_test": 100, "target": "constant", "regime_spec": spec},
    )


def validate_network(regime: dict) -> dict:
    c = config(regimes={"r": regime})
    return {k: v for k, v in c["sphere"]["regimes"]["r"].items() if k != "targets"}


def test_typical_steps_recorded_then_fraction_of_cap_then_cap():
    job = network_job()
    spec = job.spec["regime_spec"]
    measures = 1e-9 * (3 * 100 + 3 * 1024) * 1000
    bound = cost.job_seconds(job, CONSTANTS, cost.RecordedSteps())
    assert bound.basis == "cap"
    assert bound.cpu_typical == bound.cpu_bound == pytest.approx(1.0 + measures + 1000 * 1e-3)
    fraction = cost.RecordedSteps(fraction={"sphere:mean_field": 0.25})
    assert cost.job_seconds(job, CONSTANTS, fraction).cpu_typical == pytest.approx(
        1.0 + measures + 250 * 1e-3
    )
    key = cost._key("sphere", spec, "constant/d3", 1024)
    recorded = cost.RecordedSteps(exact={key: 40.0}, fraction={"sphere:mean_field": 0.25})
    t = cost.job_seconds(job, CONSTANTS, recorded)
    assert t.basis == "recorded" and t.cpu_typical == pytest.approx(1.0 + measures + 40 * 1e-3)
    assert t.gpu_typical < t.gpu_bound


def test_gpu_step_is_the_slowest_of_dispatch_memory_and_compute():
    small = cost.sphere_step_gpu_seconds(8, 1000, 3, "float64")
    assert small == pytest.approx(cost.SPHERE_STEP_OPS * cost.GPU_LAUNCH_S)
    big = cost.sphere_step_gpu_seconds(10**4, 10**5, 3, "float64")
    assert big == pytest.approx(cost.SPHERE_STEP_PASSES * 8 * 1e9 / cost.GPU_BANDWIDTH)
    assert cost.sphere_step_gpu_seconds(10**4, 10**5, 3, "float32") == pytest.approx(big / 2)


def test_wall_time_spreads_runs_over_cores_then_adds_the_tail_and_puts_training_on_the_gpu():
    kernel = cost.Job("sphere_kernel_run", "kernel", {"d": 3, "n": 8, "n_test": 10})
    tail = [cost.Job("sphere_aggregate", "light"), cost.Job("sphere_exponents", "light")]
    jobs = [network_job() for _ in range(4)] + [kernel] * 2 + tail + [cost.Job("p", "plot")] * 6
    result = cost.estimate(jobs, CONSTANTS, cost.RecordedSteps(), cores=2)
    network = cost.job_seconds(jobs[0], CONSTANTS, cost.RecordedSteps())
    kernel_s = cost.job_seconds(kernel, CONSTANTS, cost.RecordedSteps()).cpu_bound
    serial = 2.0 + 2 * 1.0 + 6 * 1.0 / 2  # start, aggregate and fit, plots two at a time
    cpu = serial + (4 * network.cpu_bound + 2 * kernel_s) / 2
    assert result.wall["cpu"]["bound"] == pytest.approx(cpu)
    assert result.wall["gpu"]["bound"] == pytest.approx(serial + 4 * network.gpu_bound)
    assert result.counts["sphere_network_run"] == 4 and result.counts["p"] == 6
    assert result.basis == {"cap": 4}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(45, "45 s"), (720, "12 min"), (3.1 * 3600, "3.1 h"), (5.2 * 86400, "5.2 d")],
)
def test_duration(seconds, text):
    assert cost.duration(seconds) == text
