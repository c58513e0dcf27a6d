"""Image data sets of the image setting, read strictly, preprocessed as in the paper's code.

Data sets (`IMAGE_DATASETS`):

- ``"mnist"`` and ``"fashion-mnist"``: the IDX files train-images-idx3-ubyte,
  train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each gzipped (``.gz``)
  or not. Gzip is recognised by its magic bytes, not by the file name.
- ``"cifar10"``: the python batches cifar-10-batches-py/data_batch_1..5 and test_batch, pickled
  dicts with b"data" (uint8, (N, 3072), channels R, G, B each 32 x 32 row-major) and b"labels"
  (N ints). They are unpickled with a restricted unpickler that only builds numpy arrays, so a
  hostile file cannot run code.
- ``"digits"``: scikit-learn's bundled 8x8 digits (1797 images, pixel values 0..16, no download);
  a fixed split: the first `DIGITS_N_TRAIN` images are the training split, the rest the test split.

Every reader checks the format (IDX: magic number, dtype code, number of dimensions, dimensions and
exact file length; CIFAR: keys, dtype, shape, label range) and raises `DatasetFileError` naming the
file and what was expected, so a truncated or corrupted download is caught before it becomes a
silently wrong result; `load_raw` adds how to get the file again, as it does for a missing one.

Where files are looked for, in order (`locate_files`):

1. ``data_dir`` given by the caller (the config), and its subfolder named after the data set
   (`SUBDIRS`). MNIST and Fashion-MNIST files have the same names: give each its own directory.
2. The standard location of a system package: Fashion-MNIST from Debian's ``dataset-fashion-mnist``
   (`SYSTEM_DIRS`). Debian ships no MNIST or CIFAR-10 package (``apt-cache search`` finds none).
   Debian recompresses the .gz files, so their MD5 differs from the published one; the content is
   validated by the reader instead.
3. The download cache ``download_dir`` (default: ``data_dir`` if given, else
   ``$XDG_CACHE_HOME/sparsefeatures/<name>``), where earlier downloads went.
4. Only with ``allow_download=True``: a download from the canonical address (`REMOTE_FILES`),
   written to a temporary file, checked against the published MD5 and only then moved into place.

Preprocessing (`preprocess`), as in the reference code (leonardopetrini/feature_lazy,
``center_normalize``): images are flattened to D pixel values, centred by the mean image of the
training split (all of it, so that the preprocessing depends neither on n nor on the seed) and each
rescaled to norm sqrt(D). The reference code averaged over train and test images together; we
average over the training split only, so that no test image enters the preprocessing.

Binary task (`parity_labels`): y = +1 for an even class index (0, 2, 4, 6, 8), y = -1 for an odd
one.

Training subsets (`balanced_order`): for each seed, the images of every class are shuffled and the
classes interleaved in class order 0, 1, ..., 9, 0, 1, ...; the training set of size n is the
first n images of that order. Hence every prefix holds each class within one image of the others,
labels alternate +1, -1 (every even prefix is exactly balanced), and subsets are nested: the
training set for n is the first n points of the training set for any n' > n. The test set is built
the same way from the test split with an independent stream of the same seed, so it is fixed for a
seed whatever n.
"""

from __future__ import annotations

import codecs
import functools
import gzip
import hashlib
import os
import pickle
import shutil
import struct
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

IMAGE_DATASETS = ("mnist", "fashion-mnist", "cifar10", "digits")
N_CLASSES = 10

# Training split of scikit-learn's digits: the first DIGITS_N_TRAIN of its 1797 images (at least 113
# per class, so balanced training sets up to n = 1130); the remaining 597 are the test split.
DIGITS_N_TRAIN = 1200

# Subfolder of data_dir (and of the download cache) where each data set's files may also lie.
SUBDIRS = {"mnist": "mnist", "fashion-mnist": "fashion-mnist", "cifar10": "cifar-10-batches-py"}

# Standard install locations of system packages. Debian / Ubuntu's `dataset-fashion-mnist`
# (`dpkg -L dataset-fashion-mnist`) installs the four gzipped IDX files in this directory. There
# is no Debian package of MNIST or CIFAR-10.
SYSTEM_DIRS = {
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),),
    "mnist": (),
    "cifar10": (),
}
SYSTEM_PACKAGES = {"fashion-mnist": "dataset-fashion-mnist"}

