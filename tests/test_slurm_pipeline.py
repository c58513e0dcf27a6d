"""The sphere pipeline itself through Snakemake's SLURM executor on the local one-node cluster.

tests/test_slurm_smoke.py checks the submission machinery on throwaway workflows; here the real
Snakefile runs tiny configs through `--profile profiles/slurm`, and the results must be exactly
those of a local run: the same numbers whether the steps ran in SLURM jobs (dataset and kernel
jobs packed into group jobs, training jobs on their own) or not, and a training job cancelled with
`scancel` mid-run resumes from its checkpoint when the workflow is run again.

The numerics are deterministic and every step runs with one thread both locally and in its SLURM
job (rule threads: 1, passed on as --threads 1), so the comparisons are exact. The local reference
runs in a thread alongside the SLURM run, which spends most of its time waiting for status checks.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import yaml

from sparsefeatures.core import store

from .conftest import REPO, SNAKEMAKE, TINY_NETWORK, snakemake, tiny_sphere_config
from .slurm_cluster import SlurmCluster

pytestmark = pytest.mark.slow

# The executor checks job states S s after submitting (the profile says 10), then 10 s later after
# each check in which no job finished (S again after one that saw a job succeed), and a run that
# failed sleeps out the current interval before it exits: checks at S, 2S + 10, 3S + 30, ... These
# tests spend most of their time waiting for them, so S puts the second check just after the first
# jobs end (a SLURM job takes ~10 s more than its steps: Snakemake starts twice in it), with room
# for a loaded machine. The group job of the datasets takes 13-22 s here, the kernel group job and
# the training jobs after it 20-30 s: checks at 7, 24 and 7, 24, 31 s.
PIPELINE_STATUS_S = 7
# The training job is cancelled ~10 s after its submission, its resubmission takes 10-15 s: checks
# at 4 and 18 s.
TRAINING_STATUS_S = 4
RUN_TIMEOUT_S = 240

# ~4 s of training on an idle core (~1 s per 15000 steps), checkpointed every ~0.1 s: long enough
# to be cancelled once its first checkpoint is written.
LONG_NETWORK = TINY_NETWORK | {
    "width": 400,
    "max_steps": 60000,
    "rel_tol": 0.0,
    "check_every": 500,
    "window": 500,
}
ERRORS = "results/sphere/errors.zarr"
LONG_RUN = "results/sphere/runs/constant/d2/feature/n16/seed0.zarr"
LONG_CHECKPOINTS = "results/checkpoints/sphere/constant/d2/feature/n16/seed0"
LONG_LOG = "logs/sphere/runs/constant/d2/feature/n16/seed0.log"
LONG_DATA = [
    "results/sphere/data/constant/d2/seed0/train_n16.zarr",
    "results/sphere/data/constant/d2/seed0/test.zarr",
]


def env(cluster: SlurmCluster) -> dict[str, str]:
    # Zarr's warnings about string dtypes would bury Snakemake's output (as in conftest.snakemake).
    return cluster.env() | {"PYTHONWARNINGS": "ignore"}


def slurm_command(
    cluster: SlurmCluster, workdir: Path, config: dict, *args: str, status_s: int
) -> list[str]:
    """`snakemake --profile profiles/slurm` of the repository's Snakefile on `config`, in workdir."""
    workdir.mkdir(parents=True, exist_ok=True)
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    return [
        str(SNAKEMAKE),
        "--profile",
        str(cluster.profile),
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        "--slurm-init-seconds-before-status-checks",
        str(status_s),
        *args,
    ]


def run_through_slurm(
    cluster: SlurmCluster, workdir: Path, config: dict, *args: str, status_s: int
) -> str:
    """Run the workflow through SLURM; return Snakemake's output."""
    result = subprocess.run(
        slurm_command(cluster, workdir, config, *args, status_s=status_s),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env=env(cluster),
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"snakemake --profile slurm failed:\n{output}"
    return output


def slurm_jobs(cluster: SlurmCluster, output: str) -> dict[str, tuple[str, str]]:
    """{SLURM job id: (comment, state)} of the jobs that one Snakemake invocation submitted.

    The executor names every job after the invocation's run id and puts the rule (or group) in its
    comment; squeue --states=all still lists finished jobs (MinJobAge is 600 s on the cluster).
    """
    (run_id,) = re.findall(r"SLURM run ID: (\S+)", output)
    listed = subprocess.run(
        ["squeue", "-h", "--states=all", f"--name={run_id}", "-o", "%i|%k|%T"],
        capture_output=True,
        text=True,
        check=True,
        env=cluster.env(),
    ).stdout
    jobs = {}
    for line in listed.splitlines():
        job_id, comment, state = line.split("|")
        jobs[job_id] = (comment.strip(), state)
    submitted = set(re.findall(r"submitted with SLURM jobid (\d+)", output))
    assert submitted == set(jobs), f"submitted {submitted}, squeue lists {jobs}:\n{output}"
    return jobs


def wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.05)


