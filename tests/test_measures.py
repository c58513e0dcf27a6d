"""Tests of sparsefeatures.core.measures and sparsefeatures.sphere.measures on hand-built networks and functions with closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from sparsefeatures.core.measures import neuron_masses, participation_ratio
from sparsefeatures.sphere.measures import (
    atom_masses,
    n_atoms,
    rotate,
    rotation_stability,
    sign_patterns,
    theta_displacement,
    vanished_fraction,
)

from .conftest import sphere_points

# Exact arithmetic up to float64 rounding.
ATOL = 1e-12
# Monte-Carlo estimate of the rotation stability of a linear function with M_TEST points: the
# relative standard error of a mean of squares of Gaussians over M points is ~sqrt(2/M) ~ 1%.
M_TEST = 20_000
MC_RTOL = 0.05


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def hand_built_network(seed: int = 0):
    """Neurons duplicated on 4 directions (with tiny jitters), plus neurons of zero or tiny mass.

    Returns theta, w, x_train and the expected atom masses (sorted, largest first).
    """
    x = sphere_points(40, 3, seed)
    directions = sphere_points(4, 3, seed + 1)
    # Margin of each direction to the training points' great circles, so that jitters of 1e-9
    # cannot change a sign pattern.
    assert float((directions @ x.T).abs().min()) > 1e-6
    g = torch.Generator().manual_seed(seed + 2)
    copies = (3, 5, 1, 7)
    theta_rows, w_vals, expected = [], [], []
    for direction, k in zip(directions, copies, strict=True):
        jitter = 1e-9 * torch.randn(k, 3, generator=g, dtype=torch.float64)
        scale = 0.5 + torch.rand(k, generator=g, dtype=torch.float64)  # norms of theta_h
        rows = (direction + jitter) * scale[:, None]
        w = 0.2 + torch.rand(k, generator=g, dtype=torch.float64)
        theta_rows.append(rows)
        w_vals.append(w)
        expected.append(float((w * rows.norm(dim=1)).sum()))
    # Zero-mass and tiny-mass neurons in random directions: not atoms.
    theta_rows.append(sphere_points(10, 3, seed + 3))
    w_vals.append(torch.zeros(10, dtype=torch.float64))
    theta_rows.append(sphere_points(6, 3, seed + 4))
    w_vals.append(torch.full((6,), 1e-8, dtype=torch.float64))
    theta = torch.cat(theta_rows)
    w = torch.cat(w_vals)
    perm = torch.randperm(len(w), generator=g)
    return theta[perm], w[perm], x, sorted(expected, reverse=True)


def test_atoms_of_a_hand_built_network():
    theta, w, x, expected = hand_built_network()
    assert n_atoms(theta, w, x) == 4
    masses = atom_masses(theta, w, x)
    torch.testing.assert_close(
        masses, torch.tensor(expected, dtype=torch.float64), rtol=0, atol=ATOL
    )
    # With no threshold the tiny neurons count too (each in its own random cell).
    assert n_atoms(theta, w, x, rel_threshold=0.0) == 4 + 6


def test_atom_mass_is_the_absolute_signed_sum():
    """Opposite weights in one cell cancel, as in the paper's code: |sum_h w_h ||theta_h|| |."""
    x = sphere_points(10, 3, 0)
    direction = sphere_points(1, 3, 1)
    theta = torch.cat([direction, direction * 2.0])
    w = torch.tensor([1.0, -0.25], dtype=torch.float64)
    torch.testing.assert_close(atom_masses(theta, w, x), torch.tensor([0.5], dtype=torch.float64))


def test_directions_with_the_same_pattern_are_one_atom():
    """Two distinct directions inside the same cell of the training set are one atom."""
    x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    theta = torch.tensor([[1.0, 1.0, 0.0], [1.0, 2.0, 0.5], [-1.0, 1.0, 0.0]], dtype=torch.float64)
    w = torch.ones(3, dtype=torch.float64)
    assert n_atoms(theta, w, x) == 2


def test_no_atoms_without_mass():
    theta = sphere_points(5, 3, 0)
    assert n_atoms(theta, torch.zeros(5, dtype=torch.float64), sphere_points(4, 3, 1)) == 0


