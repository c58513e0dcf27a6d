"""Random smooth deformations of images and the relative stability R_f (Petrini et al. 2021).

Reference: L. Petrini, A. Favero, M. Geiger, M. Wyart, *Relative stability toward diffeomorphisms
indicates performance in deep nets*, NeurIPS 2021, arXiv:2105.02468 (code:
pcsl-epfl/diffeomorphism).

Displacement field. On an H x W image, pixel (row r, column q) sits at u = q / (W - 1) and
v = r / (H - 1) in [0, 1]. A field tau = (tau_u, tau_v) has the components

    tau_u(u, v) = sum_{i, j >= 1, i^2 + j^2 <= c^2} C_ij sin(i pi u) sin(j pi v),
    C_ij ~ N(0, T / (i^2 + j^2)) i.i.d.,

and tau_v likewise with independent coefficients; c is the high-frequency cutoff and T the
"temperature". In pixels the displacement is (dx, dy) = (W tau_u, H tau_v) (as the reference code,
which multiplies by the image size n), and the deformed image is

    (tau x)[r, q] = x at the position (r - dy[r, q], q - dx[r, q]), clamped to [0, H-1] x [0, W-1],

read by bilinear interpolation between the four neighbouring pixels (`apply_displacement`, written
with gathers so that a zero field returns the image bit for bit; checked against an independent
per-pixel numpy implementation in the tests). The field vanishes on the border (sin(0) = 0).
Mode set: i^2 + j^2 <= c^2 as in the paper's text; the reference code keeps
sqrt(i^2 + j^2) < c + 1/2, which adds the modes (1, 3) and (3, 1) for c = 3.

Temperature and typical displacement. The expected mean over pixels of |tau|^2 (in pixels^2) is
exactly (`mean_squared_displacement`)

    delta^2 = T (W^2 + H^2) sum_modes a^W_i a^H_j / (i^2 + j^2),
    a^n_k = mean_q sin^2(k pi q / (n - 1)).

The paper replaces a by 1/2 and the sum by its continuum limit (pi/2) ln c, giving
T = 4 delta^2 / (pi n^2 ln c) on an n x n image (`convention="paper"`). For c = 3 the sum has only
four modes, sum 1/r^2 = 1.025 instead of (pi/2) ln 3 = 1.726, so the paper's temperature gives an
RMS displacement of 0.743 delta on a 28 x 28 image and 0.747 delta on 32 x 32 (0.674 on 8 x 8): the
paper's "delta = 1" moves pixels by about 0.75 pixel. `convention="exact"` (the default) inverts the
exact formula instead, so that the RMS displacement measured on the fields is delta (tested).

Relative stability. With f the predictor, x test images, tau random fields and eta Gaussian noise
rescaled image by image to the norm of tau x - x, and <.> means over images and draws,

    D_f = <(f(tau x) - f(x))^2> / <(f(x) - f(z))^2>,
    G_f = <(f(x + eta) - f(x))^2> / <(f(x) - f(z))^2>,    R_f = D_f / G_f,

the denominators averaged over all pairs x != z of test images (twice the unbiased variance of f
over them). Deformations and noise act on the images passed in: give images in pixel values and a
predictor that preprocesses them (centring, norm sqrt(D)) to deform the physical image, or
preprocessed images and the bare network to deform the network's input.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

CONVENTIONS = ("exact", "paper")


def modes(cutoff: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mode indices (i, j), each (K,) int64, with i, j >= 1 and i^2 + j^2 <= cutoff^2."""
    top = int(math.floor(cutoff))
    ij = [
        (i, j) for i in range(1, top + 1) for j in range(1, top + 1) if i * i + j * j <= cutoff**2
    ]
    if not ij:
        raise ValueError(
            f"cutoff {cutoff} keeps no mode (i, j >= 1, i^2 + j^2 <= c^2): use c >= sqrt(2)"
        )
    i, j = zip(*ij, strict=True)
    return torch.tensor(i), torch.tensor(j)


def _size(size: int | tuple[int, int]) -> tuple[int, int]:
    """(height, width) from an int n (square image) or a pair."""
    height, width = (size, size) if isinstance(size, int) else size
    if height < 2 or width < 2:
        raise ValueError(f"images must be at least 2 x 2 pixels, got {height} x {width}")
    return height, width


def _sin2_mean(n: int, k: np.ndarray) -> np.ndarray:
    """a^n_k = mean over the n pixel positions u = q/(n-1) of sin^2(k pi u), for each k."""
    u = np.arange(n) / (n - 1)
    return (np.sin(np.pi * np.outer(k, u)) ** 2).mean(axis=1)


