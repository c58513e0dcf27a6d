"""Sphere data: nested training sets, uniformity, and the teacher's covariance."""

import math

import numpy as np
import pytest

from sparsefeatures.sphere import data as sphere

TEACHER = {"kind": "teacher", "activation": "abs", "power": 1, "width": 500}


def test_training_sets_are_nested_and_test_set_fixed():
    x_small, y_small = sphere.make_split(TEACHER, "rough", 3, 7, "train", 16)
    x_big, y_big = sphere.make_split(TEACHER, "rough", 3, 7, "train", 512)
    np.testing.assert_array_equal(x_big[:16], x_small)
    np.testing.assert_array_equal(y_big[:16], y_small)
    x_test, _ = sphere.make_split(TEACHER, "rough", 3, 7, "test", 100)
    x_test2, _ = sphere.make_split(TEACHER, "rough", 3, 7, "test", 100)
    np.testing.assert_array_equal(x_test, x_test2)
    assert not np.isin(x_test[:, 0], x_big[:, 0]).any()


def test_inputs_do_not_depend_on_target_but_teachers_do():
    x_a, y_a = sphere.make_split(TEACHER, "a", 3, 0, "train", 50)
    x_b, y_b = sphere.make_split(TEACHER, "b", 3, 0, "train", 50)
    np.testing.assert_array_equal(x_a, x_b)
    assert not np.allclose(y_a, y_b)


def test_points_are_uniform_on_the_sphere():
    x = sphere.uniform_sphere(200_000, 4, np.random.default_rng(0))
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-12)
    # Uniform on S^{d-1}: E[x] = 0 and E[x x^T] = I / d; standard error ~ 1/sqrt(n) ~ 2e-3.
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-2)
    np.testing.assert_allclose(x.T @ x / len(x), np.eye(4) / 4, atol=1e-2)


def test_teacher_covariance_matches_closed_form():
    """E[f*(x) f*(y)] over teachers: Monte-Carlo over many teacher seeds vs the arcsine formula."""
    d, teachers = 3, 20_000
    x = sphere.uniform_sphere(4, d, np.random.default_rng(1))
    values = np.stack(
        [sphere.make_teacher(d, seed, width=10, name="t")(x) for seed in range(teachers)]
    )  # (teachers, points)
    products = values[:, :, None] * values[:, None, :]  # (teachers, points, points)
    empirical = products.mean(axis=0)
    stderr = products.std(axis=0) / np.sqrt(teachers)
    exact = sphere.teacher_covariance(x, x, d)
    assert np.all(np.abs(empirical - exact) < 4 * stderr)
    assert exact[0, 0] == pytest.approx(1 / d, rel=1e-12)  # E[(theta.x)^2] = 1/d on the sphere


def test_constant_target_and_smoothness():
    _, y = sphere.make_split({"kind": "constant"}, "c", 5, 0, "test", 10)
    np.testing.assert_array_equal(y, 1.0)
    assert sphere.smoothness({"kind": "constant"}) == math.inf
    assert sphere.smoothness(TEACHER) == 1.5


def teacher(activation: str, power: float) -> dict:
    return {"kind": "teacher", "activation": activation, "power": power, "width": 200}


@pytest.mark.parametrize(
    ("activation", "power", "nu_t"),
    [
        ("abs", 1, 1.5),  # odd: |t| is singular at 0
        ("abs", 3, 3.5),
        ("abs", 2, math.inf),  # even: |t|^2 = t^2, a polynomial
        ("abs", 4.0, math.inf),
        ("abs", 0.5, 1.0),  # fractional: singular
        ("abs", 2.5, 3.0),
        ("relu", 1, 1.5),  # relu(t)^a = (|t|^a + sign(t)|t|^a) / 2: one half is always singular
        ("relu", 2, 2.5),
        ("relu", 3, 3.5),
        ("relu", 1.5, 2.0),
    ],
)
def test_smoothness_rules(activation, power, nu_t):
    assert sphere.smoothness(teacher(activation, power)) == nu_t


POLYNOMIAL_ATOL = 1e-10


def polynomial_residual(x: np.ndarray, y: np.ndarray, degree: int) -> float:
    """Relative residual of the least-squares fit of y by all monomials of x of degree <= degree."""
    columns = [np.ones(len(x))]
    for k in range(1, degree + 1):
        for powers in np.ndindex(*(k + 1,) * x.shape[1]):
            if sum(powers) == k:
                columns.append(np.prod(x ** np.array(powers), axis=1))
    a = np.stack(columns, axis=1)  # (m, monomials)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    return float(np.linalg.norm(a @ coef - y) / np.linalg.norm(y))


def test_even_abs_teachers_are_polynomials_and_odd_ones_are_not():
    """The rule behind nu_t = infinity: |t|^a with even a is exactly a polynomial of degree a in x."""
    x = sphere.uniform_sphere(400, 3, np.random.default_rng(0))
    for power in (2, 4):
        y = sphere.target_values(teacher("abs", power), "t", x, 3, 0)
        assert polynomial_residual(x, y, power) < POLYNOMIAL_ATOL
    for power in (1, 3):
        y = sphere.target_values(teacher("abs", power), "t", x, 3, 0)
        assert polynomial_residual(x, y, power + 1) > 1e-3


def test_relu_teachers_beyond_power_one_have_an_unlearnable_odd_part():
    """The odd part f(x) - f(-x) of a relu teacher is linear in x only for power 1; any bias-free
    ReLU predictor's odd part is linear (relu(t) - relu(-t) = t)."""
    x = sphere.uniform_sphere(400, 3, np.random.default_rng(1))
    for power, unreachable in ((1, False), (2, True), (3, True), (1.5, True)):
        spec = teacher("relu", power)
        odd = sphere.target_values(spec, "t", x, 3, 0) - sphere.target_values(spec, "t", -x, 3, 0)
        assert (polynomial_residual(x, odd, 1) > 1e-3) == unreachable
        assert (sphere.unreachable_part(spec) is not None) == unreachable
    assert sphere.unreachable_part(teacher("abs", 2)) is None
    assert sphere.unreachable_part({"kind": "constant"}) is None


def test_unknown_activation_is_named():
    with pytest.raises(ValueError, match="unknown teacher activation 'tanh'"):
        sphere.make_teacher(3, 0, 10, activation="tanh")