# File stems of the MNIST-like IDX data sets, by split: (images, labels).
IDX_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCHES = ("test_batch",)
CIFAR_ROW = 3 * 32 * 32


@dataclass(frozen=True)
class RemoteFile:
    """A published file: its name, addresses to try in order, and its published MD5."""

    name: str
    urls: tuple[str, ...]
    md5: str


def _remote(names_md5: dict[str, str], bases: tuple[str, ...]) -> tuple[RemoteFile, ...]:
    return tuple(
        RemoteFile(name, tuple(b + name for b in bases), md5) for name, md5 in names_md5.items()
    )


# Canonical addresses and published MD5 checksums (the same as torchvision's). MNIST's original host
# (yann.lecun.com) often refuses downloads; the PyTorch mirror serves byte-identical files.
MNIST_BASES = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
FASHION_MNIST_BASES = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
CIFAR10_BASES = ("https://www.cs.toronto.edu/~kriz/",)
REMOTE_FILES: dict[str, tuple[RemoteFile, ...]] = {
    "mnist": _remote(
        {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        MNIST_BASES,
    ),
    "fashion-mnist": _remote(
        {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        FASHION_MNIST_BASES,
    ),
    "cifar10": _remote(
        {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"}, CIFAR10_BASES
    ),
}


class DatasetFileError(ValueError):
    """A data file exists but is not in the expected format (wrong header, truncated, corrupted)."""


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


def _download_remote(remote: RemoteFile, directory: Path) -> Path:
    """Try each address of `remote` in turn; raise DatasetNotFoundError listing every failure."""
    errors = []
    for url in remote.urls:
        try:
            return download(url, directory / remote.name, remote.md5, "md5")
        except (urllib.error.URLError, OSError, ChecksumError) as err:
            errors.append(f"{url}: {err}")
    raise DatasetNotFoundError(f"could not download {remote.name}: " + "; ".join(errors))


# ----------------------------------------------------------------------------------------------
# IDX reader

# IDX type codes: numpy dtype (big-endian) of each.
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_maybe_gzip(path: Path) -> bytes:
    """File content, decompressed if it starts with the gzip magic bytes (whatever its name)."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DatasetFileError(f"{path}: cannot read ({err})") from err
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise DatasetFileError(f"{path}: corrupted or truncated gzip data ({err})") from err


def read_idx(
    path: str | Path,
    dtype_code: int | None = 0x08,
    ndim: int | None = None,
    shape: tuple[int | None, ...] | None = None,
) -> np.ndarray:
    """Read an IDX file (gzipped or not) strictly; returns a native-endian array of its dimensions.

    Checks the magic number (two zero bytes, a known type code, the number of dimensions), the
    expected type code, number of dimensions and dimensions (`shape`, None for "any") when given,
    and that the file length equals the header plus the data that the dimensions announce: a
    truncated or padded file raises DatasetFileError naming the file.
    """
    path = Path(path)
    raw = _read_maybe_gzip(path)
    if len(raw) < 4:
        raise DatasetFileError(f"{path}: {len(raw)} bytes, too short for an IDX header (4 bytes)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise DatasetFileError(
            f"{path}: bad IDX magic number {raw[:4].hex()}, expected 0000 followed by a type code "
            f"in {[hex(c) for c in IDX_DTYPES]} and the number of dimensions"
        )
    code, nd = raw[2], raw[3]
    if dtype_code is not None and code != dtype_code:
        raise DatasetFileError(f"{path}: IDX type code {code:#04x}, expected {dtype_code:#04x}")
    if ndim is not None and nd != ndim:
        raise DatasetFileError(f"{path}: {nd} dimensions, expected {ndim}")
    header = 4 + 4 * nd
    if len(raw) < header:
        raise DatasetFileError(
            f"{path}: truncated header ({len(raw)} bytes, expected at least {header})"
        )
    dims = struct.unpack(f">{nd}I", raw[4:header])
    if shape is not None:
        if len(shape) != nd or any(
            e is not None and e != d for e, d in zip(shape, dims, strict=True)
        ):
            raise DatasetFileError(f"{path}: dimensions {dims}, expected {shape} (None = any)")
    dtype = IDX_DTYPES[code]
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "trailing bytes"
        raise DatasetFileError(
            f"{path}: {len(raw)} bytes (uncompressed), expected {expected} for dimensions {dims} "
            f"of type {dtype} ({what})"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="), copy=True)


def read_idx_pair(
    images_path: str | Path, labels_path: str | Path
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-like images (N, 1, 28, 28) uint8 and labels (N,) int64 in 0..9, checked to agree."""
    images = read_idx(images_path, 0x08, 3, (None, 28, 28))
    labels = read_idx(labels_path, 0x08, 1)
    if len(labels) != len(images):
        raise DatasetFileError(
            f"{labels_path}: {len(labels)} labels, expected {len(images)} (the number of images in "
            f"{images_path})"
        )
    if len(labels) and int(labels.max()) >= N_CLASSES:
        raise DatasetFileError(
            f"{labels_path}: label {int(labels.max())}, expected 0..{N_CLASSES - 1}"
        )
    return images[:, None], labels.astype(np.int64)


# ----------------------------------------------------------------------------------------------
# CIFAR-10 reader

_EMPTY = np.empty(0)
# The only globals a CIFAR batch may reference: numpy's array / dtype / scalar reconstructors (under
# their numpy 1.x and 2.x module names) and the codec used by protocol-2 pickles for raw bytes.
_SAFE_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _EMPTY.__reduce__()[0],
    ("numpy._core.multiarray", "_reconstruct"): _EMPTY.__reduce__()[0],
    ("numpy.core.multiarray", "scalar"): np.int64(0).__reduce__()[0],
    ("numpy._core.multiarray", "scalar"): np.int64(0).__reduce__()[0],
    ("numpy.core.numeric", "_frombuffer"): _EMPTY.__reduce_ex__(5)[0],
    ("numpy._core.numeric", "_frombuffer"): _EMPTY.__reduce_ex__(5)[0],
    ("_codecs", "encode"): codecs.encode,
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that builds numpy arrays and plain containers and refuses every other global."""

    def find_class(self, module: str, name: str):
        try:
            return _SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"global {module}.{name} is not allowed in a data file"
            ) from None


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch: images (N, 3, 32, 32) uint8 and labels (N,) int64 in 0..9."""
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            batch = _ArrayUnpickler(stream, encoding="bytes").load()
    except OSError as err:
        raise DatasetFileError(f"{path}: cannot read ({err})") from err
    except Exception as err:  # truncated or corrupted pickles raise many different errors
        raise DatasetFileError(f"{path}: not a readable CIFAR-10 batch pickle ({err!r})") from err
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise DatasetFileError(
            f"{path}: expected a dict with keys b'data' and b'labels', got {keys}"
        )
    data, labels = batch[b"data"], batch[b"labels"]
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != CIFAR_ROW
    ):
        what = (data.dtype, data.shape) if isinstance(data, np.ndarray) else type(data).__name__
        raise DatasetFileError(
            f"{path}: b'data' is {what}, expected a uint8 array of shape (N, {CIFAR_ROW})"
        )
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError) as err:
        raise DatasetFileError(f"{path}: b'labels' is not a list of integers ({err})") from err
    if labels.shape != (len(data),):
        raise DatasetFileError(
            f"{path}: b'labels' has shape {labels.shape}, expected ({len(data)},)"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= N_CLASSES):
        raise DatasetFileError(f"{path}: labels outside 0..{N_CLASSES - 1}")
    return data.reshape(-1, 3, 32, 32), labels


# ----------------------------------------------------------------------------------------------
# Locating files


def default_cache_dir(name: str) -> Path:
    """Download cache of a data set: $XDG_CACHE_HOME/sparsefeatures/<name> (~/.cache by default)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "sparsefeatures" / name


def _required_files(name: str) -> list[str]:
    if name == "cifar10":
        return list(CIFAR_TRAIN_BATCHES + CIFAR_TEST_BATCHES)
    return [stem for split in ("train", "test") for stem in IDX_STEMS[split]]


def _files_in(directory: Path, name: str) -> dict[str, Path]:
    """Paths of the required files of `name` that `directory` holds (stem -> path)."""
    found = {}
    for stem in _required_files(name):
        candidates = (
            [directory / stem]
            if name == "cifar10"
            else [directory / stem, directory / (stem + ".gz")]
        )
        hit = next((c for c in candidates if c.is_file()), None)
        if hit is not None:
            found[stem] = hit
    return found


def _find_in(directory: Path, name: str) -> dict[str, Path] | None:
    """Paths of all the required files of `name` if `directory` holds them all, else None."""
    found = _files_in(directory, name)
    return found if len(found) == len(_required_files(name)) else None


def _download_dir(name: str, data_dir: str | Path | None, download_dir: str | Path | None) -> Path:
    """Where downloads go: download_dir if given, else data_dir if given, else the cache."""
    if download_dir is None:
        download_dir = Path(data_dir) if data_dir is not None else default_cache_dir(name)
    return Path(download_dir)


def _how_to_get(name: str, download_dir: Path) -> str:
    """How to provide a file-based data set's files (the end of the loaders' error messages)."""
    hints = [
        f"put the files {_required_files(name)} (IDX files may be gzipped) in the directory "
        "given as data_dir in the config"
    ]
    if name in SYSTEM_PACKAGES:
        hints.append(f"or install them with `apt-get install {SYSTEM_PACKAGES[name]}`")
    hints.append(
        f"or allow downloads (`allow_download: true` in the config, allow_download=True in "
        f"Python) to download them into {download_dir}"
    )
    return ", ".join(hints)


def _search_dirs(name: str, data_dir: str | Path | None, download_dir: Path) -> list[Path]:
    dirs = []
    if data_dir is not None:
        dirs += [Path(data_dir), Path(data_dir) / SUBDIRS[name]]
    dirs += list(SYSTEM_DIRS[name])
    dirs += [download_dir, download_dir / SUBDIRS[name]]
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
    if name not in SUBDIRS:
        raise ValueError(
            f"{name!r} is not a file-based data set; expected one of {sorted(SUBDIRS)}"
        )
    download_dir = _download_dir(name, data_dir, download_dir)
    searched = _search_dirs(name, data_dir, download_dir)
    for directory in searched:
        found = _find_in(directory, name)
        if found is not None:
            return found
    if allow_download:
        return _download_files(name, download_dir)
    # A directory holding part of the data set most likely lost a file: name what it lacks.
    partial = [
        f"{d} lacks {[stem for stem in _required_files(name) if stem not in found]}"
        for d in searched
        if (found := _files_in(d, name))
    ]
    raise DatasetNotFoundError(
        f"{name}: files not found in {[str(d) for d in searched]}"
        + (f" ({'; '.join(partial)})" if partial else "")
        + f"; {_how_to_get(name, download_dir)}"
    )


def _extract_cifar(archive: Path, directory: Path) -> None:
    """Extract the six batch files of the CIFAR-10 archive into directory/cifar-10-batches-py.

    Only regular files with exactly the expected names are written (no links, no paths leaving
    the folder), each through a temporary file renamed into place.
    """
    sub = SUBDIRS["cifar10"]
    names = {f"{sub}/{b}" for b in CIFAR_TRAIN_BATCHES + CIFAR_TEST_BATCHES}
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
        raise DatasetFileError(f"{archive}: cannot extract the CIFAR-10 archive ({err})") from err


def _download_files(name: str, download_dir: Path) -> dict[str, Path]:
    target = download_dir / SUBDIRS[name]
    if name == "cifar10":
        archive = _download_remote(REMOTE_FILES[name][0], download_dir)
        _extract_cifar(archive, download_dir)
    else:
        for remote in REMOTE_FILES[name]:
            if not (target / remote.name).is_file():
                _download_remote(remote, target)
    found = _find_in(target, name)
    if found is None:
        raise DatasetNotFoundError(f"{name}: download finished but files are missing in {target}")
    return found


# ----------------------------------------------------------------------------------------------
# Raw data sets


@dataclass(frozen=True)
class RawImageData:
    """A data set's images as stored (uint8 pixels) with class indices, both splits (read-only)."""

    name: str
    train_images: np.ndarray  # (N_train, C, H, W) uint8
    train_labels: np.ndarray  # (N_train,) int64 in 0..9
    test_images: np.ndarray  # (N_test, C, H, W) uint8
    test_labels: np.ndarray  # (N_test,) int64 in 0..9
    source: str  # directory the files came from, or "sklearn.datasets.load_digits"

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])