def test_sign_patterns_counts_distinct_rows_and_saturates_at_the_width():
    x = sphere_points(12, 3, 0)
    theta = sphere_points(300, 3, 1)
    rows = {tuple(row) for row in ((theta @ x.T) > 0).tolist()}
    assert sign_patterns(theta, x) == len(rows)
    assert sign_patterns(torch.cat([theta, theta]), x) == len(rows)  # duplicates are one pattern
    assert sign_patterns(theta[:5], sphere_points(400, 3, 2)) == 5  # many points: one per neuron


def test_vanished_fraction():
    masses = torch.tensor([2.0, 1.0, 1e-4, 0.0])
    assert vanished_fraction(masses, 1e-3) == 0.5
    assert vanished_fraction(masses, 0.0) == 0.25
    assert vanished_fraction(torch.zeros(3)) == 1.0


def test_neuron_masses():
    theta = torch.tensor([[3.0, 4.0], [0.0, 2.0]], dtype=torch.float64)
    w = torch.tensor([-2.0, 0.5], dtype=torch.float64)
    torch.testing.assert_close(
        neuron_masses(theta, w), torch.tensor([10.0, 1.0], dtype=torch.float64)
    )


@pytest.mark.parametrize(
    ("masses", "expected"),
    [
        ([1.0] * 7, 7.0),  # k equal masses: k
        ([2.5, 0.0, 0.0, 0.0], 1.0),  # one neuron carries everything
        ([3.0, 3.0, 0.0], 2.0),
        ([1.0, 2.0, 3.0], 36.0 / 14.0),  # (1+2+3)^2 / (1+4+9)
    ],
)
def test_participation_ratio_closed_forms(masses, expected):
    assert participation_ratio(torch.tensor(masses)) == pytest.approx(expected, abs=ATOL)


def test_participation_ratio_of_zero_masses_is_nan():
    assert math.isnan(participation_ratio(torch.zeros(3)))
    with pytest.raises(ValueError):
        participation_ratio(torch.tensor([1.0, -1.0]))


def test_theta_displacement_is_relative_to_the_initial_norm():
    theta0 = torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    theta = torch.tensor([[2.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    assert theta_displacement(theta0, theta) == pytest.approx((1.0 / 2.0 + 0.0) / 2, abs=ATOL)
    # On the unit sphere: the chord 2 sin(angle / 2).
    angle = 0.3
    unit0 = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    unit = torch.tensor([[math.cos(angle), math.sin(angle)]], dtype=torch.float64)
    assert theta_displacement(unit0, unit) == pytest.approx(2 * math.sin(angle / 2), abs=ATOL)


@pytest.mark.parametrize("d", [2, 3, 5])
def test_rotated_points_stay_on_the_sphere_at_angle_delta(d):
    x = sphere_points(200, d, 0)
    delta = 0.37
    x_rot = rotate(x, delta, torch.Generator().manual_seed(1))
    torch.testing.assert_close(
        x_rot.norm(dim=1), torch.ones(200, dtype=torch.float64), rtol=0, atol=ATOL
    )
    torch.testing.assert_close(
        (x * x_rot).sum(1),
        torch.full((200,), math.cos(delta), dtype=torch.float64),
        rtol=0,
        atol=ATOL,
    )


@pytest.mark.parametrize(("d", "delta"), [(3, 0.1), (3, 1.0), (5, 0.5)])
def test_rotation_stability_of_a_linear_function(d, delta):
    """f(x) = a . x on the sphere: S = 1 - cos(delta) in expectation, for any a and d.

    Numerator: E[(a . (x' - x))^2] = (1 - cos)^2 E[(a.x)^2] + sin^2 E[(a.b_perp)^2]
    = (|a|^2 / d) 2 (1 - cos delta); denominator: 2 Var(a . x) = 2 |a|^2 / d.
    """
    a = torch.linspace(-1.0, 2.0, d, dtype=torch.float64)
    x = sphere_points(M_TEST, d, 0)
    s = rotation_stability(lambda z: z @ a, x, delta, torch.Generator().manual_seed(1))
    assert s == pytest.approx(1.0 - math.cos(delta), rel=MC_RTOL)


def test_rotation_stability_without_rotation_is_zero_and_is_reproducible():
    x = sphere_points(100, 3, 0)

    def f(z):
        return torch.relu(z[:, 0]) + z[:, 1] ** 2

    assert rotation_stability(f, x, 0.0, torch.Generator().manual_seed(0)) == pytest.approx(
        0.0, abs=ATOL
    )
    one = rotation_stability(f, x, 0.2, torch.Generator().manual_seed(5))
    two = rotation_stability(f, x, 0.2, torch.Generator().manual_seed(5))
    assert one == two
