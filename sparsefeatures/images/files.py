"""Where an image data set's files are found, and how missing ones are fetched, verified.

Where files are looked for, in order (`locate_files`), from the data set's record (registry.py):

1. ``data_dir`` given by the caller (the config), and its subfolder named after the data set
   (the record's `subdir`). MNIST and Fashion-MNIST files have the same names: give each its own
   directory.
2. The install location of a system package (the record's `system_dirs`): Fashion-MNIST from
   Debian's ``dataset-fashion-mnist``.
3. The download cache ``download_dir`` (default: ``data_dir`` if given, else
   ``$XDG_CACHE_HOME/sparsefeatures/<name>``), and its `subdir`, where earlier downloads went.
4. Only with ``allow_download=True``: a download from the canonical addresses (the record's
   `remote`), written to a temporary file, checked against the published MD5 and only then moved
   into place (an archive is then extracted, its expected files only).

A data set found nowhere raises `DatasetNotFoundError` saying where the files were looked for and
how to provide them (`how_to_get`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from . import registry
from .formats import DatasetFileError
from .registry import ImageDatasetRecord


class DatasetNotFoundError(FileNotFoundError):
    """A data set's files are in none of the places looked at, and no download was allowed."""


class ChecksumError(ValueError):
    """A file's checksum differs from the published one."""


# ----------------------------------------------------------------------------------------------
# Checksums and downloads


