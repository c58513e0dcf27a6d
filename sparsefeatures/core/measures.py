"""Measures of a network's neurons shared by every setting: their masses and how many carry them.

Neuron mass: m_h = |w_h| ||theta_h||, the weight of neuron h in f(x) = sum_h w_h sigma(theta_h . x)
for a 1-homogeneous activation (relu: relu(theta . x) = ||theta|| relu(theta/||theta|| . x)).
"""

from __future__ import annotations

import math

import torch


def neuron_masses(theta: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Masses m_h = |w_h| ||theta_h|| (H,) of the neurons of theta (H, d), w (H,)."""
    return w.abs() * torch.linalg.vector_norm(theta, dim=1)


def participation_ratio(masses: torch.Tensor) -> float:
    """Participation ratio (sum_h m_h)^2 / sum_h m_h^2 of nonnegative masses.

    Equals k when k masses are equal and the others 0: the effective number of neurons (or atoms)
    carrying the function. NaN when all masses are 0.
    """
    m = torch.as_tensor(masses).to(torch.float64).reshape(-1)
    if bool((m < 0).any()):
        raise ValueError("masses must be nonnegative")
    denom = float((m * m).sum())
    return float(m.sum()) ** 2 / denom if denom > 0 else math.nan
