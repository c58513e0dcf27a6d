"""Zarr stores with provenance, written so that an interrupted write never looks finished.

Every store carries in its attributes:
- `params`: the canonical JSON of the parameters that made it (exactly what the rule passed);
- `provenance`: package versions, the BLAS libraries loaded (with their kernels), the code version
  (a hash of this package's source files, plus the git commit when run from a checkout), host and
  time;
- `format_version`: bumped when the layout changes, so a store from an incompatible version is refused;
- `manifest`: the size and a SHA-256 prefix of every file written (all but the root `zarr.json`,
  which holds the attributes), checked on reading: zarr reads a deleted chunk file as the array's
  fill value (NaN) without complaint, and a chunk cut or overwritten to the same size may still
  decode; stores written before the manifest existed are read unchecked;
- `complete`: written last, after every array; a store without it is an interrupted write;
- `failure` (only on a run that could not produce a result, a diverging training say): why. Such a
  store holds no measurements; the aggregate counts the run as missing and keeps the reason.

Stores are written to a temporary sibling folder and renamed into place, so a crash (or a full disk)
leaves at worst a `.tmp-*` folder, never a store at the final path.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import shutil
import subprocess
import time
import warnings
from functools import cache
from importlib import metadata
from pathlib import Path

import threadpoolctl
import xarray as xr
import zarr

FORMAT_VERSION = 1
PACKAGES = ("sparsefeatures", "torch", "numpy", "xarray", "zarr", "scikit-learn", "snakemake")


class StoreError(RuntimeError):
    """A store that is missing, incomplete, corrupted or from an incompatible version.

    The message names the store, the problem and, for a store that exists, how to recompute it."""

    def __init__(self, path: str | os.PathLike, problem: str, advice: bool = True):
        self.path, self.problem = Path(path), problem
        super().__init__(f"{path}: {problem}" + (f"; {_recompute(Path(path))}" if advice else ""))


def canonical_json(obj) -> str:
    """Sorted, compact JSON: equal parameters give equal strings (Snakemake's params trigger)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


@cache
def code_version() -> str:
    """Short hash of the package's source files: changes exactly when the numerical code does."""
    root = Path(__file__).resolve().parents[1]  # the package, not this subpackage
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@cache
def git_commit() -> str:
    """The checkout's commit (with '-dirty' for local edits), or '' outside a git checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def blas_libraries() -> list[dict]:
    """The BLAS libraries loaded in this process (threadpoolctl): their kernels set the speed and
    the rounding of every matrix product, and OpenBLAS picks them by processor unless
    OPENBLAS_CORETYPE says otherwise (README, "The shape of Fig. 4 in minutes")."""
    return [
        {key: info.get(key) for key in ("internal_api", "version", "architecture", "num_threads")}
        for info in threadpoolctl.threadpool_info()
        if info.get("user_api") == "blas"
    ]


def provenance() -> dict:
    """Versions and origin recorded in every store."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "packages": versions,
        "blas": blas_libraries(),
        "python": platform.python_version(),
        "code_version": code_version(),
        "git_commit": git_commit(),
        "host": platform.node(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _manifest(root: Path) -> dict[str, list]:
    """[size, digest] of every file under a store's root but its root zarr.json, by relative path."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and p != root / "zarr.json")
    return {p.relative_to(root).as_posix(): [p.stat().st_size, _digest(p)] for p in files}


def _recompute(path: Path) -> str:
    """The advice ending every refusal. A plain `snakemake` would not remake a deleted store whose
    downstream outputs still exist (Snakemake skips missing intermediate files); naming it as the
    target does, and the next run then updates what depends on it."""
    return f"recompute it: delete it, run `snakemake {path}`, then the pipeline as usual"


def check_manifest(path: Path, manifest: dict[str, list]) -> None:
    """Raise StoreError naming every file of the store that is missing or differs from its write.

    Files absent from the manifest (Snakemake's `.snakemake_timestamp`) are ignored."""
    problems = []
    for name, (size, digest) in manifest.items():
        file = path / name
        if not file.is_file():
            problems.append(f"{name} is missing")
        elif file.stat().st_size != size:
            problems.append(f"{name} has {file.stat().st_size} bytes, expected {size}")
        elif _digest(file) != digest:
            problems.append(f"{name} differs from what was written")
    if problems:
        shown = "; ".join(problems[:5]) + (
            f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        )
        raise StoreError(path, f"damaged store ({shown})")


def write(ds: xr.Dataset, path: str | os.PathLike, params: dict) -> None:
    """Write ds to the Zarr store at path with params and provenance, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    ds = ds.copy()
    ds.attrs.update(
        params=canonical_json(params),
        provenance=canonical_json(provenance()),
        format_version=FORMAT_VERSION,
    )
    try:
        ds.to_zarr(tmp, mode="w", consolidated=False, zarr_format=3)
        group = zarr.open_group(tmp, mode="r+", zarr_format=3)
        group.attrs["manifest"] = _manifest(tmp)
        group.attrs["complete"] = True  # last: only now is the store usable
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        _remove_tree(tmp)
        raise


def _remove_tree(folder: Path, attempts: int = 20, settle_s: float = 0.05) -> None:
    """Remove the temporary store of a failed write. zarr's other chunk writes may still be
    landing from its event-loop thread and re-create the folder after it was removed: remove it
    until it stays gone for settle_s."""
    for _ in range(attempts):
        shutil.rmtree(folder, ignore_errors=True)
        time.sleep(settle_s)
        if not folder.exists():
            return


def write_failure(path: str | os.PathLike, params: dict, reason: str) -> None:
    """Record at path that the run of `params` failed, and why, as a store with no measurements."""
    write(xr.Dataset(attrs={"failure": reason}), path, params)


def failure_of(ds: xr.Dataset) -> str | None:
    """Why the run of a store failed, or None for a store with results."""
    return ds.attrs.get("failure")


def checkpoint_slot(directory: str | os.PathLike, key) -> Path:
    """The checkpoint file of a run in `directory`, named by a hash of `key` (what its trajectory
    depends on), so that a checkpoint of other parameters is never resumed; those are removed."""
    directory = Path(directory)
    digest = hashlib.sha256(canonical_json(key).encode()).hexdigest()[:16]
    path = directory / f"{digest}.pt"
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.pt"):
        if stale != path:
            stale.unlink()
    return path


def check(path: str | os.PathLike) -> zarr.Group:
    """The store's zarr group, once its attributes and files say it is whole and of this format
    (no array is loaded); else raise StoreError saying what is wrong with it."""
    path = Path(path)
    if not path.exists():
        raise StoreError(path, "no such store", advice=False)
    try:
        group = zarr.open_group(path, mode="r", zarr_format=3)
        attrs = dict(group.attrs)
    except Exception as err:  # zarr raises many kinds on damaged stores
        raise StoreError(path, f"unreadable store ({type(err).__name__}: {err})") from err
    if attrs.get("format_version") != FORMAT_VERSION:
        found = attrs.get("format_version")
        raise StoreError(path, f"store format {found!r}, this code reads {FORMAT_VERSION}")
    if attrs.get("complete") is not True:
        raise StoreError(path, "incomplete store (its write was interrupted)")
    if "manifest" in attrs:
        check_manifest(path, attrs["manifest"])
    return group


def read(path: str | os.PathLike) -> xr.Dataset:
    """Open a finished store (loaded in memory), or raise StoreError saying what is wrong with it."""
    with warnings.catch_warnings():
        # Snakemake marks directory outputs with a `.snakemake_timestamp` file, which zarr
        # reports as an unknown object: harmless.
        warnings.filterwarnings("ignore", message=".*snakemake_timestamp")
        check(path)
        try:
            return xr.open_zarr(path, consolidated=False, zarr_format=3).load()
        except Exception as err:
            raise StoreError(path, f"unreadable store ({type(err).__name__}: {err})") from err


def params_of(ds: xr.Dataset) -> dict:
    """The parameters a store was made with."""
    return json.loads(ds.attrs["params"])