def test_pipeline_through_slurm_equals_local_run(slurm_cluster: SlurmCluster, tmp_path):
    config = tiny_sphere_config(
        seeds=[0],
        regimes={
            "ntk": {"kind": "kernel", "kernel": "ntk"},
            "feature": TINY_NETWORK,
            "limit": {"kind": "sparse"},
        },
    )
    # Up to the aggregate: what comes after it (exponents, atoms, plots) are local rules, run by
    # the submitting Snakemake under either executor.
    with ThreadPoolExecutor(1) as pool:
        local = pool.submit(snakemake, tmp_path / "local", config, ERRORS)
        output = run_through_slurm(
            slurm_cluster, tmp_path / "slurm", config, ERRORS, status_s=PIPELINE_STATUS_S
        )
        local.result()

    # 3 datasets in one group job, 2 kernel runs in another, one job per training run and per
    # sparse solve: 6 SLURM jobs for 9 workflow jobs, all finished; nothing else (the aggregate is
    # a local rule).
    jobs = slurm_jobs(slurm_cluster, output)
    comments = sorted(comment for comment, _ in jobs.values())
    assert len(jobs) == 6, f"expected 6 SLURM jobs, got {jobs}:\n{output}"
    assert sum("sphere_train_data" in c and "sphere_test_data" in c for c in comments) == 1
    assert sum("sphere_kernel_run" in c for c in comments) == 1
    assert sum("sphere_network_run" in c for c in comments) == 2
    assert sum("sphere_sparse_run" in c for c in comments) == 2
    assert {state for _, state in jobs.values()} == {"COMPLETED"}, jobs
    for n in (8, 16):
        for regime in ("ntk", "feature", "limit"):
            run = tmp_path / f"slurm/results/sphere/runs/constant/d2/{regime}/n{n}/seed0.zarr"
            assert run.is_dir()

    through_slurm = store.read(tmp_path / "slurm" / ERRORS)
    reference = store.read(tmp_path / "local" / ERRORS)
    assert dict(through_slurm["test_mse"].sizes) == {
        "target": 1,
        "d": 1,
        "regime": 3,
        "n": 2,
        "seed": 1,
    }
    assert np.all(np.isfinite(through_slurm["test_mse"].values))
    assert np.all(through_slurm["duality_gap"].sel(regime="limit").values <= 1e-4)
    for name in ("test_mse", "train_mse", "n_atoms", "objective"):
        # Exact, NaN == NaN (n_atoms is NaN for the kernel regime).
        np.testing.assert_array_equal(
            through_slurm[name].values, reference[name].values, err_msg=name
        )


def training_job_id(cluster: SlurmCluster, workdir: Path) -> str:
    """The SLURM id of the training job running in workdir (other tests may share the cluster)."""
    listed = subprocess.run(
        ["squeue", "-h", "-o", "%i|%Z|%k"],
        capture_output=True,
        text=True,
        check=True,
        env=cluster.env(),
    ).stdout
    ids = [
        job_id
        for job_id, job_workdir, comment in (line.split("|") for line in listed.splitlines())
        if Path(job_workdir) == workdir and "sphere_network_run" in comment
    ]
    assert len(ids) == 1, f"expected one running training job in {workdir}, squeue says:\n{listed}"
    return ids[0]


def job_state(cluster: SlurmCluster, job_id: str) -> str:
    return subprocess.run(
        ["squeue", "-h", "--states=all", f"--jobs={job_id}", "-o", "%T"],
        capture_output=True,
        text=True,
        check=True,
        env=cluster.env(),
    ).stdout.strip()


