"""Measures of a network's neurons shared by every setting: their masses and how many carry them.

Neuron mass: m_h = |w_h| ||theta_h||, the weight of neuron h in f(x) = sum_h w_h sigma(theta_h . x)
for a 1-homogeneous activation (relu: relu(theta . x) = ||theta|| relu(theta/||theta|| . x)).
They take arrays (numpy, or anything np.asarray reads, such as CPU tensors) and return numpy.
"""

from __future__ import annotations

import math

import numpy as np


def neuron_masses(theta: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Masses m_h = |w_h| ||theta_h|| (H,) of the neurons of theta (H, d), w (H,)."""
    theta, w = np.asarray(theta, dtype=np.float64), np.asarray(w, dtype=np.float64)
    return np.abs(w) * np.linalg.norm(theta, axis=1)


def participation_ratio(masses: np.ndarray) -> float:
    """Participation ratio (sum_h m_h)^2 / sum_h m_h^2 of nonnegative masses.

    Equals k when k masses are equal and the others 0: the effective number of neurons (or atoms)
    carrying the function. NaN when all masses are 0.
    """
    m = np.asarray(masses, dtype=np.float64).reshape(-1)
    if (m < 0).any():
        raise ValueError("masses must be nonnegative")
    denom = float((m * m).sum())
    return float(m.sum()) ** 2 / denom if denom > 0 else math.nan
