"""Kernel baselines of the image setting: support-vector classifiers on the NTK and RFK.

The paper compares the trained networks with scikit-learn's SVC on the Gram matrix of the
infinite-width kernels of the same architecture with ReLU units (reference code
leonardopetrini/feature_lazy, ``main_svc.py``: SVC(C=1e20, kernel="precomputed")). The kernels are
those of `sparsefeatures.kernels` (one hidden layer, no bias) evaluated on x / sqrt(D), i.e. with
the network's preactivation theta . x / sqrt(D): then K(x, x) = O(1) for inputs of norm sqrt(D),
so that C has the same meaning whatever the image size. A large C (default 1e20, as there) is a hard
margin: when the training set is separable in feature space (as when the Gram matrix is positive
definite, e.g. for distinct preprocessed images, all of norm sqrt(D)), the SVC is the max-margin
classifier and depends neither on C nor on the kernel's overall scale.

`fit_precomputed` is the plain SVC on any precomputed Gram matrix; the tests check it against a
linear SVC on the explicit feature map of a random-features network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.svm import SVC

from ..core import kernels

HARD_MARGIN_C = 1e20  # the reference code's C: the hard-margin SVM for separable data
SVC_TOL = 1e-6  # libsvm's stopping tolerance on the KKT conditions (sklearn's default is 1e-3)


def gram_matrix(kernel: str, x: torch.Tensor, z: torch.Tensor) -> np.ndarray:
    """Gram matrix (n, m) of kernel "ntk" or "rfk" between the rows of x (n, D) and z (m, D),
    evaluated on inputs divided by sqrt(D) (module docstring), float64."""
    if x.shape[1] != z.shape[1]:
        raise ValueError(f"x and z have {x.shape[1]} and {z.shape[1]} columns")
    s = 1.0 / math.sqrt(x.shape[1])
    x = torch.as_tensor(x).detach().to("cpu", torch.float64) * s
    z = torch.as_tensor(z).detach().to("cpu", torch.float64) * s
    return kernels.gram(kernel, x, z)  # accepts CPU tensors, returns float64 numpy


def fit_precomputed(
    gram_train: np.ndarray,
    y_train: np.ndarray,
    C: float = HARD_MARGIN_C,
    tol: float = SVC_TOL,
    max_iter: int = -1,
) -> SVC:
    """scikit-learn SVC(kernel="precomputed") on the training Gram matrix (n, n), labels (n,) +-1.

    max_iter = -1 is no limit; scikit-learn warns when a positive limit stops libsvm early.
    """
    y = np.asarray(y_train, dtype=np.float64).reshape(-1)
    if gram_train.shape != (len(y), len(y)):
        raise ValueError(f"Gram matrix {gram_train.shape} does not match {len(y)} labels")
    if not np.all(np.isin(y, (-1.0, 1.0))):
        raise ValueError("labels must be -1 or +1")
    svc = SVC(C=C, kernel="precomputed", tol=tol, max_iter=max_iter)
    return svc.fit(np.ascontiguousarray(gram_train, dtype=np.float64), y)


@dataclass(frozen=True)
class KernelSVC:
    """An SVC fitted on a kernel's Gram matrix, with what is needed to predict new points."""

    kernel: str
    C: float
    x_train: torch.Tensor  # (n, D)
    svc: SVC

    def decision_function(self, x: torch.Tensor, block: int = 8192) -> np.ndarray:
        """sum_i a_i y_i K(x, x_i) + b at the rows of x (m, D); positive means class +1."""
        x = torch.as_tensor(x)
        parts = [
            self.svc.decision_function(gram_matrix(self.kernel, xb, self.x_train))
            for xb in x.split(block)
        ]
        return np.concatenate(parts) if parts else np.zeros(0)

    def predict(self, x: torch.Tensor) -> np.ndarray:
        """Labels +-1 at the rows of x (m, D)."""
        return np.where(self.decision_function(x) > 0, 1.0, -1.0)

    def error(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """Fraction of the rows of x misclassified (a zero decision counts as an error)."""
        f = self.decision_function(x)
        return float(np.mean(f * np.asarray(y, dtype=np.float64) <= 0))

    @property
    def n_support(self) -> int:
        return int(self.svc.n_support_.sum())


def fit_kernel_svc(
    kernel: str,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    C: float = HARD_MARGIN_C,
    tol: float = SVC_TOL,
    max_iter: int = -1,
) -> KernelSVC:
    """SVC with the NTK ("ntk") or random-features kernel ("rfk") on x_train (n, D), y (n,)."""
    x = x_train.detach().to("cpu", torch.float64)
    svc = fit_precomputed(gram_matrix(kernel, x, x), np.asarray(y_train), C, tol, max_iter)
    return KernelSVC(kernel=kernel, C=C, x_train=x, svc=svc)
