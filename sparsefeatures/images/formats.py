"""Readers of the image data sets' file formats, strict: a damaged file is an error naming it.

- IDX (MNIST, Fashion-MNIST): files train-images-idx3-ubyte, train-labels-idx1-ubyte,
  t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each gzipped or not. Gzip is recognised by its
  magic bytes, not by the file name.
- CIFAR python batches (CIFAR-10): pickled dicts with b"data" (uint8, (N, C H W), channels R, G, B
  each H x W row-major) and b"labels" (N ints). They are unpickled with a restricted unpickler that
  only builds numpy arrays, so a hostile file cannot run code.
- scikit-learn's bundled 8x8 digits (1797 images, pixel values 0..16, no file): a fixed split, the
  first `DIGITS_N_TRAIN` images are the training split, the rest the test split.

Every reader checks the format (IDX: magic number, dtype code, number of dimensions, dimensions and
exact file length; CIFAR: keys, dtype, shape, label range) and raises `DatasetFileError` naming the
file and what was expected, so a truncated or corrupted download is caught before it becomes a
silently wrong result. `READERS` reads both splits of a data set (registry.py names its reader).
"""

from __future__ import annotations

import codecs
import gzip
import pickle
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .registry import ImageDatasetRecord

N_CLASSES = 10

# Training split of scikit-learn's digits: the first DIGITS_N_TRAIN of its 1797 images (at least 117
# per class, so balanced training sets up to n = 1170); the remaining 597 are the test split.
DIGITS_N_TRAIN = 1200


class DatasetFileError(ValueError):
    """A data file exists but is not in the expected format (wrong header, truncated, corrupted)."""


# ----------------------------------------------------------------------------------------------
# IDX

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
    images_path: str | Path, labels_path: str | Path, size: tuple[int, int] = (28, 28)
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-like images (N, 1, *size) uint8 and labels (N,) int64 in 0..9, checked to agree."""
    images = read_idx(images_path, 0x08, 3, (None, *size))
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
# CIFAR python batches

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


def read_cifar_batch(
    path: str | Path, shape: tuple[int, int, int] = (3, 32, 32)
) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch: images (N, *shape) uint8 and labels (N,) int64 in 0..9."""
    path = Path(path)
    row = shape[0] * shape[1] * shape[2]
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
        or data.shape[1] != row
    ):
        what = (data.dtype, data.shape) if isinstance(data, np.ndarray) else type(data).__name__
        raise DatasetFileError(
            f"{path}: b'data' is {what}, expected a uint8 array of shape (N, {row})"
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
    return data.reshape(-1, *shape), labels


# ----------------------------------------------------------------------------------------------
# Both splits of a data set

# (train images (N, C, H, W) uint8, train labels (N,) int64, test images, test labels)
Splits = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def read_idx_splits(record: ImageDatasetRecord, files: dict[str, Path]) -> Splits:
    """An IDX data set: the (images, labels) file pair of each split."""
    size = record.image_shape[1:]
    train = read_idx_pair(*(files[s] for s in record.train_files), size=size)
    test = read_idx_pair(*(files[s] for s in record.test_files), size=size)
    return (*train, *test)


def read_cifar_splits(record: ImageDatasetRecord, files: dict[str, Path]) -> Splits:
    """A CIFAR-like data set: its batches of each split, concatenated in the record's order."""
    out = []
    for stems in (record.train_files, record.test_files):
        batches = [read_cifar_batch(files[s], record.image_shape) for s in stems]
        out += [np.concatenate([i for i, _ in batches]), np.concatenate([la for _, la in batches])]
    return tuple(out)


def read_sklearn_digits(record: ImageDatasetRecord, files: dict[str, Path]) -> Splits:
    """scikit-learn's digits (no files): the first DIGITS_N_TRAIN images train, the rest test."""
    from sklearn.datasets import load_digits  # only this data set needs scikit-learn here

    digits = load_digits()
    images = np.asarray(digits.images, dtype=np.uint8)[:, None]  # (1797, 1, 8, 8), values 0..16
    labels = np.asarray(digits.target, dtype=np.int64)
    tr, te = slice(0, DIGITS_N_TRAIN), slice(DIGITS_N_TRAIN, None)
    return images[tr].copy(), labels[tr].copy(), images[te].copy(), labels[te].copy()


READERS: dict[str, Callable[[ImageDatasetRecord, dict[str, Path]], Splits]] = {
    "idx": read_idx_splits,
    "cifar-python": read_cifar_splits,
    "sklearn-digits": read_sklearn_digits,
}
