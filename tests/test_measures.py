"""Tests of sparsefeatures.core.measures and sparsefeatures.sphere.measures on hand-built networks and functions with closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sparsefeatures.core.measures import neuron_masses, participation_ratio
from sparsefeatures.sphere.data import uniform_sphere
from sparsefeatures.sphere.measures import (
    atom_masses,
    n_atoms,
    rotate,
    rotation_rng,
    rotation_stability,
    sign_patterns,
    theta_displacement,
    vanished_fraction,
)

# Exact arithmetic up to float64 rounding.
ATOL = 1e-12
# Monte-Carlo estimate of the rotation stability of a linear function with M_TEST points: the
# relative standard error of a mean of squares of Gaussians over M points is ~sqrt(2/M) ~ 1%.
M_TEST = 20_000
MC_RTOL = 0.05


def sphere_points(n: int, d: int, seed: int) -> np.ndarray:
    return uniform_sphere(n, d, np.random.default_rng(seed))


def hand_built_network(seed: int = 0):
    """Neurons duplicated on 4 directions (with tiny jitters), plus neurons of zero or tiny mass.

    Returns theta, w, x_train and the expected atom masses (sorted, largest first).
    """
    x = sphere_points(40, 3, seed)
    directions = sphere_points(4, 3, seed + 1)
    # Margin of each direction to the training points' great circles, so that jitters of 1e-9
    # cannot change a sign pattern.
    assert float(np.abs(directions @ x.T).min()) > 1e-6
    g = np.random.default_rng(seed + 2)
    copies = (3, 5, 1, 7)
    theta_rows, w_vals, expected = [], [], []
    for direction, k in zip(directions, copies, strict=True):
        jitter = 1e-9 * g.standard_normal((k, 3))
        scale = 0.5 + g.random(k)  # norms of theta_h
        rows = (direction + jitter) * scale[:, None]
        w = 0.2 + g.random(k)
        theta_rows.append(rows)
        w_vals.append(w)
        expected.append(float((w * np.linalg.norm(rows, axis=1)).sum()))
    # Zero-mass and tiny-mass neurons in random directions: not atoms.
    theta_rows.append(sphere_points(10, 3, seed + 3))
    w_vals.append(np.zeros(10))
    theta_rows.append(sphere_points(6, 3, seed + 4))
    w_vals.append(np.full(6, 1e-8))
    theta = np.concatenate(theta_rows)
    w = np.concatenate(w_vals)
    perm = g.permutation(len(w))
    return theta[perm], w[perm], x, sorted(expected, reverse=True)


def test_atoms_of_a_hand_built_network():
    theta, w, x, expected = hand_built_network()
    assert n_atoms(theta, w, x) == 4
    masses = atom_masses(theta, w, x)
    np.testing.assert_allclose(masses, expected, rtol=0, atol=ATOL)
    # With no threshold the tiny neurons count too (each in its own random cell).
    assert n_atoms(theta, w, x, rel_threshold=0.0) == 4 + 6


def test_measures_read_a_networks_cpu_tensors():
    theta, w, x, _ = hand_built_network()
    tensors = [torch.from_numpy(a) for a in (theta, w, x)]
    np.testing.assert_array_equal(atom_masses(*tensors), atom_masses(theta, w, x))
    assert sign_patterns(tensors[0], tensors[2]) == sign_patterns(theta, x)
    assert participation_ratio(neuron_masses(*tensors[:2])) == participation_ratio(
        neuron_masses(theta, w)
    )


def test_atom_mass_is_the_absolute_signed_sum():
    """Opposite weights in one cell cancel, as in the paper's code: |sum_h w_h ||theta_h|| |."""
    x = sphere_points(10, 3, 0)
    direction = sphere_points(1, 3, 1)
    theta = np.concatenate([direction, direction * 2.0])
    w = np.array([1.0, -0.25])
    np.testing.assert_allclose(atom_masses(theta, w, x), [0.5], rtol=0, atol=ATOL)


def test_directions_with_the_same_pattern_are_one_atom():
    """Two distinct directions inside the same cell of the training set are one atom."""
    x = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    theta = np.array([[1.0, 1.0, 0.0], [1.0, 2.0, 0.5], [-1.0, 1.0, 0.0]])
    w = np.ones(3)
    assert n_atoms(theta, w, x) == 2