def _readonly(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.flags.writeable = False


@functools.lru_cache(maxsize=2)
def _load_raw_cached(
    name: str, data_dir: str | None, allow_download: bool, download_dir: str | None
) -> RawImageData:
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = np.asarray(digits.images, dtype=np.uint8)[:, None]  # (1797, 1, 8, 8), values 0..16
        labels = np.asarray(digits.target, dtype=np.int64)
        tr, te = slice(0, DIGITS_N_TRAIN), slice(DIGITS_N_TRAIN, None)
        raw = RawImageData(
            name,
            images[tr].copy(),
            labels[tr].copy(),
            images[te].copy(),
            labels[te].copy(),
            "sklearn.datasets.load_digits",
        )
    else:
        files = locate_files(name, data_dir, allow_download, download_dir)
        try:
            if name == "cifar10":
                train = [read_cifar_batch(files[b]) for b in CIFAR_TRAIN_BATCHES]
                test = [read_cifar_batch(files[b]) for b in CIFAR_TEST_BATCHES]
                train_images = np.concatenate([i for i, _ in train])
                train_labels = np.concatenate([la for _, la in train])
                test_images = np.concatenate([i for i, _ in test])
                test_labels = np.concatenate([la for _, la in test])
            else:
                train_images, train_labels = read_idx_pair(*(files[s] for s in IDX_STEMS["train"]))
                test_images, test_labels = read_idx_pair(*(files[s] for s in IDX_STEMS["test"]))
        except DatasetFileError as err:
            how = _how_to_get(name, _download_dir(name, data_dir, download_dir))
            raise DatasetFileError(f"{err}. Delete the damaged file, then {how}") from err
        source = str(next(iter(files.values())).parent)
        raw = RawImageData(name, train_images, train_labels, test_images, test_labels, source)
    _readonly(raw.train_images, raw.train_labels, raw.test_images, raw.test_labels)
    return raw


def load_raw(
    name: str,
    data_dir: str | Path | None = None,
    allow_download: bool = False,
    download_dir: str | Path | None = None,
) -> RawImageData:
    """Both splits of data set `name` (one of IMAGE_DATASETS) as stored; the last two are cached."""
    if name not in IMAGE_DATASETS:
        raise ValueError(f"unknown image data set {name!r}; expected one of {IMAGE_DATASETS}")
    return _load_raw_cached(
        name,
        None if data_dir is None else str(data_dir),
        bool(allow_download),
        None if download_dir is None else str(download_dir),
    )


# ----------------------------------------------------------------------------------------------
# Task and preprocessing


def parity_labels(classes: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Binary labels (float64): +1 for an even class index, -1 for an odd one."""
    classes = torch.as_tensor(np.asarray(classes))
    return 1.0 - 2.0 * (classes % 2).to(torch.float64)


def balanced_order(labels: np.ndarray, seed: int, stream: int = 0) -> np.ndarray:
    """Indices (m * K,) of a seeded order interleaving the K classes of `labels`.

    Round r of the order holds the r-th image of each class (classes in increasing order), each
    class's images shuffled by the generator seeded with (seed, stream). m is the size of the
    smallest class: images of larger classes beyond m are not used.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng([seed, stream])
    classes = np.unique(labels)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    m = min(len(p) for p in per_class)
    return np.stack([p[:m] for p in per_class], axis=1).reshape(-1)  # (m * K,)


def pixel_mean(images: np.ndarray) -> torch.Tensor:
    """Mean image (D,) in float64 over the given images (N, C, H, W), accumulated without a copy."""
    flat = images.reshape(len(images), -1)
    return torch.from_numpy(flat.mean(axis=0, dtype=np.float64))


def preprocess(flat: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """Centre images (m, D) by `mean` (D,) and rescale each to norm sqrt(D), in float64."""
    x = flat.to(torch.float64) - mean.to(flat.device, torch.float64)  # (m, D)
    norms = torch.linalg.vector_norm(x, dim=1, keepdim=True)  # (m, 1)
    if bool((norms == 0).any()):
        raise ValueError("an image equals the mean image: it cannot be rescaled to norm sqrt(D)")
    return x * (x.shape[1] ** 0.5 / norms)


@dataclass(frozen=True)
class ImageDataset:
    """Training and test sets of the parity task on one data set, for one seed (float64 tensors)."""

    name: str
    seed: int
    x_train: torch.Tensor  # (n, D) preprocessed: centred, norm sqrt(D)
    y_train: torch.Tensor  # (n,) +1 even class, -1 odd class
    class_train: torch.Tensor  # (n,) int64 class index
    index_train: torch.Tensor  # (n,) int64 index in the training split
    x_test: torch.Tensor  # (m, D)
    y_test: torch.Tensor  # (m,)
    class_test: torch.Tensor  # (m,)
    index_test: torch.Tensor  # (m,) int64 index in the test split
    raw_test: torch.Tensor  # (m, D) test images in pixel values (float64), before preprocessing
    mean: torch.Tensor  # (D,) mean image of the training split, in pixel values
    image_shape: tuple[int, int, int]  # (channels, height, width)
    source: str

    def preprocess(self, raw: torch.Tensor) -> torch.Tensor:
        """Network input of images (m, D) in pixel values: centred, rescaled to norm sqrt(D)."""
        return preprocess(raw, self.mean)


def make_image_dataset(
    name: str,
    n_train: int,
    n_test: int,
    seed: int,
    data_dir: str | Path | None = None,
    allow_download: bool = False,
    download_dir: str | Path | None = None,
) -> ImageDataset:
    """The parity task on `name`: nested balanced training set of size n_train and a test set of
    size n_test fixed by `seed` (see the module docstring)."""
    if n_train < 1 or n_test < 1:
        raise ValueError(f"n_train and n_test must be >= 1, got {n_train} and {n_test}")
    raw = load_raw(name, data_dir, allow_download, download_dir)
    order_train = balanced_order(raw.train_labels, seed, stream=0)
    order_test = balanced_order(raw.test_labels, seed, stream=1)
    for split, n, order in (("training", n_train, order_train), ("test", n_test, order_test)):
        if n > len(order):
            raise ValueError(
                f"{name}: {n} {split} images asked, but only {len(order)} can be drawn "
                f"balanced from its {split} split"
            )
    itr, ite = order_train[:n_train], order_test[:n_test]
    mean = pixel_mean(raw.train_images)
    flat_train = torch.from_numpy(raw.train_images[itr].reshape(n_train, -1).astype(np.float64))
    raw_test = torch.from_numpy(raw.test_images[ite].reshape(n_test, -1).astype(np.float64))
    class_train = torch.from_numpy(raw.train_labels[itr].copy())
    class_test = torch.from_numpy(raw.test_labels[ite].copy())
    return ImageDataset(
        name=name,
        seed=seed,
        x_train=preprocess(flat_train, mean),
        y_train=parity_labels(class_train),
        class_train=class_train,
        index_train=torch.from_numpy(itr.astype(np.int64)),
        x_test=preprocess(raw_test, mean),
        y_test=parity_labels(class_test),
        class_test=class_test,
        index_test=torch.from_numpy(ite.astype(np.int64)),
        raw_test=raw_test,
        mean=mean,
        image_shape=raw.image_shape,
        source=raw.source,
    )


__all__ = [
    "IMAGE_DATASETS",
    "ChecksumError",
    "DatasetFileError",
    "DatasetNotFoundError",
    "ImageDataset",
    "RawImageData",
    "balanced_order",
    "download",
    "file_checksum",
    "load_raw",
    "locate_files",
    "make_image_dataset",
    "parity_labels",
    "pixel_mean",
    "preprocess",
    "read_cifar_batch",
    "read_idx",
    "read_idx_pair",
    "verify_checksum",
]
