"""Robustness of the pipeline a user runs: damaged stores and data files, a full disk, two
Snakemake invocations on one directory.

tests/test_store.py and tests/test_image_datasets.py check the readers one by one; here the same
failures go through the real workflow (conftest's `snakemake`, tiny configs), where what matters is
what the user sees and what is left behind: the failing job names the store or file and says what
is wrong and what to do, nothing downstream is rebuilt from it, and every other result is left as
it was.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
import zarr

from sparsefeatures.core import store

from .conftest import REPO, SNAKEMAKE, TINY_NETWORK, snakemake, tiny_sphere_config
from .test_image_datasets import write_mnist_like

SPHERE = tiny_sphere_config(seeds=[0])  # d = 2, n in {8, 16}, constant target, NTK: two runs
EXPONENTS = "results/sphere/exponents.csv"
ERRORS = "results/sphere/errors.zarr"
RUN = "results/sphere/runs/constant/d2/ntk/n8/seed0.zarr"  # the run store damaged below
TRAIN = "results/sphere/data/constant/d2/seed0/train_n16.zarr"  # the dataset store damaged below
LONG_S = 300  # generous bound on one tiny Snakemake invocation on a loaded machine


def snapshot(root: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, str]]:
    """(mtime in ns, SHA-256) of every file under root, by path relative to root; paths starting
    with one of `skip` are left out. Equal snapshots: nothing was rewritten, not even identically."""
    return {
        rel: (path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
        for path in sorted(root.rglob("*"))
        if path.is_file() and not (rel := path.relative_to(root).as_posix()).startswith(skip)
    }


@pytest.fixture(scope="module")
def sphere_results(tmp_path_factory) -> Path:
    """A finished tiny sphere pipeline (up to exponents.csv), built once and copied by each test."""
    work = tmp_path_factory.mktemp("sphere_results")
    snakemake(work, SPHERE, EXPONENTS)
    return work


@pytest.fixture
def sphere_work(sphere_results, tmp_path) -> Path:
    """A private copy of the finished pipeline, its files' times kept (Snakemake sees it as done)."""
    work = tmp_path / "work"
    shutil.copytree(sphere_results, work, symlinks=True)
    return work


# ------------------------------------------------------------------------------------------------
# Damaged stores under results/


def delete_chunk(path: Path) -> None:
    (path / "test_mse" / "c").unlink()  # zarr alone would read it back as NaN


def truncate_chunk(path: Path) -> None:
    chunk = path / "test_mse" / "c"
    chunk.write_bytes(chunk.read_bytes()[:5])


def overwrite_chunk(path: Path) -> None:
    """The same number of bytes, other values: a store overwritten in place, or bit rot."""
    chunk = path / "test_mse" / "c"
    raw = bytearray(chunk.read_bytes())
    raw[-1] ^= 0xFF
    chunk.write_bytes(bytes(raw))


def garble_metadata(path: Path) -> None:
    (path / "zarr.json").write_text("{not json")


def remove_complete(path: Path) -> None:
    """What an interrupted write leaves: everything but the `complete` attribute."""
    del zarr.open_group(path, mode="r+", zarr_format=3).attrs["complete"]


def other_format(path: Path) -> None:
    zarr.open_group(path, mode="r+", zarr_format=3).attrs["format_version"] = (
        store.FORMAT_VERSION + 1
    )


def advice(path: str) -> str:
    """The end of every refusal of a store (a regex): how to recompute it."""
    return re.escape(
        f"; recompute it: delete it, run `snakemake {path}`, then the pipeline as usual"
    )


