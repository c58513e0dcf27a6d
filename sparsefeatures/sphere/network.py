"""Full-batch gradient descent for a one-hidden-layer ReLU network on the sphere.

The network (Petrini, Cagnetta, Vanden-Eijnden, Wyart, NeurIPS 2022, arXiv:2206.12314) is

    f(x) = (1/N) sum_{h=1}^H w_h relu(theta_h . x),      x on S^{d-1},

trained on the loss (1/2n) sum_i (F(x_i) - y_i)^2 + (lambda/H) sum_h |w_h| in one of two scalings.

Mean field (`scaling="mean_field"`, the paper's feature regime): N = H, F = f, theta_h on the unit
sphere (initialised uniformly; the gradient is projected on the tangent space and theta_h is
renormalised after each step), w_h initialised at w_init * N(0, 1) (0 in the paper), parameter step
lr * H as in the paper.

Alpha-trick (`scaling="alpha"`; Chizat & Bach 2019, Geiger et al. 2020, arXiv:1906.08034): NTK
scaling N = sqrt(H) with w_h, theta_h standard normal at initialisation and theta_h unconstrained;
the predictor is F = alpha (f_w - f_w0), so that F = 0 at initialisation, and the data term of the
loss is divided by alpha^2. The parameter step is lr itself. Alpha >> 1 is the lazy regime, alpha
<< 1 the feature regime.

Convention for lr. In both scalings one step changes the training predictions by

    F(x) <- F(x) - (lr/n) sum_i K(x, x_i) (F(x_i) - y_i)  (+ the penalty's and higher-order terms)

with K the network's tangent kernel normalised to be O(1) at large H: in mean field
K = (1/H) sum_h [relu(theta_h.x) relu(theta_h.x') + w_h^2 (x.x') 1{theta_h.x>0} 1{theta_h.x'>0}]
(the projection on the sphere removes the radial part), with the alpha-trick K is the same sum
divided by H, which converges to the analytic NTK of `kernels.py` (exactly: kernels.gram("ntk")).
Hence lr is the step of the function-space gradient flow, independent of alpha in the lazy limit
and of H: the mean-field step lr * H compensates the 1/H output scale twice over (chain rule),
the alpha-trick step lr is what makes the 1/alpha^2 of the loss cancel the alpha^2 of the
predictor's gradient. GD is stable while lr < 2 / lambda_max(K_train / n); for the NTK on S^2,
lambda_max(K_train / n) ~ 0.25 (the constant mode). Other papers put factors of sqrt(H) or alpha
in the step instead (Geiger et al. use the NTK scaling with a step in units of 1/alpha for
alpha -> 0): with alpha << 1 the parameters must move by O(1/alpha) to fit, so the number of
steps grows like 1/alpha in this convention.

Penalty. The subgradient of |w_h| is sign(w_h) (0 at w_h = 0); the trainer does plain (sub)gradient
descent on it as the paper did, so neurons that the penalty removes oscillate around 0 with
amplitude lr * lambda (mean field) rather than being exactly 0: `measures.n_atoms` thresholds.

Conic gradient descent (Chizat & Bach 2018, "On the global convergence of gradient descent for
over-parameterized models using optimal transport"; mean field only): the theta_h gradient is
divided by |w_h| and the w_h gradient multiplied by |w_h|, so that each neuron's direction moves at
a speed independent of its mass while its mass grows or decays multiplicatively. We use |w_h|, not
the signed w_h conic GD is sometimes written with: for w_h < 0 that version ascends the loss (for
w_h > 0 they agree). w_h = 0 is then a fixed point, so conic needs w_init > 0.

The gradients are written by hand (one matmul forward, two back, no autograd), updated in place,
and the host synchronises only every `check_every` steps to test convergence and divergence. The
identity relu(z) = z 1{z > 0} gives the w gradient from the theta one, sum_i r_i relu(theta_h.x_i)
= theta_h . sum_i r_i 1{theta_h.x_i > 0} x_i, which saves a pass over the (H, n) activations.

Checkpoints hold the whole state (parameters, step, loss log, convergence history, elapsed time)
and are taken at the convergence checks, so that a resumed run takes exactly the same steps as an
uninterrupted one (bit-identical on the same device and thread count: BLAS summation order can
depend on both).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..core import kernels, progress, specs
from ..core.training import DEVICES, DTYPES, fingerprint, resolve_device, save_checkpoint

SCALINGS = ("mean_field", "alpha")
CHECKPOINT_FORMAT = 1
# Points of the geometric grid of steps on which the loss curve is logged (plus step 0 and the end).
LOG_POINTS = 120


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite (the message names the step, loss and spec)."""


