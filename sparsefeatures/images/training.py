"""Fully connected softplus network on images, trained by gradient flow with the alpha-trick.

References: M. Geiger, S. Spigler, A. Jacot, M. Wyart, *Disentangling feature and lazy training in
deep neural networks*, J. Stat. Mech. 2020 (arXiv:1906.08034); L. Chizat, E. Oyallon, F. Bach, *On
lazy training in differentiable programming*, NeurIPS 2019; L. Petrini, F. Cagnetta,
E. Vanden-Eijnden, M. Wyart, NeurIPS 2022 (arXiv:2206.12314), whose image experiments this follows.

Network (NTK parametrisation, every parameter standard normal at initialisation), depth L, width h:

    a_0 = x (D,),  z_l = W_l a_{l-1} / sqrt(fan_in) [+ b_l],  a_l = sigma(z_l)  (l = 1..L),
    f_w(x) = w . a_L / sqrt(h),
    sigma(z) = k_beta softplus(beta z) / beta,

with k_beta = E_{z ~ N(0,1)}[(softplus(beta z)/beta)^2]^(-1/2), so that sigma has unit second
moment under standard Gaussian preactivations (as the reference code, which estimated it by
Monte-Carlo; here a quadrature). Inputs have norm sqrt(D), so preactivations are O(1).

Alpha-trick (our convention): the predictor is F(x) = alpha (f_w(x) - f_w0(x)), and the loss

    L(w) = (1 / alpha^2) (1/n) sum_i l(y_i F(x_i)),   l(z) = softplus(s (margin - z)) / s,

s = 20 (the paper's smoothed hinge), margin 1. Gradient flow dw/dt = -grad L moves F at a rate
independent of alpha at t = 0 (dF/dt = -(1/n) sum_i l'(y_i F_i) y_i Theta(x, x_i), Theta the NTK
of f). The weights must move by O(1/alpha) to change F by O(1): for alpha sqrt(h) >> 1 that is a
small relative change, training is lazy (kernel regime); for alpha sqrt(h) << 1 the weights grow far
from their initialisation (feature regime). The reference code (leonardopetrini/feature_lazy)
divides the last layer by h instead of sqrt(h) and the loss by alpha instead of alpha^2: its
alpha_ref is alpha sqrt(h) here, and the other power of alpha only rescales time, which the adaptive
step absorbs. The paper's feature runs (alpha_ref = 1e-6, h = 1000) are alpha = 3e-8 here; any
alpha sqrt(h) << 1 is the same regime.

Gradient flow by gradient descent with an adaptive step (the rule of Geiger's gradientflow package,
plus a loss check): from the parameters w, with outputs F and gradient g, try w' = w - dt g and
evaluate F', L', g' there. With dgrad = |g - g'|^2 / (|g| |g'|) and dout = max_i |F'_i - F_i|, the
step is accepted if dgrad < max_dgrad, dout < max_dout and L' <= L (up to rounding); it is then
taken, and dt is multiplied by dt_grow when both dgrad and dout are below half their bounds.
Otherwise the step is discarded and dt divided by dt_shrink. Training stops as soon as a
fraction `fitted_fraction` of the training points has y F >= margin ("fitted"), or at max_steps
accepted steps ("max_steps"), or after max_wall_s seconds ("wall_time"), or when dt falls below
min_dt ("step_underflow"); the reason is recorded. Every trial costs one forward and backward pass.

Everything is deterministic given the seed: parameters are drawn on the CPU in float64 from a
generator seeded with it, then cast to `dtype` and moved to `device`. A checkpoint
(`checkpoint_path`) is written atomically (temporary file + os.replace) every `checkpoint_every_s`
seconds and when training stops; if it exists when training starts, training resumes from it and
gives the same parameters, bit for bit, as an uninterrupted run (same device and dtype). Its
fingerprint (spec without the caps, seed, data) must match, so a stale checkpoint is refused.

Sparsity of the first layer: neuron h has input weights theta_h (the row of W_1, with its bias if
any) and outgoing weight w_h (the norm of column h of W_2 if depth > 1); its mass is
m_h = |w_h| |theta_h|. We report the participation ratio (sum m)^2 / sum m^2 of the masses, the
number of non-negligible neurons (m_h >= mass_threshold max m) and the number of distinct directions
among them: the unit vectors theta_h / |theta_h| grouped greedily, heaviest first, each joining the
first group whose leader (its heaviest neuron) has cosine >= direction_cos_tol with it, else leading
a new group.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core import progress
from ..core.measures import neuron_masses, participation_ratio
from ..core.training import DEVICES, DTYPES, fingerprint, resolve_device, save_checkpoint

CHECKPOINT_VERSION = 1

# Fields that only cap or place the run: changing them does not change the trajectory, so a
# checkpoint written under other values may be resumed.
CAP_FIELDS = ("max_steps", "max_wall_s", "checkpoint_every_s", "device")


@dataclass(frozen=True)
class ImageNetworkSpec:
    """Hyperparameters of the image network and of its training (module docstring)."""

    width: int = 1000  # hidden units per layer, h (the paper: 1000)
    depth: int = 1  # hidden layers, L (the paper: 1)
    beta: float = 5.0  # softplus sharpness: sigma(z) ~ softplus(beta z) / beta (the paper: 5)
    normalize_activation: bool = True  # scale sigma to unit second moment under N(0, 1) inputs
    bias: bool = False  # biases in the hidden layers (standard normal at init)
    alpha: float = 1e-6  # alpha-trick scale: alpha sqrt(h) << 1 feature, >> 1 lazy
    loss_sharpness: float = 20.0  # s in l(z) = softplus(s (margin - z)) / s (the paper: 20)
    margin: float = 1.0  # margin of the smoothed hinge, and of "fitted": y F >= margin
    fitted_fraction: float = 0.99  # stop when this fraction of training points is fitted
    max_steps: int = 1_000_000  # cap on accepted gradient steps
    max_wall_s: float = 3600.0  # cap on wall time, seconds (over all resumed segments)
    dt0: float = 1.0  # initial step (time units of the flow)
    dt_grow: float = 1.1  # step multiplied by this after a smooth accepted step
    dt_shrink: float = 10.0  # step divided by this after a rejected step
    max_dgrad: float = 1e-4  # bound on |g - g'|^2 / (|g| |g'|) for a step to be accepted
    max_dout: float = 0.1  # bound on max_i |F'(x_i) - F(x_i)| for a step to be accepted
    min_dt: float = 1e-30  # stop ("step_underflow") when the step falls below this
    dtype: str = "float64"  # "float64" or "float32"
    device: str = "auto"  # "auto" (cuda if available), "cpu" or "cuda"
    checkpoint_every_s: float = 300.0  # seconds between checkpoints when a path is given
    mass_threshold: float = 1e-2  # a neuron counts as active if m_h >= this x max_h m_h
    direction_cos_tol: float = 0.99  # neurons with cosine >= this share a direction

    def __post_init__(self) -> None:
        def check(name: str, ok: bool, what: str) -> None:
            if not ok:
                raise ValueError(
                    f"ImageNetworkSpec.{name} must be {what}, got {getattr(self, name)!r}"
                )

        def is_int(v: object) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v: object) -> bool:
            return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

        for name in ("width", "depth"):
            check(name, is_int(getattr(self, name)) and getattr(self, name) >= 1, "an integer >= 1")
        check("max_steps", is_int(self.max_steps) and self.max_steps >= 0, "an integer >= 0")
        for name in ("beta", "alpha", "loss_sharpness", "margin", "dt0", "max_dgrad", "max_dout"):
            check(
                name, is_num(getattr(self, name)) and getattr(self, name) > 0, "a finite number > 0"
            )
        check("min_dt", is_num(self.min_dt) and 0 < self.min_dt < self.dt0, "in (0, dt0)")
        check("max_wall_s", is_num(self.max_wall_s) and self.max_wall_s > 0, "a number > 0")
        check(
            "checkpoint_every_s",
            is_num(self.checkpoint_every_s) and self.checkpoint_every_s >= 0,
            "a number >= 0",
        )
        check(
            "fitted_fraction",
            is_num(self.fitted_fraction) and 0 < self.fitted_fraction <= 1,
            "in (0, 1]",
        )
        check("dt_grow", is_num(self.dt_grow) and self.dt_grow >= 1, "a number >= 1")
        check("dt_shrink", is_num(self.dt_shrink) and self.dt_shrink > 1, "a number > 1")
        check(
            "mass_threshold",
            is_num(self.mass_threshold) and 0 <= self.mass_threshold < 1,
            "in [0, 1)",
        )
        check(
            "direction_cos_tol",
            is_num(self.direction_cos_tol) and -1 < self.direction_cos_tol <= 1,
            "in (-1, 1]",
        )
        for name in ("normalize_activation", "bias"):
            check(name, isinstance(getattr(self, name), bool), "a bool")
        check("dtype", self.dtype in DTYPES, f"one of {tuple(DTYPES)}")
        check("device", self.device in DEVICES, f"one of {DEVICES}")

    def resolved_device(self) -> torch.device:
        return resolve_device(self.device, "ImageNetworkSpec.device")


# ----------------------------------------------------------------------------------------------
# Network


# Above this argument softplus(t) is computed as t: log1p(e^-40) = 4e-18 is below float64 rounding
# of t >= 40 (torch's default threshold, 20, would make an error of 2e-9).
SOFTPLUS_THRESHOLD = 40.0


def _softplus(t: torch.Tensor) -> torch.Tensor:
    """log(1 + e^t), exact to rounding (fused torch kernel, SOFTPLUS_THRESHOLD)."""
    return torch.nn.functional.softplus(t, threshold=SOFTPLUS_THRESHOLD)


def activation_scale(beta: float) -> float:
    """k_beta = E[(softplus(beta z)/beta)^2]^(-1/2), z ~ N(0, 1), by the trapezoidal rule on
    [-12, 12] (the integrand is smooth and its tails are below 1e-30)."""
    z = np.linspace(-12.0, 12.0, 48001)
    sp = (np.maximum(beta * z, 0) + np.log1p(np.exp(-np.abs(beta * z)))) / beta
    second = np.trapezoid(sp**2 * np.exp(-(z**2) / 2), z) / math.sqrt(2 * math.pi)
    return 1.0 / math.sqrt(second)


def init_params(spec: ImageNetworkSpec, input_dim: int, seed: int) -> list[torch.Tensor]:
    """Standard normal parameters [W_1, (b_1), ..., W_L, (b_L), w], float64 on the CPU."""
    gen = torch.Generator().manual_seed(seed)
    params, fan_in = [], input_dim
    for _ in range(spec.depth):
        params.append(torch.randn(spec.width, fan_in, generator=gen, dtype=torch.float64))
        if spec.bias:
            params.append(torch.randn(spec.width, generator=gen, dtype=torch.float64))
        fan_in = spec.width
    params.append(torch.randn(spec.width, generator=gen, dtype=torch.float64))
    return params


def forward(
    spec: ImageNetworkSpec, params: list[torch.Tensor], x: torch.Tensor, scale: float
) -> torch.Tensor:
    """f_w(x) (m,) for inputs x (m, D); `scale` is the activation's k_beta (1 if not normalised)."""
    a, k = x, 0
    for _ in range(spec.depth):
        z = a @ params[k].T * (1.0 / math.sqrt(a.shape[1]))  # (m, h)
        k += 1
        if spec.bias:
            z = z + params[k]
            k += 1
        a = _softplus(spec.beta * z) * (scale / spec.beta)  # (m, h)
    return a @ params[k] * (1.0 / math.sqrt(spec.width))  # (m,)


