"""Fitting one regime on one training set and scoring it: the sphere pipeline's compute."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import xarray as xr

from . import kernels, store
from .steps import scalars


def _mse(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((pred - y) ** 2))


def kernel_run(regime: dict, train: xr.Dataset, test: xr.Dataset, threads: int = 1) -> xr.Dataset:
    """Kernel ridge(less) regression of one training set, scored on the test set."""
    x, y = train["x"].values, train["y"].values
    start = time.perf_counter()
    model = kernels.fit(regime["kernel"], x, y, regime["ridge"], threads)
    test_mse = _mse(model.predict(test["x"].values, threads), test["y"].values)
    wall = time.perf_counter() - start
    return scalars(
        test_mse=test_mse,
        train_mse=_mse(model.predict(x, threads), y),
        gram_jitter=model.jitter,
        wall_time=wall,
    )


def network_run(
    regime: dict,
    measures_spec: dict,
    train: xr.Dataset,
    test: xr.Dataset,
    seed: int,
    *,
    device: str = "auto",
    checkpoint_dir: str | Path | None = None,
    checkpoint_every_s: float = 300.0,
    log=None,
) -> xr.Dataset:
    """Train the network of a `kind: network` regime, then score and measure it.

    Checkpoints go to `checkpoint_dir`/<hash of the regime and seed>.pt, so that a checkpoint
    left by a run with other parameters is never resumed; it is removed once the run is done.
    """
    import torch  # only network runs need it: kernel runs start faster without

    from . import measures, network

    spec = network.spec_from_config(regime | {"device": device})
    x = torch.from_numpy(train["x"].values)
    y = torch.from_numpy(train["y"].values)
    x_test = torch.from_numpy(test["x"].values)
    y_test = test["y"].values
    checkpoint = None
    if checkpoint_dir is not None:
        checkpoint = store.checkpoint_slot(checkpoint_dir, [regime, seed])
    result = network.train(
        x, y, spec, seed, checkpoint_path=checkpoint, checkpoint_every_s=checkpoint_every_s, log=log
    )
    pred_test = result.predict(x_test).numpy()
    masses = measures.neuron_masses(result.theta, result.w)
    generator = torch.Generator().manual_seed(seed)
    threshold = measures_spec["atom_threshold"]
    references = {}
    if spec.scaling == "alpha":
        # The lazy regime's references: the network's own linearisation at its initialisation
        # (what a trained network of this width tends to) and the infinite-width NTK.
        pred_lin, _ = network.linearised_predict(result.theta0, result.w0, x, y, x_test)
        ntk = kernels.fit("ntk", train["x"].values, train["y"].values)
        references = {
            "test_mse_linearised": _mse(pred_lin, y_test),
            "test_mse_infinite_width": _mse(ntk.predict(test["x"].values), y_test),
        }
    ds = scalars(
        test_mse=_mse(pred_test, y_test),
        train_mse=_mse(result.predict(x).numpy(), y.numpy()),
        wall_time=result.wall_time,
        **references,
        n_atoms=measures.n_atoms(result.theta, result.w, x, threshold),
        n_atoms_init=measures.sign_patterns(result.theta0, x),
        vanished_fraction=measures.vanished_fraction(masses, threshold),
        participation_ratio=measures.participation_ratio(masses),
        theta_displacement=measures.theta_displacement(result.theta0, result.theta),
        rotation_stability=measures.rotation_stability(
            result.predict, x_test, measures_spec["rotation_angle"], generator
        ),
        converged=float(result.converged),
        steps=float(result.n_steps),
        final_loss=result.final_loss,
    )
    ds["loss"] = (
        "log_step",
        result.loss,
        {"description": "training objective", "units": "target units squared"},
    )
    ds["mse"] = ("log_step", result.mse, {"description": "data term (1/2n) sum (F - y)^2"})
    ds = ds.assign_coords(log_step=("log_step", result.steps, {"description": "gradient step"}))
    ds["theta"] = (
        ("neuron", "dim"),
        result.theta.numpy(),
        {"description": "final first-layer weights"},
    )
    ds["w"] = (("neuron",), result.w.numpy(), {"description": "final second-layer weights"})
    ds["theta0"] = (("neuron", "dim"), result.theta0.numpy(), {"description": "initial theta"})
    ds["w0"] = (("neuron",), result.w0.numpy(), {"description": "initial w"})
    ds.attrs.update(
        stop_reason=result.stop_reason,
        device=str(spec.torch_device()),
        resumed_from=-1 if result.resumed_from is None else result.resumed_from,
    )
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)
    return ds


class NotCertified(RuntimeError):
    """The sparse solver stopped without certifying its duality gap (the message says why)."""


def sparse_run(
    regime: dict, measures_spec: dict, train: xr.Dataset, test: xr.Dataset, seed: int, log=None
) -> xr.Dataset:
    """Solve a `kind: sparse` regime (the feature regime's limit, sparse.solve), score and measure it.

    Raises NotCertified when the solver stops above its gap tolerance: only certified solutions
    are results.

    The atoms (theta_j, c_j) are measured as a network's neurons would be: n_atoms groups them by
    their sign pattern on the training points, the participation ratio is that of their masses.
    """
    import torch  # for the measures, shared with the network regimes

    from . import measures, sparse

    spec = sparse.spec_from_config(regime)
    x, y = train["x"].values, train["y"].values
    start = time.perf_counter()
    result = sparse.solve(x, y, spec, seed, log=log)
    wall = time.perf_counter() - start
    if not result.converged:
        # Not the limit: its numbers would stand in the learning curve for what they are not.
        raise NotCertified(
            f"relative duality gap {result.duality_gap:.3g} above gap_tol {spec.gap_tol:g} after "
            f"{result.iterations} iterations ({wall:.1f} s)"
        )
    theta, c = torch.from_numpy(result.theta), torch.from_numpy(result.c)
    x_t = torch.from_numpy(x)

    def predict(points: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(result.predict(points.numpy()))

    ds = scalars(
        test_mse=_mse(result.predict(test["x"].values), test["y"].values),
        train_mse=_mse(result.predict(x), y),
        wall_time=wall,
        n_atoms=measures.n_atoms(theta, c, x_t, measures_spec["atom_threshold"]),
        participation_ratio=measures.participation_ratio(measures.neuron_masses(theta, c)),
        rotation_stability=measures.rotation_stability(
            predict,
            torch.from_numpy(test["x"].values),
            measures_spec["rotation_angle"],
            torch.Generator().manual_seed(seed),
        ),
        objective=result.objective,
        duality_gap=result.duality_gap,
        dual_violation=result.dual_violation,
        train_residual=result.train_residual,
        converged=float(result.converged),
        steps=float(result.iterations),
    )
    ds["theta"] = (("atom", "dim"), result.theta, {"description": "atom directions (unit)"})
    ds["c"] = (("atom",), result.c, {"description": "atom weights: mu = sum_j c_j delta_theta_j"})
    ds.attrs["stop_reason"] = "gap_tol" if result.converged else "max_iter"
    return ds