DAMAGES = {
    "chunk deleted": (delete_chunk, r"damaged store \(test_mse/c is missing\)"),
    "chunk truncated": (truncate_chunk, r"damaged store \(test_mse/c has 5 bytes, expected \d+\)"),
    "chunk overwritten": (
        overwrite_chunk,
        r"damaged store \(test_mse/c differs from what was written\)",
    ),
    "zarr.json garbled": (garble_metadata, r"unreadable store \(JSONDecodeError: .*\)"),
    "complete missing": (remove_complete, r"incomplete store \(its write was interrupted\)"),
    "other format_version": (
        other_format,
        rf"store format {store.FORMAT_VERSION + 1}, this code reads {store.FORMAT_VERSION}",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("damage", DAMAGES)
def test_damaged_run_store_stops_the_aggregate(sphere_work, damage):
    """A run store damaged after it was written is refused by the aggregate, which names it and
    says what is wrong; errors.zarr is not rebuilt from it, exponents.csv not refitted, and no
    other file under results/ is touched. Protects against a damaged store silently becoming NaN
    (or stale values) in the learning curves and exponents."""
    corrupt, expected = DAMAGES[damage]
    corrupt(sphere_work / RUN)
    before = snapshot(sphere_work / "results", skip=("sphere/errors.zarr",))

    result = snakemake(
        sphere_work, SPHERE, EXPONENTS, "--forcerun", "sphere_aggregate", check=False
    )

    assert result.returncode != 0, result.stderr[-3000:]
    message = re.escape(RUN) + ": " + expected + advice(RUN)
    assert re.search(message, result.stdout + result.stderr), result.stderr[-3000:]
    assert re.search(message, (sphere_work / "logs/sphere/aggregate.log").read_text())
    # Snakemake removes a forced output before its job; the failed job wrote none in its place.
    assert not (sphere_work / ERRORS).exists()
    assert not list((sphere_work / "results/sphere").glob("errors.zarr.tmp-*"))
    # Everything else, exponents.csv and the damaged store included, is exactly as it was.
    assert snapshot(sphere_work / "results", skip=("sphere/errors.zarr",)) == before


@pytest.mark.slow
def test_following_the_advice_recovers(sphere_work, sphere_results):
    """The advice ending a refusal, followed word for word after the aggregate refused a store of
    another format, recomputes that run and everything after it, with the exponents of an
    undamaged pipeline. (A plain rerun after deleting the store would do nothing: Snakemake does
    not remake a missing intermediate file whose downstream outputs exist.)"""
    other_format(sphere_work / RUN)
    refused = snakemake(
        sphere_work, SPHERE, EXPONENTS, "--forcerun", "sphere_aggregate", check=False
    )
    command = re.search(
        r"delete it, run `snakemake (\S+)`, then the pipeline as usual", refused.stderr
    )
    assert command, refused.stderr[-3000:]

    shutil.rmtree(sphere_work / command[1])
    snakemake(sphere_work, SPHERE, command[1])
    snakemake(sphere_work, SPHERE, EXPONENTS)

    rerun = store.read(sphere_work / RUN)
    assert float(rerun["test_mse"]) == float(store.read(sphere_results / RUN)["test_mse"])
    errors, reference = store.read(sphere_work / ERRORS), store.read(sphere_results / ERRORS)
    assert errors["test_mse"].equals(reference["test_mse"])  # (wall_time differs)
    assert (sphere_work / EXPONENTS).read_text() == (sphere_results / EXPONENTS).read_text()


@pytest.mark.slow
def test_truncated_dataset_store_stops_the_run(sphere_work):
    """A sphere dataset store with a truncated chunk is refused by the run step that reads it, which
    names the dataset store; no run store is written from it and nothing else changes."""
    chunk = sphere_work / TRAIN / "x" / "c" / "0" / "0"
    chunk.write_bytes(chunk.read_bytes()[:10])
    run = "results/sphere/runs/constant/d2/ntk/n16/seed0.zarr"  # the run trained on TRAIN
    before = snapshot(sphere_work / "results", skip=(run.removeprefix("results/"),))

    result = snakemake(sphere_work, SPHERE, EXPONENTS, "--forcerun", run, check=False)

    assert result.returncode != 0, result.stderr[-3000:]
    damaged = r": damaged store \(x/c/0/0 has 10 bytes, expected \d+\)"
    message = re.escape(TRAIN) + damaged + advice(TRAIN)
    assert re.search(message, result.stdout + result.stderr), result.stderr[-3000:]
    assert not (sphere_work / run).exists()
    # errors.zarr and exponents.csv are the previous ones: nothing after the run was built.
    assert snapshot(sphere_work / "results", skip=(run.removeprefix("results/"),)) == before


# ------------------------------------------------------------------------------------------------
# Image files


def images_config(source: str, data_dir: Path) -> dict:
    """The image setting alone on synthetic IDX files in data_dir: one seed, an SVC regime."""
    images = {
        "datasets": {source: {"source": source, "data_dir": str(data_dir)}},
        "n_train": [10, 20],
        "n_test": 10,
        "seeds": [0],
        "regimes": {"svc": {"kind": "svc", "kernel": "ntk"}},
        "stability": {"n_points": 4},
        "fit": {"points": 2, "bootstrap": 10},
    }
    return SPHERE | {"images": images}


def truncate_images(data_dir: Path) -> tuple[str, ...]:
    path = data_dir / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    return (
        re.escape(str(path)) + r": .*\(truncated\)\. Delete the damaged file, then put the files",
    )


def delete_labels(data_dir: Path) -> tuple[str, ...]:
    (data_dir / "t10k-labels-idx1-ubyte").unlink()
    return (
        re.escape(f"{data_dir} lacks ['t10k-labels-idx1-ubyte']"),
        r"put the files \[.*\] \(IDX files may be gzipped\) in the directory given as data_dir",
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("source", "damage", "hints"),
    [
        # Fashion-MNIST: a truncated file in data_dir must not be replaced silently by the system
        # package's copy either, when it is installed.
        ("fashion-mnist", truncate_images, ("apt-get install dataset-fashion-mnist",)),
        ("mnist", delete_labels, ()),
    ],
    ids=["fashion-mnist-truncated", "mnist-missing"],
)
def test_damaged_image_file_stops_the_image_jobs(tmp_path, source, damage, hints):
    """An IDX file of data_dir truncated or missing: the image job fails naming the file and how
    to get it (data_dir, the system package, allow_download), and no run, aggregate, exponents or
    plot is built."""
    data_dir = tmp_path / "data"
    write_mnist_like(data_dir, n_train=40, n_test=30, seed=0, gz=False)
    expected = damage(data_dir)
    work = tmp_path / "work"

    result = snakemake(work, images_config(source, data_dir), "images_all", check=False)

    assert result.returncode != 0, result.stderr[-3000:]
    for pattern in (*expected, *map(re.escape, hints), re.escape("`allow_download: true`")):
        assert re.search(pattern, result.stdout + result.stderr), (pattern, result.stderr[-3000:])
    images = work / "results/images"
    assert not list(images.rglob("*.zarr")) and not list(images.rglob("*.csv"))
    assert not (images / "plots").exists()


# ------------------------------------------------------------------------------------------------
# A full disk, a failing rename


@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KiB tmpfs mounted at tmp_path/disk (needs root and the right to mount), unmounted
    after the test."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs to fill needs root")
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip() or mount.returncode}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_full_disk_leaves_no_store_and_keeps_the_previous_one(tiny_disk):
    """A write that runs out of space raises ENOSPC and leaves nothing a reader would take for a
    store: no store at a new path, the previous store intact at an existing one, no temporary
    folder. Protects the write-to-temporary-then-rename design against a real full disk."""
    big = xr.Dataset({"a": (("i",), np.random.default_rng(0).standard_normal(100_000))})  # 800 kB
    with pytest.raises(OSError) as new:
        store.write(big, tiny_disk / "new.zarr", {"v": 2})
    assert new.value.errno == errno.ENOSPC
    assert list(tiny_disk.iterdir()) == []
    with pytest.raises(store.StoreError, match="no such store"):
        store.read(tiny_disk / "new.zarr")

    small = xr.Dataset({"a": (("i",), np.arange(3.0))})
    store.write(small, tiny_disk / "old.zarr", {"v": 1})
    with pytest.raises(OSError) as over:
        store.write(big, tiny_disk / "old.zarr", {"v": 2})
    assert over.value.errno == errno.ENOSPC
    assert [p.name for p in tiny_disk.iterdir()] == ["old.zarr"]
    old = store.read(tiny_disk / "old.zarr")
    assert store.params_of(old) == {"v": 1}
    np.testing.assert_array_equal(old["a"].values, [0.0, 1.0, 2.0])


