"""`kind: network`: a one-hidden-layer ReLU network trained by gradient descent (sphere.network),
mean-field (feature learning) or with the alpha-trick (lazy for alpha >> 1), then measured."""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from ...core import fits, kernels, store
from .. import theory as sphere_theory
from ..runs import (
    ATOM_VARIABLES,
    CONVERGENCE_VARIABLES,
    RunContext,
    RunFailed,
    mse,
    scalars,
)

VARIABLES = (
    ATOM_VARIABLES
    | CONVERGENCE_VARIABLES
    | {
        # Alpha-trick networks only: the lazy regime's references on the same data.
        "test_mse_linearised": (
            "test MSE of the network linearised at its initial parameters, solved exactly "
            "(minimum-norm interpolant: regression with its empirical NTK)",
            "target units squared",
        ),
        "test_mse_infinite_width": (
            "test MSE of ridgeless regression with the analytic (infinite-width) NTK",
            "target units squared",
        ),
        "n_atoms_init": (
            "distinct training-set activation patterns of the untrained neurons, all counted: "
            "the ceiling the width puts on n_atoms",
            "1",
        ),
        "vanished_fraction": (
            "fraction of neurons whose mass is below the atom threshold (removed from the function)",
            "1",
        ),
        "theta_displacement": (
            "mean relative distance of the first-layer weights from their "
            "initialisation, |theta_h - theta0_h| / |theta0_h|",
            "1",
        ),
        "final_loss": (
            "training objective at the end (alpha-trick: times alpha^2)",
            "target units squared",
        ),
    }
)

# A lazy network's theory is the analytic NTK's only where its own linearisation (what it converges
# to) stays within this factor of the infinite-width NTK's test error at every fitted n: a ratio r
# at the largest n alone shifts a slope fitted over a factor 8 in n by up to ln(r) / ln(8) (0.2 for
# 1.5).
FINITE_WIDTH_FACTOR = 1.5


def spec_from_config(entry: dict):
    """The regime's NetworkSpec (sphere.network: its fields are the config's keys)."""
    from .. import network  # torch: imported only where a network is built

    return network.spec_from_config(entry)


def run(entry: dict, context: RunContext) -> xr.Dataset:
    """Train the network of a `kind: network` regime, then score and measure it.

    Checkpoints go to `checkpoint_dir`/<hash of the regime and seed>.pt, so that a checkpoint
    left by a run with other parameters is never resumed; it is removed once the run is done.
    """
    import torch  # here only: importing it would add about a second to every step importing VARIABLES

    from ...core import measures as core_measures
    from .. import measures, network

    torch.set_num_threads(context.threads)
    regime = {k: v for k, v in entry.items() if k != "kind"}
    spec = network.spec_from_config(regime | {"device": context.device})
    train, test, seed, measures_spec = context.train, context.test, context.seed, context.measures
    x = torch.from_numpy(train["x"].values)
    y = torch.from_numpy(train["y"].values)
    x_test = torch.from_numpy(test["x"].values)
    y_test = test["y"].values
    checkpoint = None
    if context.checkpoint_dir is not None:
        checkpoint = store.checkpoint_slot(context.checkpoint_dir, [regime, seed])
    try:
        result = network.train(
            x,
            y,
            spec,
            seed,
            checkpoint_path=checkpoint,
            checkpoint_every_s=context.checkpoint_every_s,
            log=context.log,
        )
    except network.TrainingDiverged as err:
        raise RunFailed(str(err)) from err
    pred_test = result.predict(x_test).numpy()
    masses = core_measures.neuron_masses(result.theta, result.w)
    threshold = measures_spec["atom_threshold"]
    references = {}
    if spec.scaling == "alpha":
        # The lazy regime's references: the network's own linearisation at its initialisation
        # (what a trained network of this width tends to) and the infinite-width NTK.
        pred_lin, _ = network.linearised_predict(result.theta0, result.w0, x, y, x_test)
        ntk = kernels.fit("ntk", train["x"].values, train["y"].values)
        references = {
            "test_mse_linearised": mse(pred_lin, y_test),
            "test_mse_infinite_width": mse(ntk.predict(test["x"].values), y_test),
        }
    ds = scalars(
        VARIABLES,
        test_mse=mse(pred_test, y_test),
        train_mse=mse(result.predict(x).numpy(), y.numpy()),
        wall_time=result.wall_time,
        **references,
        n_atoms=measures.n_atoms(result.theta, result.w, x, threshold),
        n_atoms_init=measures.sign_patterns(result.theta0, x),
        vanished_fraction=measures.vanished_fraction(masses, threshold),
        participation_ratio=core_measures.participation_ratio(masses),
        theta_displacement=measures.theta_displacement(result.theta0, result.theta),
        rotation_stability=measures.rotation_stability(
            result.predict,
            test["x"].values,
            measures_spec["rotation_angle"],
            measures.rotation_rng(seed),
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


def theory(entry: dict, d: int, nu_t: float, runs: xr.Dataset, fit: dict) -> tuple[float, str]:
    """Mean-field networks: the feature regime's exponent. Alpha-trick networks with alpha >= 1
    (lazy; Geiger et al. 2020): the NTK's where the width makes it meaningful
    (FINITE_WIDTH_FACTOR), none otherwise; alpha < 1: none (between the two regimes)."""
    if entry.get("scaling", "mean_field") == "mean_field":
        return sphere_theory.feature_beta(d, nu_t), "feature"
    if entry.get("alpha", 1.0) < 1:
        return math.nan, "none: alpha-trick with alpha < 1, between the lazy and feature regimes"
    at_n = runs.sel(n=fits.fit_n(runs["test_mse"], fit)).mean("seed", skipna=True)
    ratio = (at_n["test_mse_linearised"] / at_n["test_mse_infinite_width"]).values  # (n,)
    if not np.isfinite(ratio).all() or len(ratio) == 0:
        return math.nan, "none: no linearised reference in the runs"
    worst = int(np.argmax(ratio))
    if ratio[worst] > FINITE_WIDTH_FACTOR:
        n = int(at_n["n"].values[worst])
        return math.nan, (
            f"none: width {entry.get('width')} too small, its linearisation's test error is "
            f"{ratio[worst]:.3g} x the infinite-width NTK's at n = {n}"
        )
    return sphere_theory.theory_beta("ntk", d, nu_t), "ntk"
