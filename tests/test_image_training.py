"""Image network and its gradient-flow training (sparsefeatures.images.training).

Small problems only (scikit-learn's 8x8 digits, n <= 40, width <= 100): each training run takes
well under a second on one core.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from sparsefeatures.core import progress
from sparsefeatures.images import task, training
from sparsefeatures.images.training import ImageNetworkSpec

RTOL = 1e-12  # float64 evaluations of the same network
ATOL = 1e-12
QUAD_RTOL = 1e-9  # two quadratures of a smooth Gaussian integral
LAZY_MAX_CHANGE = 1e-3  # alpha sqrt(h) = 1e4: weights move by O(1/alpha), relative change ~1e-4
FEATURE_MIN_CHANGE = 0.5  # alpha sqrt(h) = 1e-2: the first layer moves by more than its own size


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These problems are tiny: on a loaded machine, intra-op threads only add synchronisation
    (measured here: 30x slower with 2 threads than with 1 while other jobs ran)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    return task.make_image_dataset("digits", 40, 100, seed=0)


def small_spec(**kw) -> ImageNetworkSpec:
    base = dict(width=32, alpha=1.0, device="cpu", max_wall_s=60.0)
    return ImageNetworkSpec(**(base | kw))


# ----------------------------------------------------------------------------------------------
# Spec


@pytest.mark.parametrize(
    "field, value",
    [
        ("width", 0),
        ("width", True),
        ("depth", 1.5),
        ("alpha", -1.0),
        ("alpha", math.inf),
        ("fitted_fraction", 1.5),
        ("dt_shrink", 1.0),
        ("min_dt", 2.0),
        ("dtype", "float16"),
        ("device", "tpu"),
        ("bias", "yes"),
        ("mass_threshold", 1.0),
    ],
)
def test_spec_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=rf"ImageNetworkSpec\.{field}\b"):
        ImageNetworkSpec(**{field: value})


def test_spec_defaults_are_the_papers():
    spec = ImageNetworkSpec()
    assert (spec.width, spec.depth, spec.beta, spec.loss_sharpness) == (1000, 1, 5.0, 20.0)
    assert spec.fitted_fraction == 0.99 and spec.dtype == "float64"
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.width = 3


# ----------------------------------------------------------------------------------------------
# Network


def test_activation_scale():
    nodes, weights = np.polynomial.hermite_e.hermegauss(200)  # weight exp(-z^2 / 2)
    for beta in (1.0, 5.0):
        sp = np.logaddexp(0.0, beta * nodes) / beta
        second = (weights * sp**2).sum() / math.sqrt(2 * math.pi)
        assert training.activation_scale(beta) == pytest.approx(second**-0.5, rel=QUAD_RTOL)
    # beta -> infinity: ReLU, whose second moment is 1/2.
    assert training.activation_scale(1e4) == pytest.approx(math.sqrt(2), rel=1e-3)


def numpy_forward(params, x, beta, scale, bias):
    """f(x) = w . a_L / sqrt(h), a_l = scale softplus(beta z_l) / beta,
    z_l = W_l a_{l-1} / sqrt(fan_in) + b_l."""
    p = [t.numpy() for t in params]
    a, k = x.numpy(), 0
    while k < len(p) - 1:
        z = a @ p[k].T / math.sqrt(a.shape[1])
        k += 1
        if bias:
            z = z + p[k]
            k += 1
        a = scale * np.logaddexp(0.0, beta * z) / beta
    return a @ p[k] / math.sqrt(len(p[k]))


@pytest.mark.parametrize("depth, bias", [(1, False), (2, True)])
def test_forward_against_numpy(depth, bias):
    spec = small_spec(depth=depth, bias=bias, width=7)
    params = training.init_params(spec, 5, seed=1)
    assert [tuple(p.shape) for p in params][:1] == [(7, 5)] and params[-1].shape == (7,)
    x = torch.randn(4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    scale = training.activation_scale(spec.beta)
    got = training.forward(spec, params, x, scale).numpy()
    np.testing.assert_allclose(
        got, numpy_forward(params, x, spec.beta, scale, bias), rtol=RTOL, atol=ATOL
    )


def test_predictor_is_zero_at_initialisation(digits):
    result = training.train(digits.x_train, digits.y_train, small_spec(max_steps=0), seed=3)
    assert result.stop_reason == "max_steps" and result.steps == 0
    assert torch.equal(result.network(digits.x_test), torch.zeros(100, dtype=torch.float64))
    # F = 0: every point has loss softplus(s margin) / s.
    assert result.train_loss == pytest.approx(math.log1p(math.exp(20.0)) / 20.0, rel=RTOL)


# ----------------------------------------------------------------------------------------------
# Training


def test_gradient_steps_decrease_the_loss(digits):
    spec = small_spec(max_steps=64)
    result = training.train(digits.x_train, digits.y_train, spec, seed=4)
    assert result.steps == 64 and result.stop_reason == "max_steps"
    losses = [h[2] for h in result.history]
    assert [h[0] for h in result.history] == [0, 1, 2, 4, 8, 16, 32, 64]
    assert all(b <= a for a, b in zip(losses, losses[1:], strict=False))
    assert losses[-1] < 0.9 * losses[0]
    # The recorded loss is the loss of the returned predictor.
    f = result.network(digits.x_train)
    loss = training.smoothed_hinge(digits.y_train * f, 1.0, 20.0).mean()
    assert float(loss) == pytest.approx(result.train_loss, rel=1e-10)


def test_lazy_net_barely_moves_its_first_layer_feature_net_does(digits):
    lazy = training.train(digits.x_train, digits.y_train, small_spec(width=100, alpha=1e3), seed=5)
    feat = training.train(digits.x_train, digits.y_train, small_spec(width=100, alpha=1e-3), seed=5)
    for r in (lazy, feat):
        assert r.stop_reason == "fitted" and r.fitted >= 0.99 and r.train_error == 0.0
    assert lazy.first_layer_change < LAZY_MAX_CHANGE
    assert feat.first_layer_change > FEATURE_MIN_CHANGE
    w0, w1 = feat.network.init_params[0], feat.params[0]
    torch.testing.assert_close(
        torch.linalg.vector_norm(w1 - w0) / torch.linalg.vector_norm(w0),
        torch.tensor(feat.first_layer_change, dtype=torch.float64),
    )


def test_deterministic_and_resumable(digits, tmp_path):
    spec = small_spec(max_steps=40, checkpoint_every_s=0.0)  # a checkpoint after every trial
    x, y = digits.x_train[:20], digits.y_train[:20]
    straight = training.train(x, y, spec, seed=6)
    again = training.train(x, y, spec, seed=6)
    assert all(torch.equal(a, b) for a, b in zip(straight.params, again.params, strict=True))
    ck = tmp_path / "run" / "checkpoint.pt"
    first = training.train(
        x, y, dataclasses.replace(spec, max_steps=15), seed=6, checkpoint_path=ck
    )
    assert first.steps == 15 and ck.exists() and first.resumed_from_step is None
    resumed = training.train(x, y, spec, seed=6, checkpoint_path=ck)
    assert resumed.resumed_from_step == 15 and resumed.steps == 40
    assert all(torch.equal(a, b) for a, b in zip(straight.params, resumed.params, strict=True))
    assert resumed.history == straight.history
    assert (resumed.evaluations, resumed.final_dt) == (straight.evaluations, straight.final_dt)
    assert sorted(p.name for p in ck.parent.iterdir()) == ["checkpoint.pt"]  # no temporary left
    with pytest.raises(ValueError, match="another run"):
        training.train(x, y, spec, seed=7, checkpoint_path=ck)
    other = training.train(x, y, spec, seed=7)
    assert not torch.equal(other.params[0], straight.params[0])


def test_wall_time_cap(digits):
    result = training.train(digits.x_train, digits.y_train, small_spec(max_wall_s=1e-9), seed=0)
    assert result.stop_reason == "wall_time" and result.steps == 0


def test_float32_and_depth_two(digits):
    spec = small_spec(dtype="float32", depth=2, bias=True, max_steps=20)
    result = training.train(digits.x_train, digits.y_train, spec, seed=8)
    assert all(p.dtype == torch.float32 for p in result.params)
    assert result.steps == 20 and math.isfinite(result.train_loss)
    theta, outgoing = result.network.first_layer()
    assert theta.shape == (32, 65) and outgoing.shape == (32,)  # bias appended; |column of W_2|
    torch.testing.assert_close(outgoing, result.params[2].double().norm(dim=0), rtol=1e-6, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(digits):
    spec = small_spec(max_steps=10)
    cpu = training.train(digits.x_train, digits.y_train, spec, seed=9)
    gpu = training.train(
        digits.x_train, digits.y_train, dataclasses.replace(spec, device="cuda"), seed=9
    )
    torch.testing.assert_close(gpu.params[0].cpu(), cpu.params[0], rtol=1e-9, atol=1e-9)


# ----------------------------------------------------------------------------------------------
# Sparsity measures


def test_participation_ratio():
    assert training.participation_ratio(torch.ones(4)) == pytest.approx(4.0)
    assert training.participation_ratio(torch.tensor([3.0, 0.0, 0.0])) == pytest.approx(1.0)
    assert training.participation_ratio(torch.tensor([1.0, 1.0, 2.0])) == pytest.approx(16 / 6)


def test_count_directions():
    gen = torch.Generator().manual_seed(0)
    directions = torch.linalg.qr(torch.randn(10, 3, generator=gen, dtype=torch.float64))[
        0
    ].T  # (3, 10)
    # Three groups of neurons along orthogonal directions (slightly perturbed), their opposite
    # direction (a different atom for a ReLU-like unit), and negligible neurons.
    theta = torch.cat(
        [
            directions[[0, 0, 0, 1, 1, 2]]
            + 1e-3 * torch.randn(6, 10, generator=gen, dtype=torch.float64),
            -directions[[0]],
            torch.randn(5, 10, generator=gen, dtype=torch.float64),
        ]
    )
    outgoing = torch.tensor([1.0, 2.0, 0.5, 1.0, 1.5, 3.0, 1.0] + [1e-5] * 5, dtype=torch.float64)
    masses = training.neuron_masses(theta, outgoing)
    np.testing.assert_allclose(masses, (outgoing.abs() * theta.norm(dim=1)).numpy(), rtol=1e-15)
    assert training.count_directions(theta, masses, 1e-2, 0.99) == (7, 4)
    assert training.count_directions(theta, masses, 0.0, 0.99) == (12, 9)


def test_progress_lines_at_the_configured_rate(digits, monkeypatch):
    lines = []
    spec = small_spec(max_steps=30)
    training.train(digits.x_train, digits.y_train, spec, seed=0, log=lines.append)
    assert lines == []  # a run shorter than LOG_EVERY_S says nothing until its result

    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)  # a line after every iteration
    result = training.train(digits.x_train, digits.y_train, spec, seed=0, log=lines.append)
    assert 0 < len(lines) <= result.evaluations
    words = lines[-1].split()
    assert words[0] == "step" and words[1].endswith(f"/{spec.max_steps}")
    assert "loss" in words and "fitted" in words and "steps/s," in words
    assert lines[-1].endswith(" s left")
