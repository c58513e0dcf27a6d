"""`kind: kernel`: ridge(less) regression with an analytic kernel of the one-hidden-layer ReLU
network, the NTK or the RFK (core.kernels), the lazy regime's infinite-width limit."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import xarray as xr

from ...core import kernels, specs
from .. import theory as sphere_theory
from ..runs import RunContext, mse, scalars

VARIABLES = {
    "gram_jitter": (
        "diagonal jitter added to make the Gram matrix factorisable, relative to its "
        "mean diagonal (0: none needed)",
        "1",
    ),
}


@dataclass(frozen=True)
class KernelSpec:
    """A kernel regime's settings: the fields are the config's keys."""

    kernel: str  # "ntk" (both layers trained) or "rfk" (last layer only: random features)
    ridge: float = 0.0  # added to the Gram matrix's diagonal; 0 is ridgeless (interpolation)

    def __post_init__(self) -> None:
        if self.kernel not in kernels.KERNELS:
            raise ValueError(
                f"KernelSpec.kernel = {self.kernel!r}: expected one of {kernels.KERNELS}"
            )
        if not (
            isinstance(self.ridge, int | float) and math.isfinite(self.ridge) and self.ridge >= 0
        ):
            raise ValueError(f"KernelSpec.ridge = {self.ridge!r}: expected a finite number >= 0")


def spec_from_config(entry: dict) -> KernelSpec:
    return specs.from_config(KernelSpec, entry)


def run(entry: dict, context: RunContext) -> xr.Dataset:
    """Kernel regression of one training set, scored on the test set."""
    spec = spec_from_config(entry)
    train, test, threads = context.train, context.test, context.threads
    x, y = train["x"].values, train["y"].values
    start = time.perf_counter()
    model = kernels.fit(spec.kernel, x, y, spec.ridge, threads)
    test_mse = mse(model.predict(test["x"].values, threads), test["y"].values)
    wall = time.perf_counter() - start
    return scalars(
        VARIABLES,
        test_mse=test_mse,
        train_mse=mse(model.predict(x, threads), y),
        gram_jitter=model.jitter,
        wall_time=wall,
    )


def theory(entry: dict, d: int, nu_t: float, runs: xr.Dataset, fit: dict) -> tuple[float, str]:
    """Kernel regression's exponent (sphere.theory.theory_beta)."""
    return sphere_theory.theory_beta(entry["kernel"], d, nu_t), entry["kernel"]
