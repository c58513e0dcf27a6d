"""The image data sets: registry, files, formats and task (sparsefeatures.images).

IDX and CIFAR files are written here byte by byte from the formats' specifications (not with the
module's code), gzipped or not; the real Fashion-MNIST files are used when Debian's package is
installed.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from sparsefeatures.images import files, formats, registry, task

RTOL = 1e-12  # float64 arithmetic on a few hundred pixels
ATOL = 1e-12

CIFAR = registry.DATASETS["cifar10"]

IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    """IDX file: 0, 0, type code, ndim, big-endian uint32 dims, big-endian data."""
    code = IDX_CODES[array.dtype]
    payload = struct.pack(">BBBB", 0, 0, code, array.ndim)
    payload += struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def write_mnist_like(directory: Path, n_train: int, n_test: int, seed: int, gz: bool) -> dict:
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    suffix = ".gz" if gz else ""
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) * 7 % 10).astype(np.uint8)  # every class present, unsorted
        write_idx(directory / f"{split}-images-idx3-ubyte{suffix}", images, gz)
        write_idx(directory / f"{split}-labels-idx1-ubyte{suffix}", labels, gz)
        out[split] = (images, labels)
    return out


def write_cifar_batch(path: Path, images: np.ndarray, labels: list[int], protocol: int = 2) -> None:
    with open(path, "wb") as f:
        pickle.dump(
            {b"batch_label": b"test", b"data": images, b"labels": labels}, f, protocol=protocol
        )


def write_cifar(directory: Path, per_batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    all_images, all_labels = [], []
    for name in [*CIFAR.train_files, *CIFAR.test_files]:
        images = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.permutation(np.arange(per_batch) % 10)]
        write_cifar_batch(directory / name, images, labels)
        all_images.append(images)
        all_labels.append(labels)
    return np.concatenate(all_images), np.concatenate(all_labels)


def patch_record(monkeypatch, name: str, **changes) -> None:
    """Replace fields of a data set's record for one test."""
    record = dataclasses.replace(registry.DATASETS[name], **changes)
    monkeypatch.setitem(registry.DATASETS, name, record)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Keep the download cache (searched by the loaders) inside the test's directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    task._load_raw_cached.cache_clear()


# ----------------------------------------------------------------------------------------------
# IDX


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    ints = rng.integers(-1000, 1000, size=(7,)).astype(">i4")
    # The name says nothing about compression: gzip is recognised by its magic bytes.
    p1 = write_idx(tmp_path / "images.idx", images, gz)
    p2 = write_idx(tmp_path / "ints.idx", ints, gz)
    np.testing.assert_array_equal(formats.read_idx(p1, 0x08, 3, (None, 4, 3)), images)
    got = formats.read_idx(p2, 0x0C, 1)
    assert got.dtype.isnative
    np.testing.assert_array_equal(got, ints.astype(np.int32))


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_idx_is_rejected_naming_the_file(tmp_path, gz):
    images = np.zeros((10, 28, 28), dtype=np.uint8)
    path = write_idx(tmp_path / "train-images-idx3-ubyte", images)
    raw = path.read_bytes()[:-100]  # the data stop short of what the header announces
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with pytest.raises(formats.DatasetFileError, match=r"train-images-idx3-ubyte.*truncated"):
        formats.read_idx(path, 0x08, 3)


def test_truncated_gzip_stream_is_rejected(tmp_path):
    path = write_idx(
        tmp_path / "t10k-images-idx3-ubyte.gz", np.ones((10, 28, 28), np.uint8), gz=True
    )
    path.write_bytes(path.read_bytes()[:-20])  # cut inside the compressed stream
    with pytest.raises(formats.DatasetFileError, match=r"t10k-images-idx3-ubyte\.gz"):
        formats.read_idx(path)


