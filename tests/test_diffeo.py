"""Deformations and relative stability of sparsefeatures.images.diffeo.

The displacement field is checked against its defining double sum, the resampling against a
per-pixel bilinear interpolation written here in numpy (the reference code's floor / ceil form),
the typical displacement against fields actually drawn.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sparsefeatures.images import diffeo

RTOL = 1e-12  # float64 evaluations of the same sums
ATOL = 1e-12
# Monte-Carlo: 4000 fields of 28 x 28 pixels, each field's mean |tau|^2 has a relative standard
# deviation of about 0.6 (a few independent modes), so the mean over fields has about 1%; 4%
# on the mean square is 4 standard deviations.
MC_RTOL = 0.04
N_FIELDS = 4000


def numpy_bilinear(images: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """out[b, c, r, q] = images[b, c] at (r - dy, q - dx) clamped, bilinear, pixel by pixel."""
    b, c, h, w = images.shape
    out = np.empty_like(images)
    for n in range(b):
        for r in range(h):
            for q in range(w):
                x = min(max(q - dx[n, r, q], 0.0), w - 1.0)
                y = min(max(r - dy[n, r, q], 0.0), h - 1.0)
                xf, yf = math.floor(x), math.floor(y)
                xc, yc = math.ceil(x), math.ceil(y)
                tx, ty = x - xf, y - yf
                a = images[n, :, yf, xf] * (1 - tx) + images[n, :, yf, xc] * tx
                d = images[n, :, yc, xf] * (1 - tx) + images[n, :, yc, xc] * tx
                out[n, :, r, q] = a * (1 - ty) + d * ty
    return out


def test_modes():
    i, j = diffeo.modes(3)
    assert sorted(zip(i.tolist(), j.tolist(), strict=True)) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert len(diffeo.modes(5)[0]) == sum(
        1 for a in range(1, 6) for b in range(1, 6) if a * a + b * b <= 25
    )
    with pytest.raises(ValueError, match="no mode"):
        diffeo.modes(1)


def test_field_matches_its_formula():
    h, w, cutoff = 5, 7, 4
    gen = torch.Generator().manual_seed(0)
    coef = diffeo.sample_coefficients(2, cutoff, 0.3, gen)  # (2, 2, K)
    field = diffeo.displacement_field(coef, cutoff, h, w).numpy()
    i, j = (m.numpy() for m in diffeo.modes(cutoff))
    c = coef.numpy()
    for b in range(2):
        for r in range(h):
            for q in range(w):
                u, v = q / (w - 1), r / (h - 1)
                basis = np.sin(np.pi * i * u) * np.sin(np.pi * j * v)
                np.testing.assert_allclose(
                    field[b, 0, r, q], w * c[b, 0] @ basis, rtol=RTOL, atol=ATOL
                )
                np.testing.assert_allclose(
                    field[b, 1, r, q], h * c[b, 1] @ basis, rtol=RTOL, atol=ATOL
                )
    assert np.abs(field[:, :, 0]).max() < ATOL and np.abs(field[:, :, :, -1]).max() < ATOL


def test_identity_at_zero_temperature():
    images = torch.randn(3, 2, 9, 11, dtype=torch.float64)
    deformed, field = diffeo.deform(images, 3, 0.0, torch.Generator().manual_seed(1))
    assert torch.equal(field, torch.zeros_like(field))
    assert torch.equal(deformed, images)  # bit for bit


def test_bilinear_against_numpy():
    gen = torch.Generator().manual_seed(2)
    images = torch.randn(3, 2, 6, 9, generator=gen, dtype=torch.float64)
    # Displacements of up to 4 pixels, so that many positions are clamped at the border.
    field = 4 * (2 * torch.rand(3, 2, 6, 9, generator=gen, dtype=torch.float64) - 1)
    got = diffeo.apply_displacement(images, field).numpy()
    expected = numpy_bilinear(images.numpy(), field[:, 0].numpy(), field[:, 1].numpy())
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


def test_integer_shift():
    images = torch.arange(2 * 4 * 5, dtype=torch.float64).reshape(2, 1, 4, 5)
    field = torch.zeros(2, 2, 4, 5, dtype=torch.float64)
    field[:, 0] = 1.0  # dx = 1: each pixel takes its left neighbour's value
    out = diffeo.apply_displacement(images, field)
    assert torch.equal(out[..., 1:], images[..., :-1])
    assert torch.equal(out[..., 0], images[..., 0])  # clamped at the border


@pytest.mark.parametrize("size, cutoff", [(28, 3), ((16, 24), 5)])
def test_requested_displacement_is_measured_on_the_fields(size, cutoff):
    delta = 1.3
    h, w = (size, size) if isinstance(size, int) else size
    temperature = diffeo.temperature_for_displacement(delta, size, cutoff)
    gen = torch.Generator().manual_seed(3)
    coef = diffeo.sample_coefficients(N_FIELDS, cutoff, temperature, gen)
    field = diffeo.displacement_field(coef, cutoff, h, w)
    measured = float(field.pow(2).sum(1).mean())  # mean over fields and pixels of |tau|^2
    assert measured == pytest.approx(delta**2, rel=MC_RTOL)


def test_paper_temperature_formula_and_its_displacement():
    n, cutoff, delta = 28, 3, 1.0
    t_paper = diffeo.temperature_for_displacement(delta, n, cutoff, "paper")
    assert t_paper == pytest.approx(4 * delta**2 / (math.pi * n**2 * math.log(cutoff)), rel=RTOL)
    # With only four modes below c = 3, the paper's temperature moves pixels by 0.743 delta.
    ratio = diffeo.typical_displacement(t_paper, n, cutoff) / delta
    assert ratio == pytest.approx(0.743, abs=1e-3)
    gen = torch.Generator().manual_seed(4)
    field = diffeo.displacement_field(
        diffeo.sample_coefficients(N_FIELDS, cutoff, t_paper, gen), cutoff, n, n
    )
    assert math.sqrt(float(field.pow(2).sum(1).mean())) == pytest.approx(
        ratio * delta, rel=MC_RTOL / 2
    )


def test_noise_has_the_norm_of_the_deformation():
    gen = torch.Generator().manual_seed(5)
    diff = (
        torch.randn(6, 3, 4, 4, generator=gen, dtype=torch.float64)
        * torch.arange(1, 7)[:, None, None, None]
    )
    diff[2] = 0.0
    eta = diffeo.noise_like(diff, gen)
    torch.testing.assert_close(
        eta.flatten(1).norm(dim=1), diff.flatten(1).norm(dim=1), rtol=RTOL, atol=ATOL
    )
    cos = (eta.flatten(1) * diff.flatten(1)).sum(1)[[0, 1, 3]] / diff.flatten(1).norm(dim=1)[
        [0, 1, 3]
    ] ** 2
    assert float(cos.abs().max()) < 0.9  # noise, not a copy of the deformation


def smooth_images(n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """Images (n, size^2) made of a few low-frequency waves, smooth at the pixel scale."""
    u = torch.linspace(0, 1, size, dtype=torch.float64)
    waves = torch.stack(
        [torch.outer(torch.sin(a * u), torch.cos(b * u)) for a in (1, 2, 3) for b in (1, 2, 3)]
    )
    coef = torch.randn(n, 9, generator=gen, dtype=torch.float64)
    return (coef @ waves.reshape(9, -1)).reshape(n, -1)


SIZE = 16
COMMON = dict(image_shape=(1, SIZE, SIZE), cutoff=3, delta=1.0, n_repeats=2)


def test_border_predictor_is_invariant_to_deformations():
    """The field vanishes on the border: a predictor reading only border pixels has D_f = 0."""
    images = smooth_images(50, SIZE, torch.Generator().manual_seed(6))
    border = torch.ones(SIZE, SIZE, dtype=torch.float64)
    border[1:-1, 1:-1] = 0

    def predict(x: torch.Tensor) -> torch.Tensor:
        return x @ border.reshape(-1)

    s = diffeo.relative_stability(
        predict, images, generator=torch.Generator().manual_seed(7), **COMMON
    )
    # sin(pi) = 1.2e-16 in floating point: the far border moves by ~1e-16 pixel, not exactly 0.
    assert s.noise > 0 and s.relative < 1e-20


def test_stability_means_by_hand():
    """D_f, G_f and the denominator recomputed from the same draws of fields and noise."""
    gen_images = torch.Generator().manual_seed(8)
    images = smooth_images(30, SIZE, gen_images)
    w = torch.randn(SIZE * SIZE, generator=gen_images, dtype=torch.float64)

    def predict(x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x @ w / 10)

    s = diffeo.relative_stability(
        predict, images, generator=torch.Generator().manual_seed(9), **COMMON
    )
    gen = torch.Generator().manual_seed(9)
    temperature = diffeo.temperature_for_displacement(1.0, SIZE, 3)
    f0 = predict(images)
    d = g = 0.0
    for _ in range(2):
        deformed, _ = diffeo.deform(images.reshape(30, 1, SIZE, SIZE), 3, temperature, gen)
        deformed = deformed.reshape(30, -1)
        eta = diffeo.noise_like(deformed - images, gen)
        d += float((predict(deformed) - f0).pow(2).mean()) / 2
        g += float((predict(images + eta) - f0).pow(2).mean()) / 2
    pairs = float((f0[:, None] - f0[None, :]).pow(2).sum()) / (30 * 29)
    assert s.denominator == pytest.approx(pairs, rel=RTOL)
    assert s.deformation == pytest.approx(d / pairs, rel=RTOL)
    assert s.noise == pytest.approx(g / pairs, rel=RTOL)
    assert s.relative == pytest.approx(d / g, rel=RTOL)
    again = diffeo.relative_stability(
        predict, images, generator=torch.Generator().manual_seed(9), **COMMON
    )
    assert again == s  # reproducible from the generator's seed


def test_smooth_predictors_are_less_stable_to_deformations_than_to_noise():
    """tau x - x is smooth for smooth images: it projects on a smooth direction (the total
    intensity) much more than isotropic noise of the same norm does, hardly on a checkerboard."""
    images = smooth_images(100, SIZE, torch.Generator().manual_seed(10))
    checker = (-1.0) ** (torch.arange(SIZE)[:, None] + torch.arange(SIZE)[None, :]).to(
        torch.float64
    )

    def total(x: torch.Tensor) -> torch.Tensor:
        return x.sum(1)

    def alternating(x: torch.Tensor) -> torch.Tensor:
        return x @ checker.reshape(-1)

    s_total = diffeo.relative_stability(
        total, images, generator=torch.Generator().manual_seed(11), **COMMON
    )
    s_alt = diffeo.relative_stability(
        alternating, images, generator=torch.Generator().manual_seed(11), **COMMON
    )
    assert s_total.relative > 10 and s_alt.relative < 0.1
    assert s_total.rms_displacement == pytest.approx(1.0, rel=0.15)
