"""One regime on one (data set, n, seed): fit, score, sparsity and stability. The image pipeline's
compute (torch, scikit-learn), called by `sparsefeatures.images.cli train` and `... svc`.

Each run takes exactly the parameters its result depends on (the rule's canonical JSON):

    {"dataset": name, "dataset_spec": {"source", "data_dir"}, "regime": name, "regime_spec": {...},
     "n": n, "n_test": m, "seed": s, "stability": {"cutoff", "delta", "convention", "repeats",
     "n_points"}, "code": hash of the modules computing it}

Its images are prefixes of its seed's data store (the images_data rule, `seed_data`): the data set's
files are read and ordered once per (data set, seed), not in every run.

One seed fixes the training subset, the test subset and the network's initialisation (the paper
drew these separately; one seed per run averages over all three at once). The deformations and
noises of the stability measure come from a generator seeded by the run's seed alone, so every
regime and every n of a seed is measured on the same deformed images (common random numbers: the
differences between regimes are not blurred by the draw).

Stability acts on the physical images: test images in pixel values are deformed (or get noise),
then preprocessed like the training images (centred, norm sqrt(D)) and fed to the predictor: the
network's F = alpha (f_w - f_w0), or the SVC's decision function. R_f is a ratio of two mean
squared changes of the same predictor, so its scale does not matter.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from ..core import aggregate, store
from ..core.measures import neuron_masses
from . import diffeo, task, training
from .steps import RUN_VARIABLES

# Stream of the stability generator's seed sequence (the data's training and test orders use 0, 1).
STABILITY_STREAM = 2


def seed_data(params: dict, path: str | Path | None = None) -> task.SeedData:
    """The run's seed's data: the data store at `path` (written by the images_data rule,
    `sparsefeatures.images.cli data`), checked to be of the run's data set and seed, or, without
    one, made here from the data set's files."""
    spec = params["dataset_spec"]
    if path is None:
        return task.seed_data(spec["source"], params["seed"], spec.get("data_dir"))
    stored = store.read(path)
    made = store.params_of(stored)
    if made["dataset_spec"]["source"] != spec["source"] or made["seed"] != params["seed"]:
        raise ValueError(
            f"{path}: data of {made['dataset_spec']['source']} seed {made['seed']}, but the run "
            f"is on {spec['source']} seed {params['seed']}"
        )
    return task.from_xarray(stored)


def load(params: dict, data: task.SeedData | None = None) -> task.ImageDataset:
    """The run's training set (n images) and test set (n_test images): prefixes of its seed's
    balanced orders (`data`, else `seed_data(params)`)."""
    data = seed_data(params) if data is None else data
    return data.dataset(params["n"], params["n_test"])


def stability(
    predict: Callable[[torch.Tensor], torch.Tensor | np.ndarray],
    data: task.ImageDataset,
    spec: dict,
    seed: int,
) -> tuple[dict, dict]:
    """(data variables D_f, G_f, R_f, rms_displacement; attributes) of `predict` (preprocessed
    images (m, D) -> outputs (m,)) on the first n_points test images, deformed in pixel space."""
    n_points = spec["n_points"] or len(data.raw_test)
    if n_points > len(data.raw_test):
        raise ValueError(f"stability.n_points = {n_points} exceeds n_test = {len(data.raw_test)}")
    state = np.random.SeedSequence([seed, STABILITY_STREAM]).generate_state(1)  # (1,) uint32
    generator = torch.Generator().manual_seed(int(state[0]))
    result = diffeo.relative_stability(
        lambda raw: torch.as_tensor(predict(data.preprocess(raw))),
        data.raw_test[:n_points],  # (n_points, D) pixel values
        data.image_shape,
        spec["cutoff"],
        spec["delta"],
        generator,
        spec["repeats"],
        convention=spec["convention"],
    )
    values = aggregate.scalars(
        RUN_VARIABLES,
        D_f=result.deformation,
        G_f=result.noise,
        R_f=result.relative,
        rms_displacement=result.rms_displacement,
    )
    attrs = {
        "stability_temperature": result.temperature,
        "stability_images": result.n_images,
        "stability_output_pair_msd": result.denominator,
    }
    return values, attrs


def _attrs(params: dict, data: task.ImageDataset) -> dict:
    return {
        "dataset": params["dataset"],
        "regime": params["regime"],
        "n": params["n"],
        "seed": params["seed"],
        "data_source": data.source,
        "image_shape": list(data.image_shape),
    }