def test_idx_header_checks(tmp_path):
    path = write_idx(tmp_path / "x", np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(formats.DatasetFileError, match="dimensions"):
        formats.read_idx(path, 0x08, 3, (None, 32, 32))
    with pytest.raises(formats.DatasetFileError, match="expected 1"):
        formats.read_idx(path, 0x08, 1)
    with pytest.raises(formats.DatasetFileError, match="type code"):
        formats.read_idx(path, 0x0C)
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(formats.DatasetFileError, match="magic"):
        formats.read_idx(bad)
    padded = tmp_path / "padded"
    padded.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(formats.DatasetFileError, match="trailing"):
        formats.read_idx(padded)


def test_idx_pair_count_mismatch(tmp_path):
    images = write_idx(tmp_path / "i", np.zeros((4, 28, 28), np.uint8))
    labels = write_idx(tmp_path / "l", np.zeros(3, np.uint8))
    with pytest.raises(formats.DatasetFileError, match="3 labels, expected 4"):
        formats.read_idx_pair(images, labels)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_loader_from_data_dir(tmp_path, gz):
    written = write_mnist_like(tmp_path / "mnist", 40, 30, seed=1, gz=gz)
    raw = task.load_raw("mnist", data_dir=tmp_path)  # found in the data set's subfolder
    assert raw.image_shape == (1, 28, 28)
    np.testing.assert_array_equal(raw.train_images[:, 0], written["train"][0])
    np.testing.assert_array_equal(raw.test_labels, written["t10k"][1])
    data = task.make_image_dataset("mnist", 20, 10, seed=0, data_dir=tmp_path / "mnist")
    assert data.x_train.shape == (20, 784) and data.x_test.shape == (10, 784)


def test_missing_files_say_how_to_get_them(tmp_path, monkeypatch):
    with pytest.raises(files.DatasetNotFoundError, match="allow_download"):
        task.load_raw("mnist", data_dir=tmp_path / "nothing")
    patch_record(monkeypatch, "fashion-mnist", system_dirs=(tmp_path / "absent",))
    with pytest.raises(files.DatasetNotFoundError, match="apt-get install dataset-fashion-mnist"):
        task.load_raw("fashion-mnist", data_dir=tmp_path / "nothing")


# ----------------------------------------------------------------------------------------------
# CIFAR-10


def test_cifar_loader(tmp_path):
    images, labels = write_cifar(tmp_path / "cifar-10-batches-py", per_batch=12, seed=2)
    raw = task.load_raw("cifar10", data_dir=tmp_path)
    assert raw.image_shape == (3, 32, 32)
    assert raw.train_images.shape == (60, 3, 32, 32) and raw.test_images.shape == (12, 3, 32, 32)
    # Channel-major layout: the first 1024 values are the red plane, row by row.
    np.testing.assert_array_equal(raw.train_images[0, 0, 1], images[0, 32:64])
    np.testing.assert_array_equal(raw.train_images[3, 2, 31], images[3, -32:])
    np.testing.assert_array_equal(raw.test_labels, labels[60:])


def test_cifar_truncated_and_malformed_batches(tmp_path):
    write_cifar(tmp_path, per_batch=10, seed=3)
    path = tmp_path / "data_batch_3"
    path.write_bytes(path.read_bytes()[:-500])
    with pytest.raises(formats.DatasetFileError, match="data_batch_3"):
        task.load_raw("cifar10", data_dir=tmp_path)
    write_cifar_batch(path, np.zeros((10, 3000), np.uint8), [0] * 10)
    with pytest.raises(formats.DatasetFileError, match=r"data_batch_3.*\(N, 3072\)"):
        formats.read_cifar_batch(path)
    write_cifar_batch(path, np.zeros((10, 3072), np.uint8), [0] * 9)
    with pytest.raises(formats.DatasetFileError, match=r"data_batch_3.*labels"):
        formats.read_cifar_batch(path)
    write_cifar_batch(path, np.zeros((2, 3072), np.uint8), [0, 10])
    with pytest.raises(formats.DatasetFileError, match="labels outside"):
        formats.read_cifar_batch(path)


class _Hostile:
    def __reduce__(self):
        import os

        return (os.getcwd, ())


def test_cifar_unpickler_refuses_other_globals(tmp_path):
    path = tmp_path / "test_batch"
    with open(path, "wb") as f:
        pickle.dump({b"data": _Hostile(), b"labels": []}, f)
    with pytest.raises(formats.DatasetFileError, match="not allowed"):
        formats.read_cifar_batch(path)


# ----------------------------------------------------------------------------------------------
# Checksums and downloads (local files: the network only reaches package registries here)

ABC_MD5 = "900150983cd24fb0d6963f7d28e17f72"  # RFC 1321 test suite, MD5("abc")
ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2


def test_checksum_verification(tmp_path):
    path = tmp_path / "abc"
    path.write_bytes(b"abc")
    files.verify_checksum(path, ABC_MD5, "md5")
    files.verify_checksum(path, ABC_SHA256.upper(), "sha256")
    with pytest.raises(files.ChecksumError, match="abc"):
        files.verify_checksum(path, ABC_MD5.replace("9", "8"), "md5")


def test_download_verifies_before_installing(tmp_path):
    source = tmp_path / "src" / "file.bin"
    source.parent.mkdir()
    source.write_bytes(b"abc")
    dest = tmp_path / "dl" / "file.bin"
    with pytest.raises(files.ChecksumError):
        files.download(source.as_uri(), dest, "0" * 64, "sha256")
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []  # nothing left behind
    assert files.download(source.as_uri(), dest, ABC_SHA256, "sha256") == dest
    assert dest.read_bytes() == b"abc"


def test_allow_download_fetches_verified_files(tmp_path, monkeypatch):
    """The download path end to end, with the published addresses replaced by local file URLs."""
    served = tmp_path / "served"
    written = write_mnist_like(served, 20, 20, seed=4, gz=True)
    bogus = tmp_path / "missing-mirror"
    remotes = tuple(
        registry.RemoteFile(
            f.name,
            ((bogus / f.name).as_uri(), f.as_uri()),  # first mirror fails, the second serves
            hashlib.md5(f.read_bytes()).hexdigest(),
        )
        for f in sorted(served.iterdir())
    )
    patch_record(monkeypatch, "mnist", remote=remotes)
    target = tmp_path / "downloads"
    with pytest.raises(files.DatasetNotFoundError):
        files.locate_files("mnist", download_dir=target)
    found = files.locate_files("mnist", allow_download=True, download_dir=target)
    assert all(p.parent == target / "mnist" for p in found.values())
    raw = task.load_raw("mnist", allow_download=False, download_dir=target)  # now in the cache
    np.testing.assert_array_equal(raw.train_images[:, 0], written["train"][0])
    # A file whose checksum differs from the published one is refused.
    wrong = tuple(registry.RemoteFile(r.name, r.urls, "0" * 32) for r in remotes)
    patch_record(monkeypatch, "mnist", remote=wrong)
    with pytest.raises(files.DatasetNotFoundError, match="checksum"):
        files.locate_files("mnist", allow_download=True, download_dir=tmp_path / "other")


def test_cifar_download_extracts_only_the_batches(tmp_path, monkeypatch):
    batches = tmp_path / "build" / "cifar-10-batches-py"
    images, _ = write_cifar(batches, per_batch=10, seed=5)
    (batches / "readme.html").write_text("not extracted")
    archive = tmp_path / "served" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(batches, arcname="cifar-10-batches-py")
        link = tarfile.TarInfo("cifar-10-batches-py/data_batch_9")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)  # a link in the archive is skipped, never followed
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    remote = registry.RemoteFile(archive.name, (archive.as_uri(),), md5)
    patch_record(monkeypatch, "cifar10", remote=(remote,))
    raw = task.load_raw("cifar10", allow_download=True, download_dir=tmp_path / "dl")
    np.testing.assert_array_equal(raw.train_images.reshape(50, -1), images[:50])
    extracted = sorted(p.name for p in (tmp_path / "dl" / "cifar-10-batches-py").iterdir())
    assert extracted == sorted([*CIFAR.train_files, *CIFAR.test_files])


