"""Stores: provenance, completeness and format checks."""

import json

import numpy as np
import pytest
import threadpoolctl
import xarray as xr
import zarr

from sparsefeatures.core import store


def _ds():
    return xr.Dataset({"a": (("i",), np.arange(3.0))})


def test_roundtrip_carries_params_and_provenance(tmp_path):
    path = tmp_path / "s.zarr"
    store.write(_ds(), path, {"b": 1, "a": [2, 3]})
    ds = store.read(path)
    np.testing.assert_array_equal(ds["a"].values, [0, 1, 2])
    assert store.params_of(ds) == {"a": [2, 3], "b": 1}
    prov = json.loads(ds.attrs["provenance"])
    assert prov["packages"]["numpy"] == np.__version__
    # numpy's own BLAS is loaded: its library and kernels are recorded as threadpoolctl sees them.
    seen = [
        (info["internal_api"], info["version"], info["architecture"])
        for info in threadpoolctl.threadpool_info()
        if info["user_api"] == "blas"
    ]
    recorded = [(lib["internal_api"], lib["version"], lib["architecture"]) for lib in prov["blas"]]
    assert seen and recorded == seen
    assert len(prov["code_version"]) == 12
    assert not list(tmp_path.glob("*.tmp-*"))


def test_incomplete_store_is_refused(tmp_path):
    path = tmp_path / "s.zarr"
    store.write(_ds(), path, {})
    del zarr.open_group(path, mode="r+").attrs["complete"]
    with pytest.raises(store.StoreError, match="incomplete store"):
        store.read(path)


def test_other_format_version_is_refused(tmp_path):
    path = tmp_path / "s.zarr"
    store.write(_ds(), path, {})
    zarr.open_group(path, mode="r+").attrs["format_version"] = 0
    with pytest.raises(store.StoreError, match="store format 0"):
        store.read(path)


def test_missing_and_corrupted_stores_are_named(tmp_path):
    with pytest.raises(store.StoreError, match="no such store"):
        store.read(tmp_path / "absent.zarr")
    path = tmp_path / "s.zarr"
    store.write(_ds(), path, {})
    (path / "zarr.json").write_text("{not json")
    with pytest.raises(store.StoreError, match="unreadable store"):
        store.read(path)


def test_damaged_chunks_are_refused_naming_the_file(tmp_path):
    """zarr reads a deleted chunk as the fill value (NaN) and may decode an overwritten one to wrong
    values without error: the manifest catches both, and a cut chunk, naming the file."""
    path = tmp_path / "s.zarr"
    store.write(_ds(), path, {})
    chunk = path / "a" / "c" / "0"
    good = chunk.read_bytes()
    chunk.write_bytes(good[:-1])
    with pytest.raises(store.StoreError, match=rf"a/c/0 has {len(good) - 1} bytes, expected"):
        store.read(path)
    chunk.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))
    with pytest.raises(store.StoreError, match="a/c/0 differs from what was written"):
        store.read(path)
    chunk.unlink()
    with pytest.raises(store.StoreError, match=r"damaged store \(a/c/0 is missing\)"):
        store.read(path)


def test_manifest_allows_unwritten_chunks_and_foreign_files(tmp_path):
    """An all-NaN array has no chunk file (zarr skips chunks equal to the fill value), and Snakemake
    adds `.snakemake_timestamp` to directory outputs: neither is damage."""
    path = tmp_path / "s.zarr"
    store.write(_ds().assign(nan=((), np.nan)), path, {})
    assert not (path / "nan" / "c").exists()
    (path / ".snakemake_timestamp").touch()
    assert np.isnan(float(store.read(path)["nan"]))


def test_failed_write_leaves_no_store(tmp_path, monkeypatch):
    path = tmp_path / "s.zarr"

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(xr.Dataset, "to_zarr", full_disk)
    with pytest.raises(OSError):
        store.write(_ds(), path, {})
    assert not path.exists()
    assert not list(tmp_path.iterdir())


def test_canonical_json_is_order_independent():
    assert store.canonical_json({"b": 1, "a": {"d": 2, "c": 3}}) == '{"a":{"c":3,"d":2},"b":1}'