def test_refused_final_rename_leaves_no_finished_store(tmp_path, monkeypatch):
    """A permission error at the last step of a write (the rename into place, once the temporary
    store is complete) propagates and leaves neither a store nor the complete temporary one.
    (tests/test_store.py covers a failure of the array writes themselves.)"""
    path = tmp_path / "s.zarr"
    rename = os.replace

    def refuse(src, dst):
        if Path(dst) == path:
            raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        return rename(src, dst)

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError):
        store.write(xr.Dataset({"a": (("i",), np.arange(3.0))}), path, {})
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------
# Two Snakemake invocations on one directory


def lock_files(work: Path) -> list[Path]:
    """Snakemake's lock files in a working directory (its locks folder goes once unlocked)."""
    locks = work / ".snakemake" / "locks"
    return sorted(locks.iterdir()) if locks.is_dir() else []


def job_pids(session: int, pattern: str) -> list[int]:
    """Processes of `session` (one we started) whose command line contains pattern."""
    found = subprocess.run(["pgrep", "-s", str(session), "-f", pattern], capture_output=True)
    return [int(pid) for pid in found.stdout.split()]


@pytest.mark.slow
def test_second_invocation_on_a_running_directory_is_refused(tmp_path):
    """While one Snakemake runs the pipeline in a directory, a second one on the same directory
    fails with Snakemake's lock error before touching anything, leaves the first one's locks in
    place, and the first then finishes with readable stores. Timing is made deterministic by
    stopping the first one's training job (SIGSTOP) while the second runs."""
    config = tiny_sphere_config(seeds=[0], regimes={"feature": TINY_NETWORK})
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "--directory", str(work)]
    cmd += ["--configfile", str(work / "config.yaml"), "--cores", "1", ERRORS]
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    stopped: list[int] = []
    try:
        deadline = time.monotonic() + LONG_S
        while not job_pids(first.pid, "sparsefeatures.sphere.cli run"):
            assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the first invocation never started a training job"
            time.sleep(0.01)
        # The job's shell and its python: stop every match until no new one appears (the shell may
        # have forked python between the look-up and the signal).
        while new := [
            p for p in job_pids(first.pid, "sparsefeatures.sphere.cli run") if p not in stopped
        ]:
            for pid in new:
                os.kill(pid, signal.SIGSTOP)
            stopped += new
            time.sleep(0.2)
        locks = lock_files(work)
        assert locks, "the first invocation holds no lock"
        assert not list((work / "results/sphere/runs").rglob("*.zarr")), "stopped too late"

        second = snakemake(work, config, ERRORS, check=False)

        assert second.returncode != 0
        output = second.stdout + second.stderr
        assert "LockException" in output and "Error: Directory cannot be locked." in output, output
        assert str(work) in output and "--unlock" in output
        assert lock_files(work) == locks  # the first one's, still there
        assert not list((work / "results/sphere/runs").rglob("*.zarr"))

        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        stopped = []
        assert first.wait(timeout=LONG_S) == 0, (tmp_path / "first.log").read_text()[-3000:]
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGTERM)
            first.wait(timeout=60)

    errors = store.read(work / ERRORS)
    assert np.all(np.isfinite(errors["test_mse"].values))
    for n in SPHERE["sphere"]["n_train"]:
        run = store.read(work / f"results/sphere/runs/constant/d2/feature/n{n}/seed0.zarr")
        assert float(run["test_mse"]) == float(
            errors["test_mse"].sel(target="constant", d=2, regime="feature", n=n, seed=0)
        )
    assert lock_files(work) == []
