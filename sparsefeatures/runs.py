"""Fitting one regime on one training set and scoring it: the sphere pipeline's compute."""

from __future__ import annotations

import time

import numpy as np
import xarray as xr

from . import kernels
from .steps import scalars


def _mse(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((pred - y) ** 2))


def kernel_run(regime: dict, train: xr.Dataset, test: xr.Dataset, threads: int = 1) -> xr.Dataset:
    """Kernel ridge(less) regression of one training set, scored on the test set."""
    x, y = train["x"].values, train["y"].values
    start = time.perf_counter()
    model = kernels.fit(regime["kernel"], x, y, regime["ridge"], threads)
    test_mse = _mse(model.predict(test["x"].values, threads), test["y"].values)
    wall = time.perf_counter() - start
    return scalars(
        test_mse=test_mse,
        train_mse=_mse(model.predict(x, threads), y),
        gram_jitter=model.jitter,
        wall_time=wall,
    )
