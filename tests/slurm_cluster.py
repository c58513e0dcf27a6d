"""The `slurm_cluster` fixture: a one-node SLURM cluster on localhost for the whole test session.

It runs `scripts/slurm-local-cluster.sh start` (munged, slurmctld, slurmd; accounting off, one fake
GPU) and `stop` at the end, unless the cluster was already up before the session, in which case it
is left running. Without SLURM (no `sbatch`/`slurmctld`) or without root, the tests that use it
are skipped, except under CI (CI=true), where they fail: CI installs SLURM
(scripts/install-slurm.sh) and must never pass by skipping.

Use it from tests/conftest.py with `from .slurm_cluster import slurm_cluster  # noqa: F401`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "slurm-local-cluster.sh"
# The script's default; tests may point SLURM_LOCAL_DIR elsewhere.
STATE_DIR = Path(os.environ.get("SLURM_LOCAL_DIR", "/tmp/slurm-local"))
START_TIMEOUT_S = 120


@dataclass(frozen=True)
class SlurmCluster:
    """What a test needs to reach the cluster."""

    state_dir: Path
    conf: Path  # slurm.conf; also linked from /etc/slurm/slurm.conf while the cluster runs
    profile: Path  # the Snakemake profile that submits to it

    def env(self) -> dict[str, str]:
        """The environment for SLURM clients and Snakemake: ours, with SLURM_CONF set."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the SLURM tests, not skip them", pytrace=False)
    pytest.skip(reason)


def _run_script(command: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), command],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "SLURM_LOCAL_DIR": str(STATE_DIR)},
    )


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    # The daemons live in /usr/sbin, which PATH may lack outside a root login shell.
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    missing = [
        tool
        for tool in ("sbatch", "slurmctld", "slurmd", "munged")
        if not shutil.which(tool, path=path)
    ]
    if missing:
        _unavailable(
            f"SLURM is not installed (no {', '.join(missing)} on PATH); "
            "run scripts/install-slurm.sh as root"
        )
    if os.geteuid() != 0:
        _unavailable("the local SLURM cluster runs its daemons and jobs as root; run tests as root")

    was_running = _run_script("status", timeout=30).returncode == 0
    started = _run_script("start", timeout=START_TIMEOUT_S)
    if started.returncode != 0:
        # Installed but broken is a failure, never a skip.
        pytest.fail(
            f"{SCRIPT.name} start failed (exit {started.returncode}):\n"
            f"{started.stdout}\n{started.stderr}",
            pytrace=False,
        )
    yield SlurmCluster(
        state_dir=STATE_DIR,
        conf=STATE_DIR / "slurm.conf",
        profile=REPO / "profiles" / "slurm",
    )
    if not was_running:
        stopped = _run_script("stop", timeout=60)
        assert stopped.returncode == 0, f"{SCRIPT.name} stop failed:\n{stopped.stderr}"
