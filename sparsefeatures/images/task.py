"""The parity task on an image data set: balanced nested subsets, preprocessed as in the paper.

Raw data (`load_raw`): both splits of a data set as stored (uint8 pixels, class indices), from its
files (files.locate_files) read by its reader (formats.READERS), both named by its record
(registry.py).

Binary task (`parity_labels`): y = +1 for an even class index (0, 2, 4, 6, 8), y = -1 for an odd
one.

Training subsets (`balanced_order`): for each seed, the images of every class are shuffled and the
classes interleaved in class order 0, 1, ..., 9, 0, 1, ...; the training set of size n is the
first n images of that order. Hence every prefix holds each class within one image of the others,
labels alternate +1, -1 (every even prefix is exactly balanced), and subsets are nested: the
training set for n is the first n points of the training set for any n' > n. The test set is built
the same way from the test split with an independent stream of the same seed, so it is fixed for a
seed whatever n.

Preprocessing (`preprocess`), as in the reference code (leonardopetrini/feature_lazy,
``center_normalize``): images are flattened to D pixel values, centred by the mean image of the
training split (all of it, so that the preprocessing depends neither on n nor on the seed) and each
rescaled to norm sqrt(D). The reference code averaged over train and test images together; we
average over the training split only, so that no test image enters the preprocessing.

A seed's data (`SeedData`, `seed_data`): both splits' pixels in their balanced orders and the mean
image, what the pipeline's `images_data` rule stores once per (data set, seed) (`to_xarray`,
`from_xarray`); the run of any n and n_test takes its prefixes (`SeedData.dataset`) with exactly
the arithmetic of `make_image_dataset`, so the arrays are the same bit for bit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from . import files, formats, registry

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
    record = registry.record(name)
    read = formats.READERS[record.reader]
    if not record.files:
        splits, source = read(record, {}), "sklearn.datasets.load_digits"
    else:
        found = files.locate_files(name, data_dir, allow_download, download_dir)
        try:
            splits = read(record, found)
        except formats.DatasetFileError as err:
            how = files.how_to_get(name, files.downloads_dir(name, data_dir, download_dir))
            raise formats.DatasetFileError(f"{err}. Delete the damaged file, then {how}") from err
        source = str(next(iter(found.values())).parent)
    raw = RawImageData(name, *splits, source)
    _readonly(raw.train_images, raw.train_labels, raw.test_images, raw.test_labels)
    return raw


def load_raw(
    name: str,
    data_dir: str | Path | None = None,
    allow_download: bool = False,
    download_dir: str | Path | None = None,
) -> RawImageData:
    """Both splits of data set `name` (one of registry.IMAGE_DATASETS) as stored; the last two
    are cached."""
    registry.record(name)  # an unknown name: ValueError naming the known ones
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


@dataclass(frozen=True)
class SeedData:
    """A seed's balanced orders of both splits, in pixel values, and the training split's mean:
    every training and test set of the seed is a prefix (`dataset`)."""

    name: str
    seed: int
    train_pixels: np.ndarray  # (N, D) uint8, the training split in its balanced order
    train_class: np.ndarray  # (N,) int64
    train_index: np.ndarray  # (N,) int64 index in the training split
    test_pixels: np.ndarray  # (M, D) uint8, the test split in its balanced order
    test_class: np.ndarray  # (M,)
    test_index: np.ndarray  # (M,)
    mean: torch.Tensor  # (D,) float64 mean image of the whole training split
    image_shape: tuple[int, int, int]
    source: str

    def dataset(self, n_train: int, n_test: int) -> ImageDataset:
        """The training set of size n_train and the test set of size n_test: the first images of
        the balanced orders, preprocessed."""
        if n_train < 1 or n_test < 1:
            raise ValueError(f"n_train and n_test must be >= 1, got {n_train} and {n_test}")
        for split, n, order in (
            ("training", n_train, self.train_index),
            ("test", n_test, self.test_index),
        ):
            if n > len(order):
                raise ValueError(
                    f"{self.name}: {n} {split} images asked, but only {len(order)} can be drawn "
                    f"balanced from its {split} split"
                )
        flat_train = torch.from_numpy(self.train_pixels[:n_train].astype(np.float64))  # (n, D)
        raw_test = torch.from_numpy(self.test_pixels[:n_test].astype(np.float64))  # (m, D)
        class_train = torch.from_numpy(self.train_class[:n_train].copy())
        class_test = torch.from_numpy(self.test_class[:n_test].copy())
        return ImageDataset(
            name=self.name,
            seed=self.seed,
            x_train=preprocess(flat_train, self.mean),
            y_train=parity_labels(class_train),
            class_train=class_train,
            index_train=torch.from_numpy(self.train_index[:n_train].copy()),
            x_test=preprocess(raw_test, self.mean),
            y_test=parity_labels(class_test),
            class_test=class_test,
            index_test=torch.from_numpy(self.test_index[:n_test].copy()),
            raw_test=raw_test,
            mean=self.mean,
            image_shape=self.image_shape,
            source=self.source,
        )


def seed_data(
    name: str,
    seed: int,
    data_dir: str | Path | None = None,
    allow_download: bool = False,
    download_dir: str | Path | None = None,
) -> SeedData:
    """The balanced orders of seed `seed` on data set `name` (module docstring)."""
    raw = load_raw(name, data_dir, allow_download, download_dir)
    order_train = balanced_order(raw.train_labels, seed, stream=0)  # (N,)
    order_test = balanced_order(raw.test_labels, seed, stream=1)  # (M,)
    return SeedData(
        name=name,
        seed=seed,
        train_pixels=raw.train_images[order_train].reshape(len(order_train), -1),  # (N, D)
        train_class=raw.train_labels[order_train],
        train_index=order_train.astype(np.int64),
        test_pixels=raw.test_images[order_test].reshape(len(order_test), -1),  # (M, D)
        test_class=raw.test_labels[order_test],
        test_index=order_test.astype(np.int64),
        mean=pixel_mean(raw.train_images),
        image_shape=raw.image_shape,
        source=raw.source,
    )


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
    data = seed_data(name, seed, data_dir, allow_download, download_dir)
    return data.dataset(n_train, n_test)


# ----------------------------------------------------------------------------------------------
# A seed's data as a labelled store (the images_data rule's output)


def to_xarray(data: SeedData) -> xr.Dataset:
    """`data` as an xarray Dataset with named dimensions (train, test, pixel)."""
    train, test = ("train", "pixel"), ("test", "pixel")
    return xr.Dataset(
        {
            "train_pixels": (
                train,
                data.train_pixels,
                {"description": "training split in its balanced order", "units": "pixel value"},
            ),
            "train_class": ("train", data.train_class, {"description": "class index (0..9)"}),
            "train_index": (
                "train",
                data.train_index,
                {"description": "index in the training split"},
            ),
            "test_pixels": (
                test,
                data.test_pixels,
                {"description": "test split in its balanced order", "units": "pixel value"},
            ),
            "test_class": ("test", data.test_class, {"description": "class index (0..9)"}),
            "test_index": ("test", data.test_index, {"description": "index in the test split"}),
            "mean": (
                "pixel",
                data.mean.numpy(),
                {"description": "mean image of the whole training split", "units": "pixel value"},
            ),
        },
        attrs={
            "dataset": data.name,
            "seed": data.seed,
            "image_shape": list(data.image_shape),
            "data_source": data.source,
        },
    )


def from_xarray(ds: xr.Dataset) -> SeedData:
    """The SeedData that `to_xarray` wrote (arrays loaded, the same bits)."""
    return SeedData(
        name=ds.attrs["dataset"],
        seed=int(ds.attrs["seed"]),
        train_pixels=np.asarray(ds["train_pixels"].values, dtype=np.uint8),
        train_class=np.asarray(ds["train_class"].values, dtype=np.int64),
        train_index=np.asarray(ds["train_index"].values, dtype=np.int64),
        test_pixels=np.asarray(ds["test_pixels"].values, dtype=np.uint8),
        test_class=np.asarray(ds["test_class"].values, dtype=np.int64),
        test_index=np.asarray(ds["test_index"].values, dtype=np.int64),
        mean=torch.from_numpy(np.asarray(ds["mean"].values, dtype=np.float64)),
        image_shape=tuple(int(v) for v in ds.attrs["image_shape"]),
        source=ds.attrs["data_source"],
    )
