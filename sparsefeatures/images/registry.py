"""The image data sets: one record per data set, the one place that knows its files.

A record says what a data set is (its image shape, so its number of pixel values D), which files
make each split and which reader of `formats.py` reads them, where those files may already lie (a
subfolder of data_dir and of the download cache, the install location of a system package) and
where to download them from, with the published MD5 of each download. `files.py` finds and fetches
files from a record, `formats.py` reads them, `task.py` builds the parity task from what they hold;
the cost estimate (sparsefeatures.tools.cost) takes D from here.

Adding a data set: its record here, its name in the `source` enum of
workflow/schemas/images.schema.yaml (tests/test_image_datasets.py checks the two agree) and a preset
in config/. A data set in a new file format also needs a reader in `formats.py`.

Standard library only, like sparsefeatures/sphere/registry.py: it computes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RemoteFile:
    """A published file: its name, addresses to try in order, and its published MD5."""

    name: str
    urls: tuple[str, ...]
    md5: str


def remote_files(names_md5: dict[str, str], bases: tuple[str, ...]) -> tuple[RemoteFile, ...]:
    """RemoteFile of each name, at every base address in turn."""
    return tuple(
        RemoteFile(name, tuple(b + name for b in bases), md5) for name, md5 in names_md5.items()
    )


@dataclass(frozen=True)
class ImageDatasetRecord:
    """One data set: its images, its files, where they lie and where they come from."""

    name: str  # the config's `source`
    image_shape: tuple[int, int, int]  # (channels, height, width)
    reader: str  # key of formats.READERS: how the files are read
    train_files: tuple[str, ...] = ()  # file stems of the training split (none: no files needed)
    test_files: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ("",)  # each file is looked for as stem + suffix, in this order
    subdir: str | None = None  # subfolder of data_dir and of the download cache holding the files
    system_dirs: tuple[Path, ...] = ()  # install locations of a system package
    system_package: str | None = None  # the package to install (named in error messages)
    remote: tuple[RemoteFile, ...] = ()  # canonical downloads, MD5 checked
    archive: bool = False  # the download is one tar.gz holding <subdir>/<stem> for every stem
    description: str = ""

    @property
    def pixels(self) -> int:
        """Pixel values per image: the input dimension D."""
        c, h, w = self.image_shape
        return c * h * w

    @property
    def files(self) -> tuple[str, ...]:
        """Every file stem the data set needs, training split first."""
        return self.train_files + self.test_files


# IDX files of the MNIST-like data sets, by split: (images, labels).
IDX_TRAIN = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
IDX_TEST = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

# Canonical addresses and published MD5 checksums (the same as torchvision's). MNIST's original host
# (yann.lecun.com) often refuses downloads; the PyTorch mirror serves byte-identical files.
MNIST_BASES = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
FASHION_MNIST_BASES = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
CIFAR10_BASES = ("https://www.cs.toronto.edu/~kriz/",)

DATASETS: dict[str, ImageDatasetRecord] = {
    record.name: record
    for record in (
        ImageDatasetRecord(
            name="mnist",
            image_shape=(1, 28, 28),
            reader="idx",
            train_files=IDX_TRAIN,
            test_files=IDX_TEST,
            suffixes=("", ".gz"),
            subdir="mnist",
            # Debian / Ubuntu ship no MNIST package (`apt-cache search` finds none).
            remote=remote_files(
                {
                    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
                    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
                    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
                },
                MNIST_BASES,
            ),
            description="handwritten digits, 28x28 grey levels, 60000 + 10000 images",
        ),
        ImageDatasetRecord(
            name="fashion-mnist",
            image_shape=(1, 28, 28),
            reader="idx",
            train_files=IDX_TRAIN,
            test_files=IDX_TEST,
            suffixes=("", ".gz"),
            subdir="fashion-mnist",
            # Debian / Ubuntu's `dataset-fashion-mnist` (`dpkg -L dataset-fashion-mnist`) installs
            # the four gzipped IDX files here. Debian recompresses them, so their MD5 differs from
            # the published one; the reader validates their content instead.
            system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
            system_package="dataset-fashion-mnist",
            remote=remote_files(
                {
                    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
                    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
                    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
                },
                FASHION_MNIST_BASES,
            ),
            description="Zalando's clothes, 28x28 grey levels, 60000 + 10000 images",
        ),
        ImageDatasetRecord(
            name="cifar10",
            image_shape=(3, 32, 32),
            reader="cifar-python",
            train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
            test_files=("test_batch",),
            subdir="cifar-10-batches-py",
            # Debian ships no CIFAR-10 package.
            remote=remote_files(
                {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"}, CIFAR10_BASES
            ),
            archive=True,
            description="tiny colour images, 32x32 RGB, 50000 + 10000 images",
        ),
        ImageDatasetRecord(
            name="digits",
            image_shape=(1, 8, 8),
            reader="sklearn-digits",
            description="scikit-learn's bundled 8x8 digits, values 0..16, 1797 images, no files",
        ),
    )
}
IMAGE_DATASETS = tuple(DATASETS)


def record(name: str) -> ImageDatasetRecord:
    """The record of data set `name`; ValueError naming the known ones if there is none."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(
            f"unknown image data set {name!r}; expected one of {IMAGE_DATASETS}"
        ) from None
