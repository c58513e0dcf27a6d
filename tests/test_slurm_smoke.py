"""Snakemake's SLURM executor against the local one-node cluster (scripts/slurm-local-cluster.sh).

Throwaway workflows only, so these tests check the submission machinery (profiles/slurm, the
executor plugin, the cluster's configuration), not the pipeline: grouped CPU jobs become one SLURM
job, a `gpu=1` job gets the fake GPU, job states come from squeue, and a job cancelled mid-run is
resubmitted and resumes from its checkpoint.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from .slurm_cluster import SlurmCluster

pytestmark = pytest.mark.slow

# The plugin checks job states this often, adding 10 s after every check in which no job succeeded,
# and a run that failed still sleeps out the current interval before it exits. 2 s (the profile
# says 10) keeps a run to 15-35 s, most of it Snakemake starting twice inside each job (~3 s each).
STATUS_ARGS = ["--slurm-init-seconds-before-status-checks", "2"]
STEPS = 4
RUN_TIMEOUT_S = 180

SMOKE_SNAKEFILE = textwrap.dedent(
    """\
    rule all:
        input:
            expand("cpu/{i}.txt", i=range(2)),
            "gpu.txt",

    # Two unconnected jobs of one group: group-components (profiles/slurm) packs them into one
    # SLURM job.
    rule cpu:
        output:
            "cpu/{i}.txt",
        group:
            "kernel"
        shell:
            "echo $SLURM_JOB_ID > {output}"

    rule gpu:
        output:
            "gpu.txt",
        resources:
            gpu=1,
        shell:
            "echo $SLURM_JOB_ID ${{CUDA_VISIBLE_DEVICES:-unset}} > {output}"
    """
)

# Counts to config["steps"], one step a second, keeping the last finished step in a checkpoint
# folder outside the workflow's outputs (as a training loop would), and starts from it if present.
RESUME_SNAKEFILE = textwrap.dedent(
    """\
    rule resumable:
        output:
            "resumed.txt",
        params:
            ckpt=config["ckpt"],
            steps=config["steps"],
        shell:
            '''
            echo $SLURM_JOB_ID >> {params.ckpt}/jobids
            start=0
            if [ -f {params.ckpt}/step ]; then start=$(cat {params.ckpt}/step); fi
            i=$start
            while [ $i -lt {params.steps} ]; do
                sleep 1
                i=$((i + 1))
                echo $i > {params.ckpt}/step.tmp
                mv {params.ckpt}/step.tmp {params.ckpt}/step
            done
            echo "$start $SLURM_JOB_ID" > {output}
            '''
    """
)


def snakemake_command(cluster: SlurmCluster, workdir: Path, *extra: str) -> list[str]:
    """`snakemake --profile profiles/slurm` on workdir/Snakefile, with the tests' interpreter."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--profile",
        str(cluster.profile),
        "--snakefile",
        str(workdir / "Snakefile"),
        "--directory",
        str(workdir),
        *STATUS_ARGS,
        *extra,
    ]


def run_snakemake(cluster: SlurmCluster, workdir: Path, *extra: str) -> None:
    result = subprocess.run(
        snakemake_command(cluster, workdir, *extra),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env=cluster.env(),
    )
    assert result.returncode == 0, f"snakemake failed:\n{result.stdout}\n{result.stderr}"


def scontrol_job(cluster: SlurmCluster, job_id: str) -> str:
    """`scontrol show job`: finished jobs stay listed for MinJobAge (600 s on the local cluster)."""
    return subprocess.run(
        ["scontrol", "show", "job", job_id],
        capture_output=True,
        text=True,
        check=True,
        env=cluster.env(),
    ).stdout


def test_grouped_cpu_jobs_and_gpu_job_run_as_slurm_jobs(slurm_cluster: SlurmCluster, tmp_path):
    (tmp_path / "Snakefile").write_text(SMOKE_SNAKEFILE)

    run_snakemake(slurm_cluster, tmp_path)

    cpu_job_ids = {(tmp_path / f"cpu/{i}.txt").read_text().strip() for i in range(2)}
    assert len(cpu_job_ids) == 1, f"group jobs ran in several SLURM jobs: {cpu_job_ids}"
    (cpu_job_id,) = cpu_job_ids
    assert cpu_job_id.isdigit(), f"not run by SLURM: SLURM_JOB_ID={cpu_job_id!r}"

    gpu_job_id, cuda_devices = (tmp_path / "gpu.txt").read_text().split()
    assert gpu_job_id.isdigit() and gpu_job_id != cpu_job_id
    assert cuda_devices == "0", "the job step was not given the node's GPU"
    assert "gres:gpu:1" in scontrol_job(slurm_cluster, gpu_job_id)
    assert "gres:gpu" not in scontrol_job(slurm_cluster, cpu_job_id)


def wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.2)


def test_cancelled_job_is_resubmitted_and_resumes(slurm_cluster: SlurmCluster, tmp_path):
    workdir, ckpt = tmp_path / "workflow", tmp_path / "checkpoints"
    workdir.mkdir()
    ckpt.mkdir()
    (workdir / "Snakefile").write_text(RESUME_SNAKEFILE)
    config = ["--config", f"ckpt={ckpt}", f"steps={STEPS}"]
    step_file = ckpt / "step"

    def step() -> int:
        text = step_file.read_text().strip() if step_file.exists() else ""
        return int(text) if text else 0

    with open(tmp_path / "first_run.log", "w") as log:
        first = subprocess.Popen(
            snakemake_command(slurm_cluster, workdir, *config),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=slurm_cluster.env(),
        )
        try:
            wait_for(lambda: step() >= 1 or first.poll() is not None, 90, "a first step")
            assert first.poll() is None, "snakemake ended before its job was cancelled"
            (job_id,) = (ckpt / "jobids").read_text().split()
            subprocess.run(["scancel", job_id], check=True, env=slurm_cluster.env())
            # Snakemake learns of the cancellation at its next squeue status check.
            returncode = first.wait(timeout=RUN_TIMEOUT_S)
        finally:
            if first.poll() is None:
                first.kill()
    first_log = (tmp_path / "first_run.log").read_text()
    assert returncode != 0, f"the cancelled run reported success:\n{first_log}"
    assert "CANCELLED" in first_log, first_log
    assert not (workdir / "resumed.txt").exists()
    cancelled_at = step()
    assert 1 <= cancelled_at < STEPS

    run_snakemake(slurm_cluster, workdir, "--rerun-incomplete", *config)

    resumed_from, second_job_id = (workdir / "resumed.txt").read_text().split()
    assert int(resumed_from) == cancelled_at, (
        "the resubmitted job did not start from the checkpoint"
    )
    assert second_job_id != job_id
    assert (ckpt / "jobids").read_text().split() == [job_id, second_job_id]
    assert step() == STEPS
