"""Kernel SVC baselines (sparsefeatures.images.svc).

The SVC on a precomputed Gram matrix is checked against scikit-learn's linear SVC on the explicit
feature map of a random-features network, and the Gram matrix's convention (preactivation
theta . x / sqrt(D)) against a wide random-features network of that architecture.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.svm import SVC

from sparsefeatures.images import svc, task

# Same optimisation problem through two routes: the Gram matrices differ by float64 rounding and
# libsvm stops at tol = 1e-6 on the KKT conditions, so decision functions (of order 1) agree to
# about 1e-5.
DECISION_ATOL = 1e-4
# Monte-Carlo: 40000 random features; kernel values up to ~1.2, standard deviation of the estimate
# below 0.01, so 0.05 is over 5 standard deviations.
MC_ATOL = 0.05


def random_features(x: torch.Tensor, theta: torch.Tensor) -> np.ndarray:
    """Phi(x) = relu(theta x / sqrt(D)) / sqrt(H) (n, H): Phi Phi^T -> RFK as H -> infinity."""
    d, h = x.shape[1], theta.shape[0]
    return (torch.relu(x @ theta.T / math.sqrt(d)) / math.sqrt(h)).numpy()


@pytest.fixture(scope="module")
def problem():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(70, 12, generator=gen, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True) * math.sqrt(12)  # norm sqrt(D), as preprocessed images
    w = torch.randn(12, generator=gen, dtype=torch.float64)
    y = torch.where(torch.sin(2 * x @ w) > 0, 1.0, -1.0)  # a nonlinear rule
    theta = torch.randn(300, 12, generator=gen, dtype=torch.float64)
    return x[:50], y[:50], x[50:], theta


@pytest.mark.parametrize("C", [1.0, svc.HARD_MARGIN_C])
def test_precomputed_random_features_equals_linear_svc(problem, C):
    x, y, x_test, theta = problem
    phi, phi_test = random_features(x, theta), random_features(x_test, theta)
    precomputed = svc.fit_precomputed(phi @ phi.T, y.numpy(), C=C)
    linear = SVC(C=C, kernel="linear", tol=svc.SVC_TOL).fit(phi, y.numpy())
    f_pre = precomputed.decision_function(phi_test @ phi.T)
    f_lin = linear.decision_function(phi_test)
    np.testing.assert_allclose(f_pre, f_lin, atol=DECISION_ATOL, rtol=0)
    np.testing.assert_array_equal(np.sign(f_pre), np.sign(f_lin))
    np.testing.assert_array_equal(precomputed.predict(phi @ phi.T), linear.predict(phi))
    if C == svc.HARD_MARGIN_C:  # hard margin: every training point on the right side, margin >= 1
        margins = y.numpy() * precomputed.decision_function(phi @ phi.T)
        assert margins.min() > 1 - DECISION_ATOL


def test_gram_matrix_is_the_wide_random_features_limit():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(15, 10, generator=gen, dtype=torch.float64)
    x = x * (
        0.5 + torch.rand(15, 1, generator=gen, dtype=torch.float64)
    )  # norms of 0.5..1.5 sqrt(D)
    theta = torch.randn(40000, 10, generator=gen, dtype=torch.float64)
    phi = random_features(x, theta)
    np.testing.assert_allclose(svc.gram_matrix("rfk", x, x), phi @ phi.T, atol=MC_ATOL, rtol=0)
    k = svc.gram_matrix("ntk", x, x)
    np.testing.assert_allclose(k, k.T, rtol=0, atol=1e-12)
    assert np.linalg.eigvalsh(k).min() > 0


def test_kernel_svc_on_digits():
    data = task.make_image_dataset("digits", 100, 200, seed=0)
    for kernel in ("ntk", "rfk"):
        model = svc.fit_kernel_svc(kernel, data.x_train, data.y_train)
        assert model.error(data.x_train, data.y_train) == 0.0  # hard margin, separable
        assert model.error(data.x_test, data.y_test) < 0.25  # far better than chance (0.5)
        f = model.decision_function(data.x_test)
        np.testing.assert_array_equal(model.predict(data.x_test), np.where(f > 0, 1.0, -1.0))
        assert 0 < model.n_support <= 100


def test_input_checks():
    with pytest.raises(ValueError, match="does not match"):
        svc.fit_precomputed(np.eye(3), np.ones(4))
    with pytest.raises(ValueError, match="-1 or \\+1"):
        svc.fit_precomputed(np.eye(2), np.array([0.0, 1.0]))