def mean_squared_displacement(
    temperature: float, size: int | tuple[int, int], cutoff: float
) -> float:
    """Expectation over fields of the mean over pixels of |tau|^2, in pixels^2 (see module doc)."""
    height, width = _size(size)
    i, j = (m.numpy() for m in modes(cutoff))
    s = float(np.sum(_sin2_mean(width, i) * _sin2_mean(height, j) / (i**2 + j**2)))
    return temperature * (width**2 + height**2) * s


def typical_displacement(temperature: float, size: int | tuple[int, int], cutoff: float) -> float:
    """RMS displacement in pixels, sqrt(mean_squared_displacement)."""
    return math.sqrt(mean_squared_displacement(temperature, size, cutoff))


def temperature_for_displacement(
    delta: float, size: int | tuple[int, int], cutoff: float, convention: str = "exact"
) -> float:
    """Temperature T giving the typical displacement `delta` (pixels) on images of `size`.

    convention="exact": the RMS displacement of the fields is delta (exact expectation on the pixel
    grid); convention="paper": T = 4 delta^2 / (pi n^2 ln c) (square n x n images only), which gives
    a smaller RMS displacement for small c (about 0.76 delta for c = 3, see the module docstring).
    """
    if delta < 0:
        raise ValueError(f"delta must be >= 0, got {delta}")
    if convention == "exact":
        return delta**2 / mean_squared_displacement(1.0, size, cutoff)
    if convention == "paper":
        height, width = _size(size)
        if height != width:
            raise ValueError(f"the paper's formula is for square images, got {height} x {width}")
        modes(cutoff)  # validates the cutoff
        if cutoff <= 1:
            raise ValueError(f"the paper's formula needs cutoff > 1, got {cutoff}")
        return 4 * delta**2 / (math.pi * width**2 * math.log(cutoff))
    raise ValueError(f"unknown convention {convention!r}; expected one of {CONVENTIONS}")


