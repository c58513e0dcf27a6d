"""Measures of a trained one-hidden-layer network f(x) = (1/N) sum_h w_h relu(theta_h . x).

Atoms and feature displacement (with core.measures' participation ratio) quantify how sparse the learned representation
is (Petrini, Cagnetta, Vanden-Eijnden, Wyart, NeurIPS 2022, arXiv:2206.12314: in the feature regime
neurons collapse onto a number of directions growing about linearly with n); rotation stability
quantifies how smooth the predictor is along small rotations of the input (the sphere analogue of
the diffeomorphism stability of Petrini et al. 2021, arXiv:2105.02468).

Neuron masses: core.measures. The measures take arrays (numpy, or anything np.asarray reads: a
network's CPU tensors), so that a run that trains no network does not import torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..core.measures import neuron_masses

# Default relative mass threshold: a neuron counts towards the atoms if its mass exceeds this
# fraction of the largest neuron mass. Subgradient descent on the L1 penalty leaves the neurons it
# removes oscillating at |w_h| ~ lr * lambda (~1e-4) while the neurons that carry the function
# have |w_h| ~ 1/E[relu] ~ 4 (d = 3, constant target), hence a threshold between the two. (In the
# default sweep's runs no neuron is removed yet: masses stay within a factor ~3 of each other and
# the atoms are the groups of neurons that gradient descent has merged into one sign pattern.)
REL_THRESHOLD = 1e-3
# Second entropy word of the generator of a run's rotations (rotation_rng; the first is the
# seed): they are not the draws of the run's data or solver made with the same seed.
ROTATION_SALT = 0x207A7E


def atom_masses(
    theta: np.ndarray,
    w: np.ndarray,
    x_train: np.ndarray,
    rel_threshold: float = REL_THRESHOLD,
) -> np.ndarray:
    """Masses of the atoms (A,), largest first, as the paper's code counts them.

    Neurons whose mass |w_h| ||theta_h|| exceeds rel_threshold times the largest neuron mass are
    grouped by their sign pattern over the training points, the vector (1{theta_h . x_i > 0})_i;
    each distinct pattern is one atom and its mass is |sum_{h in atom} w_h ||theta_h|| |. Neurons
    in one group act on the training set as a single neuron (relu is linear on the cell of
    directions sharing a pattern), so a patterns count is a count of distinct features as the data
    can see them. Returns an empty array when every w_h is 0.
    """
    theta, w, x_train = _float64(theta), _float64(w), _float64(x_train)
    if not 0 <= rel_threshold < 1:
        raise ValueError(f"rel_threshold must be in [0, 1), got {rel_threshold}")
    masses = neuron_masses(theta, w)  # (H,)
    top = float(masses.max()) if masses.size else 0.0
    if top == 0.0:
        return np.zeros(0)
    keep = masses > rel_threshold * top  # (H,)
    _, group = _unique_patterns(theta[keep], x_train)  # (kept,)
    signed = w[keep] * np.linalg.norm(theta[keep], axis=1)  # (kept,)
    sums = np.zeros(int(group.max()) + 1)
    np.add.at(sums, group, signed)
    return -np.sort(-np.abs(sums))


def n_atoms(
    theta: np.ndarray,
    w: np.ndarray,
    x_train: np.ndarray,
    rel_threshold: float = REL_THRESHOLD,
) -> int:
    """Number of atoms: distinct training-set sign patterns among the neurons above threshold.

    See atom_masses for the definition; the threshold is relative to the largest neuron mass.
    """
    return int(atom_masses(theta, w, x_train, rel_threshold).size)


def _float64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _unique_patterns(theta: np.ndarray, x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct sign patterns (1{theta_h . x_i > 0})_i of the rows of theta, packed 8 to a
    byte (patterns, n / 8), and each row's pattern index (H,)."""
    patterns = np.packbits((theta @ x_train.T) > 0, axis=1)  # (H, n / 8)
    if not len(patterns):
        return patterns, np.zeros(0, dtype=np.int64)
    distinct, group = np.unique(patterns, axis=0, return_inverse=True)
    return distinct, group.reshape(-1)