def file_checksum(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes ("md5" or "sha256", or any name hashlib knows)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_checksum(path: str | Path, expected: str, algorithm: str = "md5") -> None:
    """Raise ChecksumError naming the file unless its `algorithm` digest equals `expected`."""
    actual = file_checksum(path, algorithm)
    if actual.lower() != expected.lower():
        raise ChecksumError(
            f"{path}: {algorithm} checksum is {actual}, expected {expected} (corrupted or "
            "incomplete download, or a different file)"
        )


def download(
    url: str, dest: str | Path, checksum: str, algorithm: str = "md5", timeout: float = 60.0
) -> Path:
    """Download `url` to `dest`, verified: written to a temporary file beside `dest`, its checksum
    checked, and only then renamed to `dest` (atomic), so `dest` never holds a partial or wrong
    file.
    Raises ChecksumError (the temporary file removed) or urllib's errors."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, out, 1 << 20)
        verify_checksum(tmp, checksum, algorithm)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def _download_remote(remote: registry.RemoteFile, directory: Path) -> Path:
    """Try each address of `remote` in turn; raise DatasetNotFoundError listing every failure."""
    errors = []
    for url in remote.urls:
        try:
            return download(url, directory / remote.name, remote.md5, "md5")
        except (urllib.error.URLError, OSError, ChecksumError) as err:
            errors.append(f"{url}: {err}")
    raise DatasetNotFoundError(f"could not download {remote.name}: " + "; ".join(errors))


# ----------------------------------------------------------------------------------------------
# Locating files


def default_cache_dir(name: str) -> Path:
    """Download cache of a data set: $XDG_CACHE_HOME/sparsefeatures/<name> (~/.cache by default)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "sparsefeatures" / name


def _files_in(directory: Path, record: ImageDatasetRecord) -> dict[str, Path]:
    """Paths of the required files of `record` that `directory` holds (stem -> path)."""
    found = {}
    for stem in record.files:
        candidates = [directory / (stem + suffix) for suffix in record.suffixes]
        hit = next((c for c in candidates if c.is_file()), None)
        if hit is not None:
            found[stem] = hit
    return found


def _find_in(directory: Path, record: ImageDatasetRecord) -> dict[str, Path] | None:
    """Paths of all the required files of `record` if `directory` holds them all, else None."""
    found = _files_in(directory, record)
    return found if len(found) == len(record.files) else None


def downloads_dir(
    name: str, data_dir: str | Path | None = None, download_dir: str | Path | None = None
) -> Path:
    """Where downloads go: download_dir if given, else data_dir if given, else the cache."""
    if download_dir is None:
        download_dir = Path(data_dir) if data_dir is not None else default_cache_dir(name)
    return Path(download_dir)


def how_to_get(name: str, directory: Path) -> str:
    """How to provide a file-based data set's files (the end of the loaders' error messages);
    `directory` is where downloads would go."""
    record = registry.record(name)
    # "(IDX files may be gzipped)": the reader's format, when a compressed copy is looked for too.
    gz = f" ({record.reader.upper()} files may be gzipped)" if ".gz" in record.suffixes else ""
    hints = [
        f"put the files {list(record.files)}{gz} in the directory given as data_dir in the config"
    ]
    if record.system_package:
        hints.append(f"or install them with `apt-get install {record.system_package}`")
    hints.append(
        f"or allow downloads (`allow_download: true` in the config, allow_download=True in "
        f"Python) to download them into {directory}"
    )
    return ", ".join(hints)


def _search_dirs(
    record: ImageDatasetRecord, data_dir: str | Path | None, cache: Path
) -> list[Path]:
    dirs = []
    if data_dir is not None:
        dirs += [Path(data_dir), Path(data_dir) / record.subdir]
    dirs += list(record.system_dirs)
    dirs += [cache, cache / record.subdir]
    return list(dict.fromkeys(dirs))  # in order, without repeats


def locate_files(
    name: str,
    data_dir: str | Path | None = None,
    allow_download: bool = False,
    download_dir: str | Path | None = None,
) -> dict[str, Path]:
    """Paths of a file-based data set's files (stem -> path), looked for in the documented order.

    Raises DatasetNotFoundError saying where the files were looked for and how to provide them.
    """
    file_based = sorted(n for n, r in registry.DATASETS.items() if r.files)
    if name not in file_based:
        raise ValueError(f"{name!r} is not a file-based data set; expected one of {file_based}")
    record = registry.DATASETS[name]
    cache = downloads_dir(name, data_dir, download_dir)
    searched = _search_dirs(record, data_dir, cache)
    for directory in searched:
        found = _find_in(directory, record)
        if found is not None:
            return found
    if allow_download:
        return _download_files(record, cache)
    # A directory holding part of the data set most likely lost a file: name what it lacks.
    partial = [
        f"{d} lacks {[stem for stem in record.files if stem not in found]}"
        for d in searched
        if (found := _files_in(d, record))
    ]
    raise DatasetNotFoundError(
        f"{name}: files not found in {[str(d) for d in searched]}"
        + (f" ({'; '.join(partial)})" if partial else "")
        + f"; {how_to_get(name, cache)}"
    )


def _extract(archive: Path, directory: Path, record: ImageDatasetRecord) -> None:
    """Extract the data set's files from its archive into directory/<subdir>.

    Only regular files with exactly the expected names (<subdir>/<stem>) are written (no links, no
    paths leaving the folder), each through a temporary file renamed into place.
    """
    sub = record.subdir
    names = {f"{sub}/{stem}" for stem in record.files}
    (directory / sub).mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                if not (member.isfile() and member.name in names):
                    continue
                fd, tmp = tempfile.mkstemp(dir=directory / sub, suffix=".part")
                try:
                    with os.fdopen(fd, "wb") as out, tar.extractfile(member) as src:
                        shutil.copyfileobj(src, out, 1 << 20)
                    os.replace(tmp, directory / member.name)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
    except (tarfile.TarError, EOFError, zlib.error) as err:
        raise DatasetFileError(
            f"{archive}: cannot extract the {record.name} archive ({err})"
        ) from err


def _download_files(record: ImageDatasetRecord, directory: Path) -> dict[str, Path]:
    target = directory / record.subdir
    if record.archive:
        archive = _download_remote(record.remote[0], directory)
        _extract(archive, directory, record)
    else:
        for remote in record.remote:
            if not (target / remote.name).is_file():
                _download_remote(remote, target)
    found = _find_in(target, record)
    if found is None:
        raise DatasetNotFoundError(
            f"{record.name}: download finished but files are missing in {target}"
        )
    return found