def error_rate(f: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> float:
    """Fraction of outputs f (m,) whose sign is not the label y (m,) in {-1, +1} (0 is an error)."""
    return float(np.mean(np.asarray(f) * np.asarray(y, dtype=np.float64) <= 0))


def network_spec(regime_spec: dict, device: str = "cpu", **extra) -> training.ImageNetworkSpec:
    """The ImageNetworkSpec of a validated network regime (its kind dropped, device added)."""
    fields = {k: v for k, v in regime_spec.items() if k != "kind"}
    return training.ImageNetworkSpec(**fields, device=device, **extra)


def checkpoint_file(directory: str | Path, params: dict) -> Path:
    """Checkpoint of a run in `directory`, named by a hash of what its trajectory depends on.

    The caps (max_steps, max_wall_s) are left out, so that a rerun with a larger cap resumes where
    a capped run stopped; any other change gives another name, so a stale checkpoint is never
    resumed (training would refuse it); other checkpoints in `directory` are removed.
    """
    key = {k: v for k, v in params.items() if k != "stability"}
    spec = params["regime_spec"]
    key["regime_spec"] = {k: v for k, v in spec.items() if k not in training.CAP_FIELDS}
    return store.checkpoint_slot(directory, key)


HISTORY = (
    ("history_step", "accepted steps at the record"),
    ("history_time", "flow time t (sum of the accepted steps dt)"),
    ("history_loss", "mean smoothed hinge loss over the training set"),
    ("history_fitted", "fraction of the training set fitted with margin"),
    ("history_dt", "adaptive step dt"),
)


# Stop reasons after which training could go on: their checkpoint is kept for a rerun with a larger
# cap. After the others (fitted, step_underflow) it is removed, as in the sphere's network runs.
RESUMABLE = ("max_steps", "wall_time")


def train_run(
    params: dict,
    *,
    device: str = "auto",
    checkpoint_dir: str | Path | None = None,
    checkpoint_every_s: float = 300.0,
    data: task.SeedData | None = None,
    log=None,
) -> xr.Dataset:
    """Train one network regime on one (data set, n, seed); score, sparsity and stability.

    With `checkpoint_dir`, training checkpoints there (every checkpoint_every_s seconds and when it
    stops) and resumes from a checkpoint of the same run; other checkpoints there are removed, and
    so is this one once training is over (unless a cap stopped it, see RESUMABLE). `data`: the
    seed's data (`seed_data`; made from the files if None).
    """
    data = load(params, data)
    spec = network_spec(params["regime_spec"], device, checkpoint_every_s=checkpoint_every_s)
    path = None
    if checkpoint_dir is not None:
        path = checkpoint_file(checkpoint_dir, params)
    result = training.train(data.x_train, data.y_train, spec, params["seed"], path, log=log)
    if path is not None and result.stop_reason not in RESUMABLE:
        path.unlink(missing_ok=True)
    net = result.network
    values, stability_attrs = stability(net, data, params["stability"], params["seed"])
    theta, outgoing = net.first_layer()
    history = np.asarray(result.history, dtype=np.float64)  # (records, 5)
    data_vars = aggregate.scalars(
        RUN_VARIABLES,
        test_error=error_rate(net(data.x_test), data.y_test),
        train_error=result.train_error,
        train_loss=result.train_loss,
        fitted=result.fitted,
        participation_ratio=result.participation_ratio,
        n_active=result.n_active,
        n_directions=result.n_directions,
        first_layer_change=result.first_layer_change,
        converged=result.stop_reason == "fitted",
        steps=result.steps,
        wall_time=result.wall_time_s,
    )
    data_vars.update(values)
    data_vars["neuron_mass"] = (
        ("neuron",),
        neuron_masses(theta, outgoing),  # (width,)
        {"description": "first-layer neuron masses m_h = |w_h| |theta_h|", "units": "1"},
    )
    for i, (name, description) in enumerate(HISTORY):
        data_vars[name] = (("record",), history[:, i], {"description": description})
    attrs = _attrs(params, data) | stability_attrs
    attrs.update(
        stop_reason=result.stop_reason,
        evaluations=result.evaluations,
        rejected=result.rejected,
        resumed_from_step=-1 if result.resumed_from_step is None else result.resumed_from_step,
        device=str(net.device),
        spec=json.dumps(dataclasses.asdict(spec), sort_keys=True),
    )
    return xr.Dataset(data_vars, attrs=attrs)


def svc_run(params: dict, *, data: task.SeedData | None = None) -> xr.Dataset:
    """Fit one kernel SVC regime on one (data set, n, seed); score and stability. `data`: the
    seed's data (`seed_data`; made from the files if None)."""
    from . import svc  # scikit-learn: not imported by network runs on file-based data sets

    data = load(params, data)
    regime = params["regime_spec"]
    start = time.perf_counter()
    model = svc.fit_kernel_svc(regime["kernel"], data.x_train, data.y_train, C=regime["C"])
    wall = time.perf_counter() - start
    values, stability_attrs = stability(
        model.decision_function, data, params["stability"], params["seed"]
    )
    data_vars = aggregate.scalars(
        RUN_VARIABLES,
        test_error=error_rate(model.decision_function(data.x_test), data.y_test),
        train_error=error_rate(model.decision_function(data.x_train), data.y_train),
        n_support=model.n_support,
        converged=model.svc.fit_status_ == 0,
        steps=np.sum(model.svc.n_iter_),
        wall_time=wall,
    )
    data_vars.update(values)
    return xr.Dataset(data_vars, attrs=_attrs(params, data) | stability_attrs)