# ----------------------------------------------------------------------------------------------
# Real Fashion-MNIST (Debian's dataset-fashion-mnist)

FASHION_DIR = registry.DATASETS["fashion-mnist"].system_dirs[0]


@pytest.mark.skipif(
    not (FASHION_DIR / "train-images-idx3-ubyte.gz").exists(),
    reason="Fashion-MNIST files absent: apt-get install dataset-fashion-mnist",
)
def test_real_fashion_mnist():
    raw = task.load_raw("fashion-mnist")
    assert raw.source == str(FASHION_DIR)
    assert raw.train_images.shape == (60000, 1, 28, 28) and raw.test_images.shape == (
        10000,
        1,
        28,
        28,
    )
    # Published composition: 6000 training and 1000 test images per class.
    np.testing.assert_array_equal(np.bincount(raw.train_labels), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(raw.test_labels), [1000] * 10)
    data = task.make_image_dataset("fashion-mnist", 64, 32, seed=0)
    assert data.image_shape == (1, 28, 28)
    torch.testing.assert_close(
        data.x_train.norm(dim=1), torch.full((64,), 28.0, dtype=torch.float64)
    )


# ----------------------------------------------------------------------------------------------
# Task and preprocessing (scikit-learn's digits: no files needed)


def test_parity_labels():
    np.testing.assert_array_equal(task.parity_labels(np.arange(10)).numpy(), [1, -1] * 5)