@dataclass(frozen=True)
class NetworkSpec:
    """Network, regime and optimiser hyperparameters: the fields are the config's keys."""

    width: int = 1000  # H, the number of hidden neurons
    scaling: str = "mean_field"  # "mean_field" (N = H, features learned) or "alpha" (alpha-trick)
    alpha: float = 1.0  # alpha-trick only: F = alpha (f_w - f_w0), data loss / alpha^2; >> 1 lazy
    penalty: float = 0.0  # lambda in loss = (1/2n) sum (F - y)^2 + (lambda/H) sum_h |w_h|
    lr: float = 1.0  # function-space step (module docstring): parameter step lr*H (mean field), lr
    conic: bool = False  # conic GD (mean field): theta grad / |w_h|, w grad * |w_h|
    w_init: float = 0.0  # mean field: std of the initial w_h (0 as in the paper; conic needs > 0)
    max_steps: int = 100_000  # cap on the number of gradient steps
    loss_tol: float = 0.0  # stop when the training loss falls below this
    rel_tol: float = 1e-6  # ... or when it decreased by less than this (relative) over `window`
    window: int = 2000  # steps over which rel_tol is measured (a multiple of check_every)
    check_every: int = 200  # convergence and divergence are checked (one host sync) this often
    dtype: str = "float64"  # "float64" or "float32"
    device: str = "auto"  # "auto" (cuda when available), "cpu" or "cuda"

    def __post_init__(self) -> None:
        def fail(name: str, why: str) -> None:
            raise ValueError(f"NetworkSpec.{name} = {getattr(self, name)!r}: {why}")

        for name in ("width", "max_steps", "window", "check_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                fail(name, "must be an integer")
        for name in ("alpha", "penalty", "lr", "w_init", "loss_tol", "rel_tol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                fail(name, "must be a number")
            if not math.isfinite(value):
                fail(name, "must be finite")
        if not isinstance(self.conic, bool):
            fail("conic", "must be true or false")
        if self.width < 1:
            fail("width", "must be >= 1")
        if self.scaling not in SCALINGS:
            fail("scaling", f"must be one of {SCALINGS}")
        if self.alpha <= 0:
            fail("alpha", "must be > 0")
        if self.penalty < 0:
            fail("penalty", "must be >= 0")
        if self.lr <= 0:
            fail("lr", "must be > 0")
        if self.w_init < 0:
            fail("w_init", "must be >= 0")
        if self.conic and self.scaling != "mean_field":
            fail("conic", "conic gradient descent is implemented for scaling='mean_field' only")
        if self.conic and self.w_init <= 0:
            fail("conic", "needs w_init > 0 (w = 0 is a fixed point of conic descent), e.g. 1e-10")
        if self.max_steps < 0:
            fail("max_steps", "must be >= 0")
        if self.loss_tol < 0:
            fail("loss_tol", "must be >= 0")
        if self.rel_tol < 0:
            fail("rel_tol", "must be >= 0")
        if self.check_every < 1:
            fail("check_every", "must be >= 1")
        if self.window < 1 or self.window % self.check_every:
            fail("window", f"must be a positive multiple of check_every = {self.check_every}")
        if self.dtype not in DTYPES:
            fail("dtype", f"must be one of {tuple(DTYPES)}")
        if self.dtype == "float32" and self.scaling == "alpha" and self.alpha > 1:
            fail(
                "dtype",
                "float32 cannot resolve the O(1/alpha) parameter changes of the lazy regime "
                "(alpha > 1): use float64",
            )
        if self.device not in DEVICES:
            fail("device", f"must be one of {DEVICES}")

    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def torch_device(self) -> torch.device:
        return resolve_device(self.device, "NetworkSpec.device")


# --------------------------------------------------------------------------------------------
# Parameters and predictor
# --------------------------------------------------------------------------------------------


def init_params(spec: NetworkSpec, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Initial (theta (H, d), w (H,)) in float64 on the CPU, drawn from a generator seeded by seed.

    Drawn on the CPU whatever the training device, so that CPU and CUDA runs start identically.
    """
    gen = torch.Generator().manual_seed(int(seed))
    theta = torch.randn(spec.width, d, generator=gen, dtype=torch.float64)  # (H, d)
    w = torch.randn(spec.width, generator=gen, dtype=torch.float64)  # (H,)
    if spec.scaling == "mean_field":
        theta /= torch.linalg.vector_norm(theta, dim=1, keepdim=True)
        w *= spec.w_init
    return theta, w


def _output_scale(spec: NetworkSpec) -> float:
    """Factor c in F = c sum_h w_h relu(theta_h . x) (minus the same at init, alpha-trick)."""
    if spec.scaling == "mean_field":
        return 1.0 / spec.width
    return spec.alpha / math.sqrt(spec.width)


def network_output(
    theta: torch.Tensor, w: torch.Tensor, x: torch.Tensor, block: int = 8192
) -> torch.Tensor:
    """sum_h w_h relu(theta_h . x) at the rows of x (m, d), in blocks of rows to bound memory."""
    out = [torch.relu(xb @ theta.T) @ w for xb in x.split(block)]  # (block, H) @ (H,)
    return torch.cat(out)


def predictor(
    spec: NetworkSpec,
    theta: torch.Tensor,
    w: torch.Tensor,
    x: torch.Tensor,
    theta0: torch.Tensor | None = None,
    w0: torch.Tensor | None = None,
) -> torch.Tensor:
    """The trained predictor F at the rows of x (m, d), computed in float64.

    Mean field: F = f = (1/H) sum_h w_h relu(theta_h . x). Alpha-trick: F = alpha (f_w - f_w0) with
    f_w = H^-1/2 sum_h w_h relu(theta_h . x); theta0 and w0 are then required.
    """
    x = torch.as_tensor(x).to(torch.float64)
    theta, w = theta.to(x), w.to(x)
    out = network_output(theta, w, x)
    if spec.scaling == "alpha":
        if theta0 is None or w0 is None:
            raise ValueError("the alpha-trick predictor needs the initial parameters theta0, w0")
        out -= network_output(theta0.to(x), w0.to(x), x)
    return out * _output_scale(spec)


# --------------------------------------------------------------------------------------------
# The alpha-trick network's linearisation: the lazy regime's reference at finite width
# --------------------------------------------------------------------------------------------


def tangent_gram(
    theta: torch.Tensor, w: torch.Tensor, x: torch.Tensor, z: torch.Tensor
) -> torch.Tensor:
    """Empirical NTK (n, m) of f_w = H^-1/2 sum_h w_h relu(theta_h . x) between rows of x and z.

    K(x, z) = (1/H) sum_h [relu(theta_h.x) relu(theta_h.z) + w_h^2 (x.z) 1{theta_h.x > 0}
    1{theta_h.z > 0}] = J(x) J(z)^T, with J the Jacobian over the H (d + 1) parameters at (theta,
    w) (H, d), (H,). For standard normal parameters its expectation is exactly kernels.gram("ntk"),
    which it approaches as H grows. Computed in float64.
    """
    theta, w = theta.to(torch.float64), w.to(torch.float64)
    x, z = torch.as_tensor(x).to(torch.float64), torch.as_tensor(z).to(torch.float64)
    pre_x, pre_z = x @ theta.T, z @ theta.T  # (n, H), (m, H)
    features = torch.relu(pre_x) @ torch.relu(pre_z).T  # (n, m)
    gates = ((pre_x > 0) * w**2).to(torch.float64) @ (pre_z > 0).to(torch.float64).T  # (n, m)
    return (features + (x @ z.T) * gates) / theta.shape[0]


def linearised_predict(
    theta0: torch.Tensor,
    w0: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    x_test: torch.Tensor,
    block: int = 4096,
) -> tuple[np.ndarray, float]:
    """Predictions (m,) at x_test of the alpha-trick network linearised at its initialisation.

    With F = alpha (f_w - f_w0) ~ alpha J (p - p0), gradient descent from p = p0 on the squared
    loss moves p - p0 in the row space of J only, and converges to the minimum-norm interpolant:
    kernel regression with the empirical NTK K = J J^T of the initial parameters (tangent_gram),
    whatever alpha and the step (Chizat & Bach 2019; Jacot et al. 2018). A trained lazy network of
    width H tends to this, not to the infinite-width NTK. Returns the predictions and the Gram
    jitter (kernels.cholesky_solve: nonzero when n approaches the H (d + 1) parameters).
    """
    x = torch.as_tensor(x).to(torch.float64)
    x_test = torch.as_tensor(x_test).to(torch.float64)
    gram = tangent_gram(theta0, w0, x, x).numpy()  # (n, n)
    coef, jitter = kernels.cholesky_solve(gram, np.asarray(y, dtype=np.float64))
    coef_t = torch.from_numpy(coef)
    pred = [tangent_gram(theta0, w0, xb, x) @ coef_t for xb in x_test.split(block)]
    return torch.cat(pred).numpy(), jitter


# --------------------------------------------------------------------------------------------
# Loss, gradient and the in-place step
# --------------------------------------------------------------------------------------------


class _Stepper:
    """Buffers and the in-place gradient step for one training set.

    Parameters are kept transposed, theta_t (d, H), so that the small (d, H) operations are
    contiguous and both matmuls have a BLAS-friendly shape.
    """

    def __init__(
        self,
        spec: NetworkSpec,
        x: torch.Tensor,
        y: torch.Tensor,
        theta: torch.Tensor,
        w: torch.Tensor,
        theta0: torch.Tensor,
        w0: torch.Tensor,
    ) -> None:
        self.spec = spec
        dtype, device = spec.torch_dtype(), spec.torch_device()
        n, d = x.shape
        h = spec.width
        self.n = n
        self.x = x.to(device=device, dtype=dtype).contiguous()  # (n, d)
        self.x_t = self.x.T.contiguous()  # (d, n)
        # Copies: the caller's tensors (the initial parameters) must not be updated in place.
        self.theta_t = theta.to(device=device, dtype=dtype).T.contiguous().clone()  # (d, H)
        self.w = w.to(device=device, dtype=dtype, copy=True)  # (H,)
        self.c = _output_scale(spec)
        y_eff = y.to(device=device, dtype=torch.float64)
        if spec.scaling == "alpha":
            # F = c (g_w - g_w0): fold the constant c g_w0(x_i) into the target, computed in float64.
            f0 = network_output(theta0.to(y_eff), w0.to(y_eff), x.to(y_eff)) * self.c  # (n,)
            y_eff = y_eff + f0
        self.neg_y = (-y_eff).to(dtype)  # (n,)
        # Data-term weight s (1/alpha^2 with the alpha-trick) and parameter step eta.
        s = 1.0 if spec.scaling == "mean_field" else 1.0 / spec.alpha**2
        eta = spec.lr * h if spec.scaling == "mean_field" else spec.lr
        self.s = s
        self.k = eta * s * self.c / n  # step on w per unit of sum_i r_i relu(theta_h.x_i)
        self.k_pen = eta * spec.penalty / h  # step on w per unit of sign(w_h)
        # The logged loss is alpha^2 x the objective, so that its data term is the plain MSE/2.
        self.loss_scale = 1.0 / s
        self.pen = spec.penalty / h
        self.z = torch.empty(h, n, dtype=dtype, device=device)  # (H, n)
        self.f = torch.empty(n, dtype=dtype, device=device)  # (n,)
        self.r = torch.empty(n, dtype=dtype, device=device)  # (n,)
        self.g_t = torch.empty(d, h, dtype=dtype, device=device)  # (d, H)
        self.xr_t = torch.empty(d, n, dtype=dtype, device=device)  # (d, n)
        self.gw = torch.empty(h, dtype=dtype, device=device)  # (H,)
        self.sw = torch.empty(h, dtype=dtype, device=device)  # (H,)

    def forward(self) -> None:
        """Residuals r = F(x_i) - y_i into self.r; leaves relu(z) in self.z."""
        torch.mm(self.theta_t.T, self.x_t, out=self.z)  # (H, n)
        self.z.relu_()
        torch.mv(self.z.T, self.w, out=self.f)  # (n,)
        torch.add(self.neg_y, self.f, alpha=self.c, out=self.r)

    def loss(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, mse) on the device after forward(): loss = mse + (lambda/H) sum|w| (x alpha^2)."""
        mse = torch.dot(self.r, self.r) * (0.5 / self.n)
        total = mse + torch.linalg.vector_norm(self.w, ord=1) * (self.pen * self.loss_scale)
        return total, mse

    def raw_gradients(self) -> None:
        """After forward(): g_t = sum_i r_i 1{theta_h.x_i > 0} x_i (d, H), gw = theta_h . g_t."""
        # r enters through the (d, n) matrix r_i x_i rather than the (H, n) one 1{z > 0} r_i:
        # one pass fewer over the activations, which is what the step's time is made of.
        torch.mul(self.x_t, self.r, out=self.xr_t)  # (d, n)
        self.z.sign_()  # (H, n): relu(z) >= 0, so its sign is 1{z > 0}
        torch.mm(self.xr_t, self.z.T, out=self.g_t)  # (d, H)
        torch.linalg.vecdot(self.theta_t, self.g_t, dim=0, out=self.gw)  # (H,) = sum_i r relu

    def step(self) -> None:
        """One gradient step from the current parameters (forward() must have been called)."""
        spec = self.spec
        self.raw_gradients()
        theta_t, w, g_t, gw = self.theta_t, self.w, self.g_t, self.gw
        mean_field = spec.scaling == "mean_field"
        if mean_field:
            g_t.addcmul_(theta_t, gw, value=-1.0)  # tangent part: g - theta (theta . g)
        if spec.conic:  # mean field only (NetworkSpec checks)
            torch.sign(w, out=self.sw)
            g_t.mul_(self.sw)  # grad / |w_h| removes the factor w_h up to its sign
            theta_t.add_(g_t, alpha=-self.k)
            # w <- w - |w| (k gw + k_pen sign w) = w - k |w| gw - k_pen w
            gw.mul_(w.abs())
            w.mul_(1.0 - self.k_pen).add_(gw, alpha=-self.k)
        else:
            g_t.mul_(w)
            theta_t.add_(g_t, alpha=-self.k)
            if self.k_pen:
                torch.sign(w, out=self.sw)
                w.add_(self.sw, alpha=-self.k_pen)
            w.add_(gw, alpha=-self.k)
        if mean_field:
            # Back onto the sphere. (vector_norm along dim 0 is ~20x slower than this on the CPU.)
            torch.linalg.vecdot(theta_t, theta_t, dim=0, out=self.sw)
            theta_t.mul_(self.sw.rsqrt_())

    def params(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Current (theta (H, d), w (H,)) as float64 CPU copies."""
        theta = self.theta_t.T.to(device="cpu", dtype=torch.float64).contiguous()
        return theta, self.w.to(device="cpu", dtype=torch.float64).clone()


def loss_and_grad(
    spec: NetworkSpec,
    x: torch.Tensor,
    y: torch.Tensor,
    theta: torch.Tensor,
    w: torch.Tensor,
    theta0: torch.Tensor | None = None,
    w0: torch.Tensor | None = None,
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Objective and its Euclidean gradient (d/dtheta (H, d), d/dw (H,)), by the trainer's code.

    The objective is (s/2n) sum_i (F(x_i) - y_i)^2 + (lambda/H) sum_h |w_h| with s = 1 (mean field)
    or 1/alpha^2 (alpha-trick), the quantity gradient descent minimises; the gradient is the raw
    one (no projection on the sphere, no conic rescaling), with sign(0) = 0 for |w|.
    """
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    if theta0 is None or w0 is None:
        theta0, w0 = theta, w
    st = _Stepper(spec, x, y, theta, w, theta0, w0)
    st.forward()
    total, _ = st.loss()
    st.raw_gradients()
    coef = st.s * st.c / st.n
    grad_theta = (st.g_t * st.w * coef).T  # (H, d)
    grad_w = st.gw * coef + torch.sign(st.w) * st.pen  # (H,)
    return float(total) / st.loss_scale, grad_theta.cpu().double(), grad_w.cpu().double()


# --------------------------------------------------------------------------------------------
# Training loop
# --------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """Initial and final parameters (float64, CPU), loss curve and how the run ended."""

    spec: NetworkSpec
    seed: int
    theta0: torch.Tensor  # (H, d)
    w0: torch.Tensor  # (H,)
    theta: torch.Tensor  # (H, d)
    w: torch.Tensor  # (H,)
    steps: np.ndarray  # (T,) steps at which the loss was logged (geometric grid, 0, last)
    loss: np.ndarray  # (T,) training objective (x alpha^2 with the alpha-trick)
    mse: np.ndarray  # (T,) its data term (1/2n) sum (F - y)^2
    converged: bool  # stopped by loss_tol or rel_tol rather than max_steps
    stop_reason: str  # "loss_tol", "rel_tol" or "max_steps"
    n_steps: int  # gradient steps taken
    wall_time: float  # seconds of training, summed over resumed segments
    resumed_from: int | None = None  # step of the checkpoint this run resumed from, if any

    def predict(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        """The predictor F at the rows of x (m, d), float64 on the CPU."""
        return predictor(self.spec, self.theta, self.w, x, self.theta0, self.w0)

    @property
    def final_loss(self) -> float:
        return float(self.loss[-1])


def log_grid(max_steps: int, points: int = LOG_POINTS) -> np.ndarray:
    """Steps 0 and a geometric grid from 1 to max_steps (integers, sorted, unique)."""
    if max_steps < 1:
        return np.zeros(1, dtype=np.int64)
    grid = np.geomspace(1, max_steps, points).round().astype(np.int64)
    return np.unique(np.concatenate([[0], grid]))


def train(
    x: torch.Tensor | np.ndarray,
    y: torch.Tensor | np.ndarray,
    spec: NetworkSpec,
    seed: int,
    *,
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_every_s: float = 300.0,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train the network of `spec` on x (n, d), y (n,) by full-batch gradient descent.

    Stops when the training loss falls below spec.loss_tol, when its relative decrease over the
    last spec.window steps falls below spec.rel_tol (both checked every spec.check_every steps, the
    only host synchronisations), or after spec.max_steps steps. Raises TrainingDiverged when the
    loss is NaN or infinite at a check.

    With checkpoint_path, the full state is written there (atomically) every checkpoint_every_s
    seconds, at a check; if the file exists at the start, training resumes from it (it must come
    from the same spec, seed and data) and the result is exactly that of an uninterrupted run. The
    file is left in place: the caller removes it after success.

    The problem is small (an (H, n) activation matrix), so several runs sharing a machine should
    each use one thread (torch.set_num_threads(1)): threading gains little here and oversubscribed
    OpenMP threads slow tiny runs down by 10x or more.
    """
    t_start = time.perf_counter()
    emit = log if log is not None else (lambda _msg: None)
    x = torch.as_tensor(x).detach().to("cpu", torch.float64)
    y = torch.as_tensor(y).detach().to("cpu", torch.float64).reshape(-1)
    if x.ndim != 2 or y.shape[0] != x.shape[0]:
        raise ValueError(f"x must be (n, d) and y (n,), got {tuple(x.shape)} and {tuple(y.shape)}")
    n, d = x.shape
    theta0, w0 = init_params(spec, d, seed)
    grid = log_grid(spec.max_steps)
    grid_slot = {int(s): i for i, s in enumerate(grid)}

    # State that a checkpoint restores.
    step = 0
    theta, w = theta0, w0
    logged_steps: list[int] = []
    logged_vals: list[tuple[float, float]] = []
    checks: list[tuple[int, float]] = []  # (step, loss) at every convergence check
    elapsed_before = 0.0
    resumed_from = None
    data_fingerprint = fingerprint(x, y)
    path = Path(checkpoint_path) if checkpoint_path is not None else None
    if path is not None and path.exists():
        state = torch.load(path, map_location="cpu", weights_only=True)
        expected = {"spec": asdict(spec), "seed": int(seed), "data": data_fingerprint}
        found = {k: state.get(k) for k in expected}
        if state.get("format") != CHECKPOINT_FORMAT or found != expected:
            raise ValueError(
                f"checkpoint {path} was written by another run (spec, seed or data differ, or "
                f"format {state.get('format')} != {CHECKPOINT_FORMAT}); remove it to start afresh"
            )
        step = int(state["step"])
        theta, w = state["theta"], state["w"]
        logged_steps = list(state["logged_steps"])
        logged_vals = [tuple(v) for v in state["logged_vals"]]
        checks = [(int(s), float(v)) for s, v in state["checks"]]
        elapsed_before = float(state["elapsed"])
        resumed_from = step
        emit(f"resuming from checkpoint {path} at step {step}")

    check_loss = dict(checks)
    st = _Stepper(spec, x, y, theta, w, theta0, w0)
    # Loss values at the grid steps are written on the device and read back at the checks.
    log_buf = torch.zeros(len(grid), 2, dtype=torch.float64, device=st.w.device)
    pending: list[int] = []  # grid slots written to log_buf and not yet read back

    def flush_log() -> None:
        if pending:
            vals = log_buf[pending].tolist()
            for slot, v in zip(pending, vals, strict=True):
                logged_steps.append(int(grid[slot]))
                logged_vals.append((v[0], v[1]))
            pending.clear()

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - t_start

    def state_dict() -> dict:
        theta_now, w_now = st.params()
        return {
            "format": CHECKPOINT_FORMAT,
            "spec": asdict(spec),
            "seed": int(seed),
            "data": data_fingerprint,
            "step": step,
            "theta": theta_now,
            "w": w_now,
            "logged_steps": list(logged_steps),
            "logged_vals": [list(v) for v in logged_vals],
            "checks": [list(c) for c in checks],
            "elapsed": elapsed(),
        }

    last_ckpt = time.perf_counter()
    last_log = time.perf_counter()
    rate_mark = (step, time.perf_counter())
    stop_reason = "max_steps"
    first = True
    while True:
        st.forward()
        # The step that was just checked before a checkpoint is not checked or logged twice.
        fresh = not (first and resumed_from is not None)
        first = False
        slot = grid_slot.get(step)
        is_check = step % spec.check_every == 0 or step == spec.max_steps
        if fresh and (slot is not None or is_check):
            total, mse = st.loss()
            if slot is not None:
                log_buf[slot, 0] = total
                log_buf[slot, 1] = mse
                pending.append(slot)
            if is_check:
                value = float(total)  # the host synchronisation
                flush_log()
                if not math.isfinite(value):
                    raise TrainingDiverged(
                        f"training diverged at step {step}: loss = {value} ({spec})"
                    )
                checks.append((step, value))
                check_loss[step] = value
                if value < spec.loss_tol:
                    stop_reason = "loss_tol"
                    break
                # Converged when the loss went down, by less than rel_tol, over the window; a rise
                # (GD oscillating at the edge of stability) does not count as convergence.
                past = check_loss.get(step - spec.window)
                if past is not None and 0.0 <= past - value < spec.rel_tol * abs(past):
                    stop_reason = "rel_tol"
                    break
                if step >= spec.max_steps:
                    break
                now = time.perf_counter()
                if now - last_log >= progress.LOG_EVERY_S:
                    rate = (step - rate_mark[0]) / max(now - rate_mark[1], 1e-9)
                    left = (spec.max_steps - step) / max(rate, 1e-9)
                    emit(
                        f"step {step}/{spec.max_steps} loss {value:.4e} {rate:.0f} steps/s, "
                        f"at most {left:.0f} s left"
                    )
                    last_log, rate_mark = now, (step, now)
                due = now - last_ckpt >= checkpoint_every_s
                if path is not None and due and step > (resumed_from or 0):
                    save_checkpoint(path, state_dict())
                    last_ckpt = time.perf_counter()
                    emit(f"checkpoint written at step {step}")
        elif step >= spec.max_steps:
            break
        st.step()
        step += 1

    flush_log()
    if not logged_steps or logged_steps[-1] != step:
        total, mse = st.loss()
        logged_steps.append(step)
        logged_vals.append((float(total), float(mse)))
    theta_final, w_final = st.params()
    vals = np.asarray(logged_vals, dtype=np.float64).reshape(-1, 2)
    wall = elapsed()
    emit(f"stopped at step {step} ({stop_reason}) loss {vals[-1, 0]:.4e} after {wall:.1f} s")
    return TrainResult(
        spec=spec,
        seed=int(seed),
        theta0=theta0,
        w0=w0,
        theta=theta_final,
        w=w_final,
        steps=np.asarray(logged_steps, dtype=np.int64),
        loss=vals[:, 0].copy(),
        mse=vals[:, 1].copy(),
        converged=stop_reason != "max_steps",
        stop_reason=stop_reason,
        n_steps=step,
        wall_time=wall,
        resumed_from=resumed_from,
    )


def spec_from_config(regime: dict) -> NetworkSpec:
    """NetworkSpec from a config regime entry, ignoring its `kind` key; unknown keys are errors."""
    return specs.from_config(NetworkSpec, regime)
