"""What every sphere run shares: the context a run step hands to its kind, the scalars every kind
stores, and how a run reports a numerical failure (registry.py describes the kinds)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from ..core import aggregate

# name -> (description, units) of the scalars every run stores.
COMMON_VARIABLES = {
    "test_mse": ("mean squared error on the test set", "target units squared"),
    "train_mse": ("mean squared error on the training set", "target units squared"),
    "wall_time": ("wall-clock time of the fit", "s"),
}

# ... by every kind whose runs have atoms (networks' neurons, the sparse limit's atoms) ...
ATOM_VARIABLES = {
    "n_atoms": (
        "number of atoms: distinct training-set activation patterns among the neurons (or "
        "atoms) of non-negligible mass (sphere.measures.n_atoms)",
        "1",
    ),
    "participation_ratio": (
        "effective number of neurons (or atoms), (sum m_h)^2 / sum m_h^2 of the masses "
        "m_h = |w_h| |theta_h|",
        "1",
    ),
    "rotation_stability": (
        "mean squared change of the predictor when test points are rotated by "
        "the configured angle, over twice its variance",
        "1",
    ),
}
# ... and by every kind that iterates to a tolerance.
CONVERGENCE_VARIABLES = {
    "converged": (
        "1 if the fit met its convergence criterion (networks: a loss tolerance; sparse: the "
        "duality-gap tolerance), 0 if it hit its step or iteration cap",
        "1",
    ),
    "steps": ("gradient steps (networks) or column-generation iterations (sparse)", "1"),
}


class RunFailed(RuntimeError):
    """A run that failed numerically (a diverging training, an uncertified solve): a result of its
    parameters, recorded as a failed run with this message as the reason, not a crash."""


@dataclass(frozen=True)
class RunContext:
    """What a run step hands to its kind besides the regime's entry."""

    train: xr.Dataset  # x (sample, dim), y (sample)
    test: xr.Dataset
    seed: int  # of the data; networks initialise and solvers draw from it too
    measures: dict | None = None  # sphere.measures settings, for kinds that count atoms
    threads: int = 1
    device: str = "auto"  # where networks train (training.device)
    checkpoint_dir: str | Path | None = None  # where long runs checkpoint and resume from
    checkpoint_every_s: float = 300.0
    log: Callable[..., None] | None = None  # progress lines (logging.info's signature)


def mse(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((pred - y) ** 2))


def scalars(variables: dict[str, tuple[str, str]], **values: float) -> xr.Dataset:
    """A run's scalars, described by COMMON_VARIABLES and the kind's `variables`."""
    return xr.Dataset(aggregate.scalars(COMMON_VARIABLES | variables, **values))
