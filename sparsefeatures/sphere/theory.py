"""The theory's learning-curve exponents on the sphere: test error ~ n^-beta (fits: core.fits).

Theory for kernel regression of a target of smoothness nu_t with a kernel whose spectrum decays with
exponent alpha_K (Spigler, Geiger, Wyart 2020; Petrini et al. 2022, eq. 6):
    beta = min(2 nu_t, 2 alpha_K) / (d - 1),  alpha_K = d (NTK), d + 2 (RFK),
with nu_t = infinity for the constant target (sphere.data.smoothness). A lazy network follows its NTK
while its width is large enough (sphere.kinds.network.theory).

Feature learning (derived in this project, not in the paper; README "Theory"): the trained
predictor is a sum of about n ReLU atoms with weights ~1/n at scattered directions. Above the degree
k_c ~ n^(1/(d-1)) that n points resolve, the atoms' harmonics add incoherently: the power at degree
k is ~ n (1/n)^2 k^(d-2) a_k^2, with a_k^2 ~ k^-(d+2) the spectrum of one ReLU (the RFK's), so the
error beyond k_c sums to ~ n^-1 k_c^-3 = n^-((d+2)/(d-1)); the target's own tail adds
k_c^-(2 nu_t). Hence
    beta_feature = min(2 nu_t, d + 2) / (d - 1),
half the RFK's exponent for smooth targets: 2.5 at d = 3, 1.75 at d = 5.
"""

from __future__ import annotations

import math

ALPHA_OFFSET = {"ntk": 0, "rfk": 2}  # alpha_K = d + offset


def theory_beta(kernel: str | None, d: int, nu_t: float) -> float:
    """Kernel-regression exponent of `kernel` ("ntk" or "rfk"); NaN for any other kernel."""
    if kernel not in ALPHA_OFFSET:
        return math.nan
    alpha_k = d + ALPHA_OFFSET[kernel]
    return min(2.0 * nu_t, 2.0 * alpha_k) / (d - 1)


def feature_beta(d: int, nu_t: float) -> float:
    """The feature regime's exponent min(2 nu_t, d + 2) / (d - 1) (module docstring)."""
    return min(2.0 * nu_t, d + 2.0) / (d - 1)