def test_preprocessing_against_numpy():
    data = task.make_image_dataset("digits", 50, 40, seed=3)
    raw = task.load_raw("digits")
    mean = raw.train_images.reshape(formats.DIGITS_N_TRAIN, 64).astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(data.mean.numpy(), mean, rtol=RTOL, atol=ATOL)
    images = raw.train_images.reshape(-1, 64)[data.index_train.numpy()].astype(np.float64)
    centred = images - mean
    expected = centred / np.linalg.norm(centred, axis=1, keepdims=True) * 8.0
    np.testing.assert_allclose(data.x_train.numpy(), expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(np.linalg.norm(data.x_test.numpy(), axis=1), 8.0, rtol=RTOL)
    torch.testing.assert_close(data.preprocess(data.raw_test), data.x_test, rtol=RTOL, atol=ATOL)
    # Centring uses the training split: its preprocessed images have a mean direction close to 0.
    assert float(data.x_train.mean(0).norm()) < 0.5 * 8.0


def test_balanced_nested_prefixes():
    big = task.make_image_dataset("digits", 300, 100, seed=7)
    classes = big.class_train.numpy()
    for k in range(1, 301):
        counts = np.bincount(classes[:k], minlength=10)
        assert counts.max() - counts.min() <= 1
        assert abs(float(big.y_train[:k].sum())) <= 1  # every prefix balanced
    small = task.make_image_dataset("digits", 120, 100, seed=7)
    assert torch.equal(small.x_train, big.x_train[:120])  # nested
    assert torch.equal(small.index_test, big.index_test)  # the test set does not depend on n
    assert torch.equal(small.x_test, big.x_test)
    other = task.make_image_dataset("digits", 120, 100, seed=8)
    assert not torch.equal(other.index_train, small.index_train)
    assert len(set(big.index_train.tolist())) == 300
    with pytest.raises(ValueError, match="balanced"):
        task.make_image_dataset("digits", 5000, 10, seed=0)


# ----------------------------------------------------------------------------------------------
# The registry

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "images.schema.yaml"


def test_schema_sources_are_the_registry_names():
    import yaml

    schema = yaml.safe_load(SCHEMA.read_text())
    enum = schema["$defs"]["dataset"]["properties"]["source"]["enum"]
    assert sorted(enum) == sorted(registry.IMAGE_DATASETS)


def test_every_record_is_consistent():
    for name, record in registry.DATASETS.items():
        assert record.name == name and record.reader in formats.READERS
        assert record.pixels == int(np.prod(record.image_shape))
        if record.files:  # file-based: somewhere to put them, and a way to get them
            assert record.subdir and record.remote
            assert all(len(r.md5) == 32 and r.urls for r in record.remote)
            assert not record.archive or len(record.remote) == 1
    with pytest.raises(ValueError, match="unknown image data set 'svhn'"):
        registry.record("svhn")


def write_synthetic(record: registry.ImageDatasetRecord, directory: Path, n: int = 20) -> tuple:
    """Synthetic files of a file-based record, written from the formats' specifications:
    (train images, train labels, test images, test labels) as the reader must return them."""
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for stems in (record.train_files, record.test_files):
        if record.reader == "idx":
            images = rng.integers(0, 256, size=(n, *record.image_shape[1:]), dtype=np.uint8)
            labels = (np.arange(n) * 3 % 10).astype(np.uint8)
            write_idx(directory / stems[0], images, gz=True)
            write_idx(directory / stems[1], labels)
            out += [images[:, None], labels]
        elif record.reader == "cifar-python":
            parts = []
            for stem in stems:
                images = rng.integers(0, 256, size=(n, record.pixels), dtype=np.uint8)
                labels = [int(v) for v in np.arange(n) % 10]
                write_cifar_batch(directory / stem, images, labels)
                parts.append((images.reshape(n, *record.image_shape), labels))
            out += [np.concatenate([i for i, _ in parts]), np.concatenate([la for _, la in parts])]
        else:
            raise AssertionError(f"no synthetic writer for reader {record.reader!r}")
    return tuple(out)


@pytest.mark.parametrize("name", registry.IMAGE_DATASETS)
def test_every_record_reads_its_files(tmp_path, name):
    record = registry.DATASETS[name]
    if not record.files:
        raw = task.load_raw(name)
        assert raw.image_shape == record.image_shape
        return
    expected = write_synthetic(record, tmp_path / "data" / record.subdir)
    raw = task.load_raw(name, data_dir=tmp_path / "data")  # found in the record's subfolder
    assert raw.image_shape == record.image_shape
    got = (raw.train_images, raw.train_labels, raw.test_images, raw.test_labels)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)
    assert raw.train_labels.dtype == np.int64


# ----------------------------------------------------------------------------------------------
# A seed's data store (the images_data rule)


def test_seed_data_store_gives_the_same_arrays_bit_for_bit(tmp_path):
    from sparsefeatures.core import store
    from sparsefeatures.images import runs

    params = {"dataset": "d", "dataset_spec": {"source": "digits", "data_dir": None}, "seed": 3}
    path = tmp_path / "seed3.zarr"
    store.write(task.to_xarray(task.seed_data("digits", 3)), path, params)
    stored = runs.seed_data(params, path)
    assert stored.train_pixels.dtype == np.uint8 and len(stored.train_index) == 1170
    for n, n_test in ((16, 40), (100, 200), (1170, 550)):
        direct = task.make_image_dataset("digits", n, n_test, seed=3)
        prepared = runs.load(params | {"n": n, "n_test": n_test}, stored)
        for field in dataclasses.fields(direct):
            a, b = getattr(direct, field.name), getattr(prepared, field.name)
            if isinstance(a, torch.Tensor):
                assert a.dtype == b.dtype and torch.equal(a, b), field.name
            else:
                assert a == b, field.name
    with pytest.raises(ValueError, match="seed 3, but the run is on digits seed 4"):
        runs.seed_data(params | {"seed": 4}, path)