def test_no_atoms_without_mass():
    theta = sphere_points(5, 3, 0)
    assert n_atoms(theta, np.zeros(5), sphere_points(4, 3, 1)) == 0


def test_sign_patterns_counts_distinct_rows_and_saturates_at_the_width():
    x = sphere_points(12, 3, 0)
    theta = sphere_points(300, 3, 1)
    rows = {tuple(row) for row in ((theta @ x.T) > 0).tolist()}
    assert sign_patterns(theta, x) == len(rows)
    # Duplicates are one pattern.
    assert sign_patterns(np.concatenate([theta, theta]), x) == len(rows)
    assert sign_patterns(theta[:5], sphere_points(400, 3, 2)) == 5  # many points: one per neuron


def test_vanished_fraction():
    masses = np.array([2.0, 1.0, 1e-4, 0.0])
    assert vanished_fraction(masses, 1e-3) == 0.5
    assert vanished_fraction(masses, 0.0) == 0.25
    assert vanished_fraction(np.zeros(3)) == 1.0


def test_neuron_masses():
    theta = np.array([[3.0, 4.0], [0.0, 2.0]])
    w = np.array([-2.0, 0.5])
    np.testing.assert_allclose(neuron_masses(theta, w), [10.0, 1.0], rtol=0, atol=ATOL)


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
    assert participation_ratio(np.array(masses)) == pytest.approx(expected, abs=ATOL)


def test_participation_ratio_of_zero_masses_is_nan():
    assert math.isnan(participation_ratio(np.zeros(3)))
    with pytest.raises(ValueError):
        participation_ratio(np.array([1.0, -1.0]))


def test_theta_displacement_is_relative_to_the_initial_norm():
    theta0 = np.array([[2.0, 0.0], [0.0, 1.0]])
    theta = np.array([[2.0, 1.0], [0.0, 1.0]])
    assert theta_displacement(theta0, theta) == pytest.approx((1.0 / 2.0 + 0.0) / 2, abs=ATOL)
    # On the unit sphere: the chord 2 sin(angle / 2).
    angle = 0.3
    unit0 = np.array([[1.0, 0.0]])
    unit = np.array([[math.cos(angle), math.sin(angle)]])
    assert theta_displacement(unit0, unit) == pytest.approx(2 * math.sin(angle / 2), abs=ATOL)


@pytest.mark.parametrize("d", [2, 3, 5])
def test_rotated_points_stay_on_the_sphere_at_angle_delta(d):
    x = sphere_points(200, d, 0)
    delta = 0.37
    x_rot = rotate(x, delta, rotation_rng(1))
    np.testing.assert_allclose(np.linalg.norm(x_rot, axis=1), 1.0, rtol=0, atol=ATOL)
    np.testing.assert_allclose((x * x_rot).sum(1), math.cos(delta), rtol=0, atol=ATOL)


@pytest.mark.parametrize(("d", "delta"), [(3, 0.1), (3, 1.0), (5, 0.5)])
def test_rotation_stability_of_a_linear_function(d, delta):
    """f(x) = a . x on the sphere: S = 1 - cos(delta) in expectation, for any a and d.

    Numerator: E[(a . (x' - x))^2] = (1 - cos)^2 E[(a.x)^2] + sin^2 E[(a.b_perp)^2]
    = (|a|^2 / d) 2 (1 - cos delta); denominator: 2 Var(a . x) = 2 |a|^2 / d.
    """
    a = np.linspace(-1.0, 2.0, d)
    x = sphere_points(M_TEST, d, 0)
    s = rotation_stability(lambda z: z @ a, x, delta, rotation_rng(1))
    assert s == pytest.approx(1.0 - math.cos(delta), rel=MC_RTOL)


def test_rotation_stability_without_rotation_is_zero_and_is_reproducible():
    x = sphere_points(100, 3, 0)

    def f(z):
        return np.maximum(z[:, 0], 0.0) + z[:, 1] ** 2

    assert rotation_stability(f, x, 0.0, rotation_rng(0)) == pytest.approx(0.0, abs=ATOL)
    one = rotation_stability(f, x, 0.2, rotation_rng(5))
    two = rotation_stability(f, x, 0.2, rotation_rng(5))
    assert one == two
