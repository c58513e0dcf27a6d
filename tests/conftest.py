"""Shared fixtures: running the real workflow on tiny configs in temporary folders."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from sparsefeatures.sphere import data as sphere

from .slurm_cluster import slurm_cluster  # noqa: F401  (session fixture: the local SLURM cluster)

REPO = Path(__file__).resolve().parent.parent
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def snakemake(
    workdir: Path,
    config: dict,
    *args: str,
    snakefile: Path = REPO / "Snakefile",
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run `snakefile` (the repository's) in `workdir` on `config` (written to workdir/config.yaml)."""
    workdir.mkdir(parents=True, exist_ok=True)
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    cmd = [
        str(SNAKEMAKE),
        "--snakefile",
        str(snakefile),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        "--cores",
        "2",
        *args,
    ]
    result = subprocess.run(
        cmd, capture_output=True, text=True, env=os.environ | {"PYTHONWARNINGS": "ignore"}
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


# A network regime that trains in about a second.
TINY_NETWORK = {
    "kind": "network",
    "width": 50,
    "penalty": 1e-3,
    "max_steps": 300,
    "check_every": 50,
    "window": 100,
}


def tiny_sphere_config(**overrides) -> dict:
    """A sphere section that runs in seconds: d = 2, two n, two seeds, constant target, NTK."""
    sphere = {
        "dims": [2],
        "n_train": [8, 16],
        "n_test": 64,
        "seeds": [0, 1],
        "targets": {"constant": {"kind": "constant"}},
        "regimes": {"ntk": {"kind": "kernel", "kernel": "ntk"}},
        "fit": {"points": 2, "bootstrap": 20},
    }
    sphere.update(overrides)
    return {"sphere": sphere}


def sphere_points(n: int, d: int, seed: int) -> torch.Tensor:
    """n points (n, d) uniform on S^{d-1}, float64, from a torch generator seeded by seed."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


@pytest.fixture
def one_torch_thread():
    """One torch thread: tiny problems only lose to threading, badly on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def run_snakemake():
    return snakemake


# Random directions of the brute-force dual check (in blocks): at 2e5 on S^2 the sup of a
# near-optimal dual point is underestimated by ~1e-5 relative, enough to break weak duality.
BRUTE = 2_000_000
BRUTE_BLOCK = 200_000


def brute_dual_sup(p: np.ndarray, x: np.ndarray) -> float:
    """max over many directions (random; equispaced on the circle) of |sum_i p_i relu(theta.x_i)|."""
    if x.shape[1] == 2:
        phi = np.linspace(0, 2 * np.pi, BRUTE, endpoint=False)
        theta = np.stack([np.cos(phi), np.sin(phi)], axis=1)
    else:
        theta = sphere.uniform_sphere(BRUTE, x.shape[1], np.random.default_rng(1))
    return max(
        float(np.abs(np.maximum(theta[lo : lo + BRUTE_BLOCK] @ x.T, 0.0) @ p).max())
        for lo in range(0, BRUTE, BRUTE_BLOCK)
    )