def smoothed_hinge(z: torch.Tensor, margin: float, sharpness: float) -> torch.Tensor:
    """l(z) = softplus(s (margin - z)) / s, elementwise."""
    return _softplus(sharpness * (margin - z)) / sharpness


class ImageNetwork:
    """The trained predictor F(x) = alpha (f_w(x) - f_w0(x)), with final and initial parameters."""

    def __init__(
        self, spec: ImageNetworkSpec, params: list[torch.Tensor], init: list[torch.Tensor]
    ):
        self.spec = spec
        self.params = [p.detach() for p in params]
        self.init_params = [p.detach() for p in init]
        self.scale = activation_scale(spec.beta) if spec.normalize_activation else 1.0

    @property
    def device(self) -> torch.device:
        return self.params[0].device

    def __call__(self, x: torch.Tensor, block: int = 4096) -> torch.Tensor:
        """F at the rows of x (m, D), float64 on x's device."""
        out = []
        with torch.no_grad():
            for xb in x.split(block):
                xb = xb.to(self.device, self.params[0].dtype)
                f = forward(self.spec, self.params, xb, self.scale)
                f0 = forward(self.spec, self.init_params, xb, self.scale)
                out.append((self.spec.alpha * (f - f0)).to(x.device, torch.float64))
        return torch.cat(out) if out else x.new_zeros(0, dtype=torch.float64)

    def first_layer(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(theta (h, D or D+1), outgoing weight (h,)) of the first hidden layer, float64 CPU."""
        theta = self.params[0]
        if self.spec.bias:
            theta = torch.cat([theta, self.params[1][:, None]], dim=1)
        out = self.params[-1] if self.spec.depth == 1 else self.params[2 if self.spec.bias else 1]
        if self.spec.depth > 1:
            out = torch.linalg.vector_norm(out, dim=0)  # norm of each column of W_2
        return theta.to("cpu", torch.float64), out.to("cpu", torch.float64)


# ----------------------------------------------------------------------------------------------
# Sparsity measures


def count_directions(
    theta: np.ndarray, masses: np.ndarray, mass_threshold: float, cos_tol: float
) -> tuple[int, int]:
    """(number of active neurons, number of distinct directions among them), module docstring.
    Arrays, or CPU tensors."""
    theta, masses = np.asarray(theta, dtype=np.float64), np.asarray(masses, dtype=np.float64)
    if len(masses) == 0 or float(masses.max()) <= 0:
        return 0, 0
    active = np.flatnonzero(masses >= mass_threshold * masses.max())
    active = active[np.argsort(-masses[active], kind="stable")]
    units = theta[active] / np.linalg.norm(theta[active], axis=1, keepdims=True)  # (a, D)
    leaders: list[np.ndarray] = []
    for u in units:
        if not leaders or float((np.stack(leaders) @ u).max()) < cos_tol:
            leaders.append(u)
    return len(active), len(leaders)


# ----------------------------------------------------------------------------------------------
# Training


@dataclass(frozen=True)
class TrainResult:
    """Outcome of `train`: the predictor, how training went and why it stopped, sparsity."""

    spec: ImageNetworkSpec
    seed: int
    network: ImageNetwork  # the predictor F; .params final, .init_params initial parameters
    train_loss: float  # mean over training points of l(y F) (the objective is this / alpha^2)
    train_error: float  # fraction of training points with y F <= 0
    fitted: float  # fraction of training points with y F >= margin
    steps: int  # accepted gradient steps
    evaluations: int  # forward + backward passes (accepted and rejected trials, and the first)
    rejected: int  # rejected trials
    flow_time: float  # sum of accepted steps dt
    final_dt: float
    stop_reason: str  # "fitted", "max_steps", "wall_time" or "step_underflow"
    wall_time_s: float  # over all segments of a resumed run
    resumed_from_step: int | None  # step of the checkpoint resumed from, None if fresh
    first_layer_change: float  # |W_1 - W_1(0)| / |W_1(0)| (Frobenius)
    participation_ratio: float
    n_active: int
    n_directions: int
    history: tuple[tuple[int, float, float, float, float], ...]  # (step, t, loss, fitted, dt)

    @property
    def params(self) -> list[torch.Tensor]:
        return self.network.params


def _fingerprint(spec: ImageNetworkSpec, seed: int, x: torch.Tensor, y: torch.Tensor) -> str:
    """The data and every setting but the caps: a checkpoint resumes under other caps only."""
    fields = {k: v for k, v in dataclasses.asdict(spec).items() if k not in CAP_FIELDS}
    return fingerprint(
        x, y, header=json.dumps({"spec": fields, "seed": seed}, sort_keys=True).encode()
    )


def _norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.sqrt(sum(t.pow(2).sum() for t in tensors))


def train(
    x: torch.Tensor,
    y: torch.Tensor,
    spec: ImageNetworkSpec | None = None,
    seed: int = 0,
    checkpoint_path: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train the network on inputs x (n, D) and labels y (n,) in {-1, +1} (module docstring).

    spec defaults to ImageNetworkSpec(); the seed fixes the initial parameters. `log` receives a
    progress line every progress.LOG_EVERY_S seconds of wall time (step, loss, fitted fraction,
    steps/s and the time left at most, by the step and wall-time caps).
    """
    # Wall time counts from here (initial evaluation included).
    start = last_save = last_log = time.monotonic()
    spec = ImageNetworkSpec() if spec is None else spec
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"expected x (n, D) and y (n,), got {tuple(x.shape)} and {tuple(y.shape)}")
    device, dtype = spec.resolved_device(), DTYPES[spec.dtype]
    fingerprint = _fingerprint(spec, seed, x, y)
    xs, ys = x.to(device, dtype), y.to(device, dtype)
    init = [p.to(device, dtype) for p in init_params(spec, x.shape[1], seed)]
    scale = activation_scale(spec.beta) if spec.normalize_activation else 1.0
    alpha = spec.alpha
    with torch.no_grad():
        f0 = forward(spec, init, xs, scale)  # (n,)

    def evaluate(params: list[torch.Tensor]) -> tuple[torch.Tensor, float, list[torch.Tensor]]:
        leaves = [p.detach().requires_grad_(True) for p in params]
        out = alpha * (forward(spec, leaves, xs, scale) - f0)  # (n,)
        loss = smoothed_hinge(ys * out, spec.margin, spec.loss_sharpness).mean() / alpha**2
        grads = torch.autograd.grad(loss, leaves)
        return out.detach(), float(loss.detach()), [g.detach() for g in grads]

    path = Path(checkpoint_path) if checkpoint_path is not None else None
    resumed_from = None
    if path is not None and path.exists():
        ck = torch.load(path, map_location="cpu", weights_only=True)
        if ck.get("version") != CHECKPOINT_VERSION or ck.get("fingerprint") != fingerprint:
            raise ValueError(
                f"checkpoint {path} was written for another run (spec, seed or data differ); "
                "remove it to start afresh"
            )
        params = [p.to(device, dtype) for p in ck["params"]]
        grad = [g.to(device, dtype) for g in ck["grad"]]
        out = ck["out"].to(device, dtype)
        loss, dt, step, t = ck["loss"], ck["dt"], ck["step"], ck["t"]
        evaluations, rejected, elapsed0 = ck["evaluations"], ck["rejected"], ck["elapsed_s"]
        history = [tuple(h) for h in ck["history"]]
        resumed_from = step
    else:
        params = [p.clone() for p in init]
        out, loss, grad = evaluate(params)
        dt, step, t, evaluations, rejected, elapsed0 = spec.dt0, 0, 0.0, 1, 0, 0.0
        history = []

    def checkpoint_state(elapsed: float) -> dict:
        return {
            "version": CHECKPOINT_VERSION,
            "fingerprint": fingerprint,
            "params": [p.cpu() for p in params],
            "grad": [g.cpu() for g in grad],
            "out": out.cpu(),
            "loss": loss,
            "dt": dt,
            "step": step,
            "t": t,
            "evaluations": evaluations,
            "rejected": rejected,
            "elapsed_s": elapsed,
            "history": [list(h) for h in history],
        }

    def fitted_now() -> float:
        return float((ys * out >= spec.margin).to(torch.float64).mean())

    def record(fitted: float) -> None:
        """History at steps 0, 1, 2, 4, 8, ... (and the last step), once each."""
        if (not history or history[-1][0] != step) and step & (step - 1) == 0:
            history.append((step, t, train_loss(), fitted, dt))

    def train_loss() -> float:
        return float(smoothed_hinge(ys * out, spec.margin, spec.loss_sharpness).mean())

    log_mark = step  # the step of the last progress line
    tolerance = 8 * torch.finfo(dtype).eps  # relative rounding allowed in "the loss did not go up"
    while True:
        fitted = fitted_now()
        record(fitted)
        elapsed = elapsed0 + time.monotonic() - start
        if fitted >= spec.fitted_fraction:
            reason = "fitted"
        elif step >= spec.max_steps:
            reason = "max_steps"
        elif elapsed >= spec.max_wall_s:
            reason = "wall_time"
        elif dt < spec.min_dt:
            reason = "step_underflow"
        else:
            reason = None
        if reason is not None:
            break
        trial = [p - dt * g for p, g in zip(params, grad, strict=True)]
        new_out, new_loss, new_grad = evaluate(trial)
        evaluations += 1
        gn, new_gn = float(_norm(grad)), float(_norm(new_grad))
        dgrad = (
            float(_norm([a - b for a, b in zip(grad, new_grad, strict=True)])) ** 2 / (gn * new_gn)
            if gn > 0 and new_gn > 0
            else 0.0
        )
        dout = float((new_out - out).abs().max())
        if (
            math.isfinite(new_loss)
            and new_loss <= loss + tolerance * abs(loss)
            and dgrad < spec.max_dgrad
            and dout < spec.max_dout
        ):
            params, out, loss, grad = trial, new_out, new_loss, new_grad
            step += 1
            t += dt
            if dgrad < spec.max_dgrad / 2 and dout < spec.max_dout / 2:
                dt *= spec.dt_grow
        else:
            dt /= spec.dt_shrink
            rejected += 1
        if log is not None and time.monotonic() - last_log >= progress.LOG_EVERY_S:
            now = time.monotonic()
            rate = (step - log_mark) / (now - last_log)
            left = min(
                (spec.max_steps - step) / max(rate, 1e-9),
                spec.max_wall_s - (elapsed0 + now - start),
            )
            log(
                f"step {step}/{spec.max_steps} loss {train_loss():.4e} fitted {fitted:.3f} "
                f"(goal {spec.fitted_fraction}) dt {dt:.3g} {rate:.1f} steps/s, "
                f"at most {max(left, 0):.0f} s left"
            )
            last_log, log_mark = now, step
        if path is not None and time.monotonic() - last_save >= spec.checkpoint_every_s:
            save_checkpoint(path, checkpoint_state(elapsed0 + time.monotonic() - start))
            last_save = time.monotonic()

    wall = elapsed0 + time.monotonic() - start
    if path is not None:
        save_checkpoint(path, checkpoint_state(wall))
    if history[-1][0] != step:
        history.append((step, t, train_loss(), fitted, dt))

    network = ImageNetwork(spec, params, init)
    theta, outgoing = network.first_layer()
    masses = neuron_masses(theta, outgoing)
    n_active, n_directions = count_directions(
        theta, masses, spec.mass_threshold, spec.direction_cos_tol
    )
    change = float(
        torch.linalg.vector_norm(params[0] - init[0]) / torch.linalg.vector_norm(init[0])
    )
    return TrainResult(
        spec=spec,
        seed=seed,
        network=network,
        train_loss=train_loss(),
        train_error=float((ys * out <= 0).to(torch.float64).mean()),
        fitted=fitted,
        steps=step,
        evaluations=evaluations,
        rejected=rejected,
        flow_time=t,
        final_dt=dt,
        stop_reason=reason,
        wall_time_s=wall,
        resumed_from_step=resumed_from,
        first_layer_change=change,
        participation_ratio=participation_ratio(masses),
        n_active=n_active,
        n_directions=n_directions,
        history=tuple(history),
    )