def sample_coefficients(
    n_fields: int, cutoff: float, temperature: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Coefficients C (n_fields, 2, K) in float64, C_ij ~ N(0, T / (i^2 + j^2)), on the CPU.

    Drawn on the CPU whatever device the images are on, so that a seed gives the same fields
    everywhere. The K modes are ordered as in `modes(cutoff)`.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    i, j = modes(cutoff)
    std = (temperature / (i**2 + j**2).to(torch.float64)).sqrt()  # (K,)
    z = torch.randn(n_fields, 2, len(i), generator=generator, dtype=torch.float64)  # (B, 2, K)
    return z * std


def displacement_field(
    coefficients: torch.Tensor, cutoff: float, height: int, width: int
) -> torch.Tensor:
    """Displacement in pixels (B, 2, H, W) of coefficients (B, 2, K): channel 0 is dx (along the
    width, W tau_u), channel 1 is dy (along the height, H tau_v)."""
    _size((height, width))
    i, j = modes(cutoff)
    dtype, device = coefficients.dtype, coefficients.device
    u = torch.arange(width, dtype=dtype, device=device) / (width - 1)  # (W,)
    v = torch.arange(height, dtype=dtype, device=device) / (height - 1)  # (H,)
    su = torch.sin(math.pi * i.to(device, dtype)[:, None] * u)  # (K, W)
    sv = torch.sin(math.pi * j.to(device, dtype)[:, None] * v)  # (K, H)
    tau = torch.einsum("bck,kr,kq->bcrq", coefficients, sv, su)  # (B, 2, H, W), units of [0, 1]
    scale = torch.tensor([width, height], dtype=dtype, device=device)
    return tau * scale[None, :, None, None]


def apply_displacement(images: torch.Tensor, displacement: torch.Tensor) -> torch.Tensor:
    """Resample images (B, C, H, W) at the displaced positions (module doc), bilinear, clamped.

    displacement (B, 2, H, W) in pixels, (dx, dy); one field per image, shared by its channels.
    """
    b, c, h, w = images.shape
    if displacement.shape != (b, 2, h, w):
        raise ValueError(
            f"displacement has shape {tuple(displacement.shape)}, expected {(b, 2, h, w)}"
        )
    displacement = displacement.to(images.device, images.dtype)
    rows = torch.arange(h, device=images.device, dtype=images.dtype)[:, None]  # (H, 1)
    cols = torch.arange(w, device=images.device, dtype=images.dtype)[None, :]  # (1, W)
    x = (cols - displacement[:, 0]).clamp(0, w - 1)  # (B, H, W) source column
    y = (rows - displacement[:, 1]).clamp(0, h - 1)  # (B, H, W) source row
    x0, y0 = x.floor(), y.floor()
    wx, wy = (x - x0)[:, None], (y - y0)[:, None]  # (B, 1, H, W) weights of the upper neighbours
    x0, y0 = x0.long(), y0.long()
    x1, y1 = (x0 + 1).clamp(max=w - 1), (y0 + 1).clamp(max=h - 1)
    flat = images.reshape(b, c, h * w)

    def pick(yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
        index = (yy * w + xx).reshape(b, 1, h * w).expand(b, c, h * w)
        return flat.gather(2, index).reshape(b, c, h, w)

    top = (1 - wx) * pick(y0, x0) + wx * pick(y0, x1)
    bottom = (1 - wx) * pick(y1, x0) + wx * pick(y1, x1)
    return (1 - wy) * top + wy * bottom


def deform(
    images: torch.Tensor,
    cutoff: float,
    temperature: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Deform each image (B, C, H, W) by its own random field. Returns (tau x, displacement)."""
    b, _, h, w = images.shape
    coef = sample_coefficients(b, cutoff, temperature, generator).to(images.device, images.dtype)
    field = displacement_field(coef, cutoff, h, w)  # (B, 2, H, W)
    return apply_displacement(images, field), field


def noise_like(difference: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Gaussian noise (B, ...) with, image by image, the norm of `difference` (B, ...).

    Drawn on the CPU in float64 (reproducible across devices), then moved to difference's device.
    """
    b = difference.shape[0]
    g = torch.randn(difference.shape, generator=generator, dtype=torch.float64)
    g = g.to(difference.device, difference.dtype).reshape(b, -1)  # (B, D)
    target = torch.linalg.vector_norm(difference.reshape(b, -1), dim=1, keepdim=True)  # (B, 1)
    g = g * (target / torch.linalg.vector_norm(g, dim=1, keepdim=True))
    return g.reshape(difference.shape)


@dataclass(frozen=True)
class Stability:
    """Stabilities of a predictor to deformations and to noise of the same norm (module doc)."""

    deformation: float  # D_f
    noise: float  # G_f
    relative: float  # R_f = D_f / G_f
    denominator: float  # mean over pairs of test images of (f(x) - f(z))^2
    delta: float  # requested typical displacement, pixels
    temperature: float
    cutoff: float
    convention: str
    rms_displacement: float  # measured on the fields drawn, pixels
    n_images: int
    n_repeats: int


def _predict(
    predict: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, block: int
) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([predict(xb).reshape(-1) for xb in x.split(block)])


def relative_stability(
    predict: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    image_shape: tuple[int, int, int],
    cutoff: float,
    delta: float,
    generator: torch.Generator | None,
    n_repeats: int = 1,
    *,
    convention: str = "exact",
    block: int = 4096,
) -> Stability:
    """D_f, G_f and R_f of `predict` ((m, D) -> (m,)) on images (P, D) of shape (C, H, W).

    Each of the n_repeats rounds draws one field and one noise per image; the means run over images
    and rounds. `convention` sets how delta becomes a temperature (`temperature_for_displacement`).
    """
    p, d = images.shape
    c, h, w = image_shape
    if c * h * w != d:
        raise ValueError(f"image_shape {image_shape} has {c * h * w} values, images have {d}")
    if p < 2:
        raise ValueError(f"need at least 2 images, got {p}")
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be >= 1, got {n_repeats}")
    temperature = temperature_for_displacement(delta, (h, w), cutoff, convention)
    f0 = _predict(predict, images, block)  # (P,)
    denominator = float(2 * f0.var(unbiased=True))
    sq_def = sq_noise = sq_disp = 0.0
    for _ in range(n_repeats):
        deformed, field = deform(images.reshape(p, c, h, w), cutoff, temperature, generator)
        deformed = deformed.reshape(p, d)
        eta = noise_like(deformed - images, generator)  # (P, D)
        sq_def += float((_predict(predict, deformed, block) - f0).pow(2).mean())
        sq_noise += float((_predict(predict, images + eta, block) - f0).pow(2).mean())
        sq_disp += float(field.pow(2).sum(1).mean())
    d_f = sq_def / n_repeats / denominator
    g_f = sq_noise / n_repeats / denominator
    return Stability(
        deformation=d_f,
        noise=g_f,
        relative=d_f / g_f if g_f > 0 else math.nan,
        denominator=denominator,
        delta=delta,
        temperature=temperature,
        cutoff=cutoff,
        convention=convention,
        rms_displacement=math.sqrt(sq_disp / n_repeats),
        n_images=p,
        n_repeats=n_repeats,
    )
