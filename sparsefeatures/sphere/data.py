"""Data on the unit sphere S^{d-1}: uniform inputs and the paper's targets.

Targets (Petrini et al. 2022, section 3):
- the constant 1;
- a Gaussian random field made by a wide teacher f*(x) = H^-1/2 sum_h s_h sigma(theta_h . x), with
  theta_h uniform on the sphere, s_h = +-1 and sigma(z) = |z|^a ("abs") or relu(z)^a ("relu"). Its
  covariance, for any width H, is C(x, y) = E_theta[sigma(theta . x) sigma(theta . y)] (closed form
  for a = 1 in `teacher_covariance`); its smoothness nu_t is that of sigma at 0 (`smoothness`).

Every draw is deterministic from (seed, d) and a named stream, so the inputs do not depend on the
target, and training sets are nested: numpy's generators fill arrays in row-major order, so the first
n rows drawn for any larger n are the rows drawn for n (tested).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
import xarray as xr

ACTIVATIONS = ("abs", "relu")
STREAMS = {"train": 0, "test": 1, "teacher": 2}


def generator(seed: int, d: int, stream: str, label: str = "") -> np.random.Generator:
    """Independent generator for (seed, d, stream[, label]); `label` separates teachers by name."""
    key = [seed, d, STREAMS[stream], zlib.crc32(label.encode())]
    return np.random.default_rng(np.random.SeedSequence(key))


def uniform_sphere(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """n points (n, d) uniform on S^{d-1}: normalised standard Gaussian vectors."""
    g = rng.standard_normal((n, d))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


@dataclass(frozen=True)
class Teacher:
    """f*(x) = H^-1/2 sum_h s_h sigma(theta_h . x)."""

    theta: np.ndarray  # (H, d), unit rows
    sign: np.ndarray  # (H,), +-1
    activation: str
    power: float

    def __call__(self, x: np.ndarray, block: int = 4096) -> np.ndarray:
        """Values at the rows of x (m, d), in blocks of rows so that (block, H) fits in memory."""
        out = np.empty(len(x))
        scale = 1.0 / math.sqrt(len(self.sign))
        for start in range(0, len(x), block):
            z = x[start : start + block] @ self.theta.T  # (block, H)
            z = np.abs(z) if self.activation == "abs" else np.maximum(z, 0.0)
            out[start : start + block] = (z**self.power) @ self.sign * scale
        return out


def make_teacher(
    d: int, seed: int, width: int, activation: str = "abs", power: float = 1.0, name: str = ""
) -> Teacher:
    """The teacher of target `name` for (d, seed); independent of the input draws."""
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"unknown teacher activation {activation!r}; expected one of {ACTIVATIONS}"
        )
    rng = generator(seed, d, "teacher", name)
    theta = uniform_sphere(width, d, rng)
    sign = rng.choice(np.array([-1.0, 1.0]), size=width)
    return Teacher(theta=theta, sign=sign, activation=activation, power=power)


def teacher_covariance(x: np.ndarray, y: np.ndarray, d: int) -> np.ndarray:
    """Covariance E[f*(x) f*(y)] (n, m) of the abs teacher with power 1, unit-norm inputs.

    With theta = g/|g|, g ~ N(0, I_d), |g| is independent of the direction, so
    E[|theta.x||theta.y|] = E[|g.x||g.y|] / E[|g|^2] = (2/pi)(sqrt(1 - rho^2) + rho arcsin rho) / d.
    """
    rho = np.clip(x @ y.T, -1.0, 1.0)
    return (2.0 / math.pi) * (np.sqrt(1.0 - rho**2) + rho * np.arcsin(rho)) / d


def _is_integer(a: float, parity: int) -> bool:
    """a is an integer of the given parity (0 even, 1 odd)."""
    return float(a).is_integer() and int(a) % 2 == parity


def smoothness(spec: dict) -> float:
    """nu_t of a target spec: the exponent that sets its harmonic spectrum (Spigler et al. 2020).

    A zonal unit sigma(theta . x) whose sigma has a singularity |t|^a or sign(t) |t|^a at t = 0 has
    smoothness nu_t = a + 1/2 (Petrini et al. 2022, section 3). The teachers:
    - abs, |t|^a: singular unless a is an even integer, where |t|^a = t^a is a polynomial of degree
      a: its harmonics stop at degree a, so nu_t is infinite (as for the constant).
    - relu, relu(t)^a = (|t|^a + sign(t) |t|^a) / 2: the first half is a polynomial for even a, the
      second for odd a, never both, so nu_t = a + 1/2 for every a > 0.
    The constant has nu_t = infinity.
    """
    if spec["kind"] == "constant":
        return math.inf
    if spec["kind"] != "teacher":
        raise ValueError(f"no smoothness rule for target kind {spec['kind']!r}")
    a = spec["power"]
    if spec["activation"] == "abs":
        return math.inf if _is_integer(a, 0) else a + 0.5
    if spec["activation"] == "relu":
        return a + 0.5
    raise ValueError(
        f"no smoothness rule for teacher activation {spec['activation']!r}; expected {ACTIVATIONS}"
    )


def unreachable_part(spec: dict) -> str | None:
    """Why no model of this package can learn the target, or None when they can.

    Every predictor here is a combination of bias-free ReLU units (kernels included: the NTK and
    RFK are expectations over such units), and relu(t) = (|t| + t) / 2: its odd part is linear, so
    the odd part of any predictor is a linear function of x. A relu teacher with a != 1 has an odd
    part sign(t) |t|^a (t^a for odd a) with harmonics of degree >= 3, orthogonal to every
    predictor: the test error tends to their variance, not to 0, and the learning curve flattens
    (beta -> 0). abs teachers and the constant are even: no such part.
    """
    if spec["kind"] == "teacher" and spec["activation"] == "relu" and spec["power"] != 1:
        return (
            f"relu teacher with power {spec['power']:g}: its odd part has harmonics of degree >= 3, "
            "which no bias-free ReLU predictor has, so the test error tends to a plateau"
        )
    return None


def target_values(spec: dict, name: str, x: np.ndarray, d: int, seed: int) -> np.ndarray:
    """Target values at x (n, d) for a config target spec ({kind: constant} or {kind: teacher, ...})."""
    if spec["kind"] == "constant":
        return np.ones(len(x))
    if spec["kind"] == "teacher":
        teacher = make_teacher(d, seed, spec["width"], spec["activation"], spec["power"], name)
        return teacher(x)
    raise ValueError(
        f"target {name!r}: unknown kind {spec['kind']!r}; expected constant or teacher"
    )


def make_split(spec: dict, name: str, d: int, seed: int, split: str, n: int):
    """(x (n, d), y (n,)) for a split: 'train' (nested in n) or 'test'."""
    x = uniform_sphere(n, d, generator(seed, d, split))
    return x, target_values(spec, name, x, d, seed)


def dataset(target: str, spec: dict, d: int, seed: int, split: str, n: int) -> xr.Dataset:
    """Inputs x (sample, dim) and targets y (sample) of one split."""
    x, y = make_split(spec, target, d, seed, split, n)
    return xr.Dataset(
        {
            "x": (("sample", "dim"), x, {"description": f"points uniform on S^{d - 1}"}),
            "y": (("sample",), y, {"description": f"target {target!r} at x"}),
        },
        attrs={"target": target, "d": d, "seed": seed, "split": split},
    )
