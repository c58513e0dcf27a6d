"""Power-law fits with bootstrap intervals, and the kernel theory."""

import math

import numpy as np
import pytest

from sparsefeatures.core import fits
from sparsefeatures.sphere import theory

N = np.array([16, 32, 64, 128, 256, 512])


def _noisy_power_law(beta, seeds, noise, seed):
    rng = np.random.default_rng(seed)
    return 3.0 * N[:, None] ** -beta * np.exp(noise * rng.standard_normal((len(N), seeds)))


def test_fit_recovers_known_exponent_with_covering_interval():
    covered = 0
    for seed in range(40):
        errors = _noisy_power_law(1.7, seeds=8, noise=0.2, seed=seed)
        beta, low, high = fits.fit_exponent(
            N, errors, points=4, bootstrap=400, rng=np.random.default_rng(seed)
        )
        assert low < beta < high
        assert abs(beta - 1.7) < 0.3
        covered += low <= 1.7 <= high
    # A 95% bootstrap interval with 8 seeds under-covers a little; it must still cover mostly.
    assert covered >= 30


def test_exact_power_law_gives_exact_exponent_and_zero_width():
    errors = np.repeat((N**-2.5)[:, None], 4, axis=1)
    beta, low, high = fits.fit_exponent(N, errors)
    assert beta == pytest.approx(2.5, rel=1e-10)
    assert low == pytest.approx(2.5, rel=1e-10) and high == pytest.approx(2.5, rel=1e-10)


def test_fit_uses_only_the_largest_points_and_skips_missing_runs():
    errors = np.repeat((N**-1.0)[:, None], 3, axis=1)
    errors[:2] = 1.0  # a pre-asymptotic plateau at small n, outside the fit range
    errors[-1, 0] = np.nan  # one missing run
    beta, _, _ = fits.fit_exponent(N, errors, points=4)
    assert beta == pytest.approx(1.0, rel=1e-10)
    errors[-3:] = np.nan
    assert math.isnan(fits.fit_exponent(N, errors, points=4)[0]) is False
    errors[:] = np.nan
    assert all(math.isnan(v) for v in fits.fit_exponent(N, errors))


@pytest.mark.parametrize(
    ("kernel", "d", "nu_t", "expected"),
    [
        ("ntk", 3, math.inf, 3.0),
        ("rfk", 3, math.inf, 5.0),
        ("ntk", 5, 1.5, 0.75),
        ("rfk", 5, 4.5, 2.25),
        ("ntk", 5, 6.5, 2.5),
        ("rfk", 5, 8.5, 3.5),
    ],
)
def test_theory(kernel, d, nu_t, expected):
    assert theory.theory_beta(kernel, d, nu_t) == pytest.approx(expected)


def test_no_kernel_theory_for_other_kernels():
    assert math.isnan(theory.theory_beta(None, 3, math.inf))


@pytest.mark.parametrize(
    ("d", "nu_t", "expected"),
    [(3, math.inf, 2.5), (5, math.inf, 1.75), (2, math.inf, 4.0), (3, 1.5, 1.5), (5, 3.5, 1.75)],
)
def test_feature_theory(d, nu_t, expected):
    """min(2 nu_t, d + 2) / (d - 1): half the RFK's exponent for smooth targets."""
    assert theory.feature_beta(d, nu_t) == pytest.approx(expected)
    assert theory.feature_beta(d, math.inf) == pytest.approx(
        theory.theory_beta("rfk", d, math.inf) / 2
    )