def kill_leftovers(cluster: SlurmCluster, job_id: str) -> None:
    """Kill the processes of a cancelled SLURM job that outlived it, with a warning.

    The local cluster finds a job's processes by parentage (proctrack/linuxproc: no cgroups in a
    container), so one whose parent died first is reparented and escapes the job's SIGKILL. Snakemake
    in the job (the batch step's `--executor slurm-jobstep` process) can deadlock in its SIGTERM
    handler, which takes the scheduler's lock that the interrupted code already holds, and so would
    linger forever once its batch shell is gone. The node is this machine, so look for them here.
    """
    wait_for(
        lambda: job_state(cluster, job_id) not in ("RUNNING", "COMPLETING"),
        60,
        f"SLURM job {job_id} to end",
    )
    marker = f"SLURM_JOB_ID={job_id}".encode()
    killed = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker in (proc / "environ").read_bytes().split(b"\0"):
                os.kill(int(proc.name), signal.SIGKILL)
                killed.append(proc.name)
        except OSError:
            pass  # gone meanwhile, or not ours to read
    if killed:
        warnings.warn(
            f"killed {len(killed)} process(es) of cancelled SLURM job {job_id} that outlived it "
            f"(pids {', '.join(killed)})",
            stacklevel=2,
        )


def test_scancelled_training_job_resumes_through_slurm(slurm_cluster: SlurmCluster, tmp_path):
    config = tiny_sphere_config(n_train=[16], seeds=[0], regimes={"feature": LONG_NETWORK})
    config["training"] = {"checkpoint_minutes": 0.002}  # every ~0.1 s
    local, work = tmp_path / "local", tmp_path / "slurm"
    checkpoints = work / LONG_CHECKPOINTS
    first_log = tmp_path / "first_run.log"

    # The datasets, made locally and copied with Snakemake's metadata, so that the SLURM run starts
    # with the training job (the first test sends datasets through SLURM): this saves the ~35 s
    # that a group job of datasets takes to be submitted, run and seen finished by a status check.
    snakemake(local, config, *LONG_DATA)
    shutil.copytree(local, work)

    with ThreadPoolExecutor(1) as pool:
        reference = pool.submit(snakemake, local, config, LONG_RUN)
        with open(first_log, "w") as log:
            first = subprocess.Popen(
                slurm_command(slurm_cluster, work, config, LONG_RUN, status_s=TRAINING_STATUS_S),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env(slurm_cluster),
            )
        try:
            wait_for(
                lambda: any(checkpoints.glob("*.pt")) or first.poll() is not None,
                RUN_TIMEOUT_S,
                "a first checkpoint",
            )
            assert first.poll() is None, f"snakemake ended first:\n{first_log.read_text()}"
            job_id = training_job_id(slurm_cluster, work)
            subprocess.run(["scancel", job_id], check=True, env=slurm_cluster.env())
            # Snakemake learns of the cancellation at its next squeue status check.
            returncode = first.wait(timeout=RUN_TIMEOUT_S)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
        output = first_log.read_text()
        assert returncode != 0, f"the cancelled run reported success:\n{output}"
        assert "CANCELLED" in output, output
        assert list(slurm_jobs(slurm_cluster, output)) == [job_id], output
        assert not (work / LONG_RUN / "zarr.json").exists()
        assert list(checkpoints.glob("*.pt")), "training finished before it was cancelled"
        kill_leftovers(slurm_cluster, job_id)

        second = run_through_slurm(
            slurm_cluster, work, config, LONG_RUN, "--rerun-incomplete", status_s=TRAINING_STATUS_S
        )
        reference.result()

    # The rerun submitted the training job alone, as a new SLURM job.
    jobs = slurm_jobs(slurm_cluster, second)
    assert len(jobs) == 1 and job_id not in jobs, jobs
    ((comment, state),) = jobs.values()
    assert "sphere_network_run" in comment and state == "COMPLETED", jobs

    log = (work / LONG_LOG).read_text()
    resumed_at = re.findall(r"resuming from checkpoint \S+ at step (\d+)", log)
    assert len(resumed_at) == 1, log
    assert 0 < int(resumed_at[0]) < LONG_NETWORK["max_steps"]
    assert not list(checkpoints.glob("*.pt")), "the checkpoint outlived the finished run"

    resumed = store.read(work / LONG_RUN)
    expected = store.read(local / LONG_RUN)
    assert resumed.attrs["resumed_from"] == int(resumed_at[0])
    assert expected.attrs["resumed_from"] == -1
    np.testing.assert_array_equal(resumed["theta"].values, expected["theta"].values)
    np.testing.assert_array_equal(resumed["w"].values, expected["w"].values)
    assert float(resumed["test_mse"]) == float(expected["test_mse"])