def sign_patterns(theta: np.ndarray, x_train: np.ndarray) -> int:
    """Number of distinct sign patterns (1{theta_h . x_i > 0})_i among all the neurons of theta.

    The atom count of a network whose neurons all count, e.g. an untrained one (whose w may be 0):
    H random neurons already show up to min(H, ~n^(d-1)) patterns, the ceiling against which a
    trained network's atoms are to be read.
    """
    return len(_unique_patterns(_float64(theta), _float64(x_train))[0])


def vanished_fraction(masses: np.ndarray, rel_threshold: float = REL_THRESHOLD) -> float:
    """Fraction of neurons whose mass is at most rel_threshold times the largest (1 if all are 0).

    The neurons that atom_masses leaves out: those the penalty has removed from the function.
    """
    m = _float64(masses).reshape(-1)
    top = float(m.max()) if m.size else 0.0
    if top == 0.0:
        return 1.0
    return float((m <= rel_threshold * top).mean())


def theta_displacement(theta0: np.ndarray, theta: np.ndarray) -> float:
    """Mean over neurons of ||theta_h - theta0_h|| / ||theta0_h||, the relative feature change.

    Relative to the initial norm so that both scalings read alike: theta_h is a unit vector in
    mean field (so this is the chord length, 2 sin(angle/2)) and standard normal (norm ~ sqrt(d))
    with the alpha-trick, where it is O(1/alpha) in the lazy regime.
    """
    theta0, theta = _float64(theta0), _float64(theta)
    moved = np.linalg.norm(theta - theta0, axis=1)  # (H,)
    return float((moved / np.linalg.norm(theta0, axis=1)).mean())


def rotation_rng(seed: int) -> np.random.Generator:
    """The generator of a run's rotations (rotation_stability's directions), from its seed."""
    return np.random.default_rng([int(seed), ROTATION_SALT])


def rotate(x: np.ndarray, delta: float, rng: np.random.Generator) -> np.ndarray:
    """Rotate each row of x (m, d), on the unit sphere, by the angle delta towards a random direction.

    x' = cos(delta) x + sin(delta) b_perp, with b standard normal, independent for each row, and
    b_perp the unit vector along its component orthogonal to x: x' stays on the sphere and
    x . x' = cos(delta).
    """
    x = _float64(x)
    b = rng.standard_normal(x.shape)  # (m, d)
    while True:
        b -= (b * x).sum(1, keepdims=True) * x
        norm = np.linalg.norm(b, axis=1, keepdims=True)  # (m, 1)
        # b (nearly) parallel to x has no orthogonal direction: draw those rows again. This has
        # probability 0, unless b and x come from identically seeded generators.
        bad = norm[:, 0] < 1e-8
        if not bad.any():
            break
        b[bad] = rng.standard_normal((int(bad.sum()), x.shape[1]))
    return math.cos(delta) * x + math.sin(delta) * (b / norm)


def rotation_stability(
    predict: Callable[[np.ndarray], np.ndarray],
    x_test: np.ndarray,
    delta: float,
    rng: np.random.Generator,
) -> float:
    """S = mean_x (f(x') - f(x))^2 / mean_{x != z} (f(x) - f(z))^2, x' = rotate(x, delta).

    x' rotates each test point by the angle delta towards an independent random direction (see
    rotate); the denominator, over pairs of distinct test points, is computed as twice the
    unbiased variance of f on the test set (the identity mean_{i != j} (f_i - f_j)^2 = 2 var). Small
    S: the predictor hardly changes under small rotations compared with its variation over inputs.
    For a linear f(x) = a . x with x uniform on the sphere, S = 1 - cos(delta) (in expectation).
    """
    x = _float64(x_test)
    if x.shape[0] < 2:
        raise ValueError("rotation_stability needs at least 2 test points")
    f = _float64(predict(x)).reshape(-1)  # (m,)
    f_rot = _float64(predict(rotate(x, delta, rng))).reshape(-1)
    num = float(((f_rot - f) ** 2).mean())
    den = 2.0 * float(f.var(ddof=1))
    return num / den if den > 0 else math.nan
