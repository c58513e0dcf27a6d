"""Analytic NTK/RFK against a wide random network, and the Cholesky regression path."""

import math

import numpy as np
import pytest
import torch  # only to build test inputs; the kernels take arrays and tensors

from sparsefeatures.core import kernels

WIDTH = 400_000  # Monte-Carlo neurons: standard error ~ 1/sqrt(WIDTH) ~ 2e-3 of the kernel scale
MC_ATOL = 6e-3
RTOL = 1e-9


def _points(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64)


def _empirical_kernels(x, width, seed):
    """RFK and NTK of f(x) = H^-1/2 sum_h w_h relu(theta_h . x), w, theta ~ N(0, 1), by sampling."""
    g = torch.Generator().manual_seed(seed)
    theta = torch.randn(width, x.shape[1], generator=g, dtype=torch.float64)  # (H, d)
    w = torch.randn(width, generator=g, dtype=torch.float64)  # (H,)
    pre = x @ theta.T  # (n, H)
    act = pre.clamp_min(0)
    rfk = act @ act.T / width  # d f / d w
    gate = (pre > 0).double() * w  # d f / d (theta . x)
    ntk = rfk + (gate @ gate.T / width) * (x @ x.T)
    return rfk, ntk


@pytest.mark.parametrize("d", [2, 5])
def test_kernels_match_wide_random_network(d):
    x = _points(6, d, seed=d)  # off the sphere on purpose: checks the |x||y| factor too
    x = x / x.norm(dim=1, keepdim=True) * torch.linspace(0.5, 1.5, 6, dtype=torch.float64)[:, None]
    rfk_mc, ntk_mc = _empirical_kernels(x, WIDTH, seed=1)
    scale = (x.norm(dim=1)[:, None] * x.norm(dim=1)[None, :]).numpy()
    np.testing.assert_allclose(
        kernels.gram("rfk", x, x) / scale, rfk_mc.numpy() / scale, atol=MC_ATOL
    )
    np.testing.assert_allclose(
        kernels.gram("ntk", x, x) / scale, ntk_mc.numpy() / scale, atol=MC_ATOL
    )


def test_kernel_closed_forms_at_special_angles():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64)
    rfk = kernels.gram("rfk", x, x)
    ntk = kernels.gram("ntk", x, x)
    # phi = 0: k0 = k1 = 1; phi = pi/2: k0 = 1/2, k1 = 1/pi; phi = pi: k0 = k1 = 0.
    assert rfk[0, 0] == pytest.approx(0.5, rel=RTOL)
    assert rfk[0, 1] == pytest.approx(1 / (2 * math.pi), rel=RTOL)
    assert abs(rfk[0, 2]) < 1e-12
    assert ntk[0, 0] == pytest.approx(1.0, rel=RTOL)
    assert ntk[0, 1] == pytest.approx(1 / (2 * math.pi), rel=RTOL)
    assert abs(ntk[0, 2]) < 1e-12


def test_unknown_kernel_is_named():
    with pytest.raises(ValueError, match="unknown kernel 'gauss'"):
        kernels.gram("gauss", torch.ones(2, 2), torch.ones(2, 2))


def test_regression_interpolates_and_matches_direct_solve():
    x = _points(50, 3, seed=3)
    x = x / x.norm(dim=1, keepdim=True)
    y = torch.sin(3 * x[:, 0]) + x[:, 1]
    model = kernels.fit("ntk", x, y)
    assert model.jitter == 0.0
    np.testing.assert_allclose(model.predict(x), y.numpy(), atol=1e-8)
    x_new = _points(7, 3, seed=4)
    k = kernels.gram("ntk", x, x)
    coef = np.linalg.solve(k, y.numpy())  # LU: an independent second method
    expected = kernels.gram("ntk", x_new, x) @ coef
    np.testing.assert_allclose(model.predict(x_new), expected, rtol=1e-6, atol=1e-8)


def test_ill_conditioned_gram_is_solved_accurately():
    """Nearly coincident points make the Gram matrix ill-conditioned but positive definite."""
    x = _points(40, 3, seed=5)
    x = x / x.norm(dim=1, keepdim=True)
    x[1] = x[0] + 1e-5 * x[2]
    x[1] = x[1] / x[1].norm()
    y = x[:, 0].clone()
    k = kernels.gram("rfk", x, x)
    assert np.linalg.cond(k) > 1e8
    model = kernels.fit("rfk", x, y)
    assert model.jitter == 0.0
    # Residual of the linear system, relative to the data: backward-stable solve.
    residual = k @ model.coef - y.numpy()
    assert np.linalg.norm(residual) < 1e-6 * np.linalg.norm(y.numpy())


def test_singular_gram_gets_recorded_jitter_and_ridge_avoids_it():
    x = _points(20, 3, seed=6)
    x = torch.cat([x, x[:3]])  # duplicated points: exactly singular Gram matrix
    y = torch.cat([torch.ones(20), torch.ones(3)]).double()
    model = kernels.fit("ntk", x, y)
    assert model.jitter in kernels.JITTERS
    np.testing.assert_allclose(model.predict(x), y.numpy(), atol=1e-4)
    assert kernels.fit("ntk", x, y, ridge=1e-3).jitter == 0.0


def test_hopeless_gram_raises_named_error():
    k = -np.eye(5)  # negative definite: no jitter can help
    with pytest.raises(kernels.SingularGramError, match="not positive definite"):
        kernels.cholesky_solve(k, np.ones(5))
