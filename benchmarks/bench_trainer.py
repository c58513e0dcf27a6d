"""Speed of the trainer against a plain autograd loop, and the default sweep's science figures.

    python benchmarks/bench_trainer.py [--repeats 3] [--quick]   # (a) and (b) -> trainer.json
    python benchmarks/bench_trainer.py --science                 # 48-run sweep -> science.json

(a) Steps per second, mean-field feature regime, d = 3, constant target, n = 512, H = 1000: the
    project's trainer (float64 and float32) against a baseline written the straightforward way
    (torch autograd, torch.optim.SGD with step lr * H, projection on the sphere, loss read back with
    .item() every step). Each measurement is repeated, interleaved, and the median reported.
(b) Time to convergence on the default feature sweep (n = 16..512, seed 0): the trainer with
    BENCH_REGIMES["feature"] until its tolerance, against the baseline at the paper's
    step (lr = 1) run until its loss is at or below the trainer's final loss. The speedup splits
    into per-step speed (hand-written gradients, in-place updates, no per-step host sync) and the
    step-count ratio (the larger stable lr of the defaults).
--science: the default sweep (d = 3, constant target, n = 16..512, 4 seeds, 4096 test points) for
    the `feature` and `lazy` defaults, two runs at a time with one thread each, plus ridgeless NTK
    regression on the same data: learning-curve exponents with bootstrap intervals (4 largest n),
    atoms per n and their log-log slope, and the time per run.

All timings use one thread per process (torch.set_num_threads(1)); the machine is shared, so
every figure is a median over repeats and the JSON keeps the raw values.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from sparsefeatures.core import fits, kernels
from sparsefeatures.core import measures as core_measures
from sparsefeatures.sphere import data as sphere
from sparsefeatures.sphere import measures
from sparsefeatures.sphere.network import NetworkSpec, init_params, train

# Hyperparameters of the benchmarked sweep (d = 3, constant target, n = 16..512, 4 seeds, H = 1000),
# as config regime entries (without `kind`); --science runs the sweep and prints its figures.
# - feature: the paper's mean-field setting and step (lr = 1, i.e. lr * H = H); lambda scaled up
#   from the paper's 1e-5 (10^6 steps) to 1e-4 so that the runs settle in 10^3-10^4 steps while the
#   penalty's bias on the fit (train MSE ~ 1e-6) stays below the test error. lr = 1.5 or 2 make
#   gradient descent oscillate for some seeds (the tangent kernel grows like w^2 ~ 16).
# - lazy: alpha = 1e4 is deep in the lazy regime (parameters move by ~1e-4 relative); lr = 4 is
#   below 2 / lambda_max(K_train / n), which reaches 0.41 for n = 16 (0.25 for large n). At
#   H = 1000 the network's predictor is kernel regression with the finite-width NTK, whose
#   fluctuations cost a test-error floor ~1e-6 / (H / 1000) (measured): the lazy network matches
#   NTK regression for n <= 64 but its learning curve flattens beyond.
BENCH_REGIMES: dict[str, dict] = {
    "feature": {
        "width": 1000,
        "scaling": "mean_field",
        "penalty": 1e-4,
        "lr": 1.0,
        "conic": False,
        "w_init": 0.0,
        "max_steps": 20_000,
        "loss_tol": 0.0,
        "rel_tol": 5e-4,
        "window": 1000,
        "check_every": 100,
        "dtype": "float64",
    },
    "lazy": {
        "width": 1000,
        "scaling": "alpha",
        "alpha": 1e4,
        "penalty": 0.0,
        "lr": 4.0,
        "max_steps": 10_000,
        "loss_tol": 1e-9,
        "rel_tol": 1e-3,
        "window": 1000,
        "check_every": 100,
        "dtype": "float64",
    },
}

RESULTS = Path(__file__).resolve().parent / "results"
D = 3
H = 1000
N_BENCH = 512
SWEEP_N = (16, 32, 64, 128, 256, 512)
SWEEP_SEEDS = (0, 1, 2, 3)
N_TEST = 4096
CONSTANT = {"kind": "constant"}
BASELINE_LR = 1.0  # the paper's step (lr * H)
BASELINE_CAP = 40_000  # steps after which the baseline gives up reaching the trainer's loss


def data(n: int, seed: int, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    x, y = sphere.make_split(CONSTANT, "constant", D, seed, split, n)
    return torch.from_numpy(x), torch.from_numpy(y)


def baseline_run(
    x: torch.Tensor,
    y: torch.Tensor,
    spec: NetworkSpec,
    seed: int,
    lr: float,
    max_steps: int,
    target_loss: float = -math.inf,
) -> dict:
    """The straightforward loop: autograd, torch.optim.SGD, .item() every step (float64, CPU).

    Same model, loss and initialisation as the trainer's mean-field regime. Stops after max_steps
    or at the first step whose loss is <= target_loss; returns steps, seconds and the last loss.
    """
    theta0, w0 = init_params(spec, x.shape[1], seed)
    theta = theta0.clone().requires_grad_(True)
    w = w0.clone().requires_grad_(True)
    width, lam = spec.width, spec.penalty
    opt = torch.optim.SGD([theta, w], lr=lr * width)
    t0 = time.perf_counter()
    loss_value = math.inf
    step = 0
    while step < max_steps:
        opt.zero_grad()
        f = torch.relu(x @ theta.T) @ w / width
        loss = 0.5 * ((f - y) ** 2).mean() + lam / width * w.abs().sum()
        loss_value = loss.item()
        if loss_value <= target_loss:
            break
        loss.backward()
        with torch.no_grad():
            theta.grad -= (theta.grad * theta).sum(1, keepdim=True) * theta
        opt.step()
        with torch.no_grad():
            theta /= theta.norm(dim=1, keepdim=True)
        step += 1
    return {"steps": step, "seconds": time.perf_counter() - t0, "loss": loss_value}


def feature_spec(**changes) -> NetworkSpec:
    return replace(NetworkSpec(**BENCH_REGIMES["feature"]), device="cpu", **changes)


def bench_steps_per_second(repeats: int, steps: int, baseline_steps: int) -> dict:
    """(a): steps/s on n = 512, interleaving the three loops `repeats` times."""
    x, y = data(N_BENCH, 0)
    fixed = {"max_steps": steps, "rel_tol": 0.0, "loss_tol": 0.0}
    rates: dict[str, list[float]] = {"baseline": [], "trainer_float64": [], "trainer_float32": []}
    for _ in range(repeats):
        b = baseline_run(x, y, feature_spec(), 0, BASELINE_LR, baseline_steps)
        rates["baseline"].append(b["steps"] / b["seconds"])
        for dtype in ("float64", "float32"):
            r = train(x, y, feature_spec(dtype=dtype, **fixed), 0)
            rates[f"trainer_{dtype}"].append(r.n_steps / r.wall_time)
    median = {k: statistics.median(v) for k, v in rates.items()}
    return {
        "n": N_BENCH,
        "width": H,
        "steps_per_second": median,
        "raw": rates,
        "speedup": {k: median[k] / median["baseline"] for k in median},
    }


def bench_convergence(ns: tuple[int, ...]) -> list[dict]:
    """(b): wall time to the default tolerance vs the baseline's time to the same loss."""
    rows = []
    for n in ns:
        x, y = data(n, 0)
        row = {"n": n}
        for dtype in ("float64", "float32"):
            r = train(x, y, feature_spec(dtype=dtype), 0)
            row[f"trainer_{dtype}"] = {
                "steps": r.n_steps,
                "seconds": r.wall_time,
                "loss": r.final_loss,
                "stop": r.stop_reason,
            }
        target = row["trainer_float64"]["loss"]
        b = baseline_run(x, y, feature_spec(), 0, BASELINE_LR, BASELINE_CAP, target)
        b["reached"] = b["loss"] <= target
        row["baseline"] = b
        for dtype in ("float64", "float32"):
            row[f"speedup_{dtype}"] = b["seconds"] / row[f"trainer_{dtype}"]["seconds"]
        rows.append(row)
        print_convergence_row(row)
    return rows


def print_convergence_row(row: dict) -> None:
    b, t64, t32 = row["baseline"], row["trainer_float64"], row["trainer_float32"]
    reached = "" if b["reached"] else " (cap, not reached)"
    print(
        f"  n={row['n']:4d}  trainer f64 {t64['steps']:6d} steps {t64['seconds']:7.2f} s | f32 "
        f"{t32['steps']:6d} steps {t32['seconds']:7.2f} s | baseline {b['steps']:6d} steps "
        f"{b['seconds']:7.2f} s{reached} | x{row['speedup_float64']:.1f} / "
        f"x{row['speedup_float32']:.1f}",
        flush=True,
    )


# --------------------------------------------------------------------------------------------
# --science: the default sweep
# --------------------------------------------------------------------------------------------


def _sweep_run(job: tuple[str, dict, int, int]) -> dict:
    """One network run of the sweep (in a worker process with one thread)."""
    torch.set_num_threads(1)
    regime, entry, n, seed = job
    x, y = data(n, seed)
    x_test, y_test = data(N_TEST, seed, "test")
    spec = replace(NetworkSpec(**entry), device="cpu")
    r = train(x, y, spec, seed)
    err = float(((r.predict(x_test) - y_test) ** 2).mean())
    # Rises of the logged loss by more than 1%: GD oscillating at the edge of stability.
    rises = int(np.sum(r.loss[1:] > 1.01 * r.loss[:-1]))
    return {
        "regime": regime,
        "n": n,
        "seed": seed,
        "test_mse": err,
        "atoms": measures.n_atoms(r.theta, r.w, x),
        "atoms_participation": core_measures.participation_ratio(
            measures.atom_masses(r.theta, r.w, x)
        ),
        "steps": r.n_steps,
        "stop": r.stop_reason,
        "seconds": r.wall_time,
        "final_loss": r.final_loss,
        "loss_rises": rises,
    }


def _slope(n: np.ndarray, v: np.ndarray) -> float:
    return float(np.polyfit(np.log(n), np.log(v), 1)[0])


def parse_overrides(items: list[str]) -> dict[str, dict]:
    """BENCH_REGIMES with `regime.field=value` overrides (values parsed as JSON, else strings)."""
    regimes = {name: dict(entry) for name, entry in BENCH_REGIMES.items()}
    for item in items:
        key, _, text = item.partition("=")
        regime, _, field = key.partition(".")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        regimes[regime][field] = value
    return regimes


def science(workers: int, regimes: dict[str, dict]) -> dict:
    jobs = [
        (reg, entry, n, s)
        for reg, entry in regimes.items()
        for n in SWEEP_N[::-1]
        for s in SWEEP_SEEDS
    ]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        runs = []
        for out in pool.map(_sweep_run, jobs):
            runs.append(out)
            print(
                f"  {out['regime']:8s} n={out['n']:4d} seed={out['seed']} test {out['test_mse']:.3e}"
                f" atoms {out['atoms']:4d} steps {out['steps']:6d} ({out['stop']}) "
                f"{out['seconds']:6.2f} s rises {out['loss_rises']}",
                flush=True,
            )
    sweep_wall = time.perf_counter() - t0
    ns = np.array(SWEEP_N, dtype=float)
    table: dict = {"regimes": {}}
    for regime in regimes:
        err = np.array(
            [
                [
                    r["test_mse"]
                    for s in SWEEP_SEEDS
                    for r in runs
                    if r["regime"] == regime and r["n"] == n and r["seed"] == s
                ]
                for n in SWEEP_N
            ]
        )  # (n, seeds)
        atoms = np.array(
            [
                [
                    r["atoms"]
                    for s in SWEEP_SEEDS
                    for r in runs
                    if r["regime"] == regime and r["n"] == n and r["seed"] == s
                ]
                for n in SWEEP_N
            ],
            dtype=float,
        )  # (n, seeds)
        pr = np.array(
            [
                [
                    r["atoms_participation"]
                    for s in SWEEP_SEEDS
                    for r in runs
                    if r["regime"] == regime and r["n"] == n and r["seed"] == s
                ]
                for n in SWEEP_N
            ]
        )  # (n, seeds)
        secs = [r["seconds"] for r in runs if r["regime"] == regime]
        beta = fits.fit_exponent(ns, err, points=4, bootstrap=1000)
        mean_atoms = atoms.mean(1)
        table["regimes"][regime] = {
            "beta": beta,
            "test_mse_mean": err.mean(1).tolist(),
            "atoms_mean": mean_atoms.tolist(),
            "atoms_std": atoms.std(1).tolist(),
            "atoms_participation_mean": pr.mean(1).tolist(),
            "atoms_slope_all_n": _slope(ns, mean_atoms),
            "atoms_slope_4_largest": _slope(ns[-4:], mean_atoms[-4:]),
            "seconds_total": float(sum(secs)),
            "seconds_mean": float(np.mean(secs)),
            "seconds_max": float(np.max(secs)),
        }
    # Ridgeless NTK regression on the same training and test sets.
    ntk = np.empty((len(SWEEP_N), len(SWEEP_SEEDS)))
    for i, n in enumerate(SWEEP_N):
        for j, s in enumerate(SWEEP_SEEDS):
            x, y = data(n, s)
            x_test, y_test = data(N_TEST, s, "test")
            pred = np.asarray(kernels.fit("ntk", x.numpy(), y.numpy()).predict(x_test.numpy()))
            ntk[i, j] = float(((pred - y_test.numpy()) ** 2).mean())
    table["ntk_regression"] = {
        "beta": fits.fit_exponent(ns, ntk, points=4, bootstrap=1000),
        "test_mse_mean": ntk.mean(1).tolist(),
    }
    total = sum(r["seconds"] for r in runs)
    table.update(
        {
            "n": list(SWEEP_N),
            "seeds": list(SWEEP_SEEDS),
            "runs": runs,
            "regimes_used": regimes,
            "core_seconds_total": total,
            "sweep_wall_seconds": sweep_wall,
            "workers": workers,
        }
    )
    print_science(table)
    return table


def print_science(t: dict) -> None:
    print("\nlearning-curve exponents (4 largest n, 95% bootstrap over seeds):")
    rows = [(k, v["beta"]) for k, v in t["regimes"].items()]
    rows.append(("ntk regression", t["ntk_regression"]["beta"]))
    for name, (b, lo, hi) in rows:
        print(f"  {name:15s} beta = {b:.2f}  [{lo:.2f}, {hi:.2f}]")
    print("\n  n     " + "".join(f"{n:>10d}" for n in t["n"]))
    for name, v in t["regimes"].items():
        print(f"  {name:7s} mse " + "".join(f"{e:10.2e}" for e in v["test_mse_mean"]))
        print(f"  {name:7s} atoms" + "".join(f"{a:10.1f}" for a in v["atoms_mean"]))
        print(f"  {name:7s} PR   " + "".join(f"{a:10.1f}" for a in v["atoms_participation_mean"]))
    print("  ntk     mse " + "".join(f"{e:10.2e}" for e in t["ntk_regression"]["test_mse_mean"]))
    for name, v in t["regimes"].items():
        print(
            f"\n  {name}: atoms slope {v['atoms_slope_all_n']:.2f} (all n), "
            f"{v['atoms_slope_4_largest']:.2f} (4 largest); time per run mean "
            f"{v['seconds_mean']:.1f} s, max {v['seconds_max']:.1f} s, total {v['seconds_total']:.0f} s"
        )
    print(
        f"\n  all {len(t['runs'])} runs: {t['core_seconds_total']:.0f} core-seconds "
        f"({t['core_seconds_total'] / 60:.1f} core-minutes), wall {t['sweep_wall_seconds']:.0f} s "
        f"with {t['workers']} workers"
    )


def environment() -> dict:
    return {
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="repeats of (a), interleaved")
    parser.add_argument("--quick", action="store_true", help="(b) on n = 16, 128, 512 only")
    parser.add_argument("--science", action="store_true", help="run the 48-run default sweep")
    parser.add_argument("--workers", type=int, default=2, help="parallel runs for --science")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="REGIME.FIELD=VALUE",
        help="override a default regime field for --science, e.g. feature.lr=1.5",
    )
    parser.add_argument(
        "--regimes", nargs="+", default=list(BENCH_REGIMES), help="regimes run by --science"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.science:
        regimes = {k: v for k, v in parse_overrides(args.set).items() if k in args.regimes}
        out = {"environment": environment(), **science(args.workers, regimes)}
        default = not args.set and set(args.regimes) == set(BENCH_REGIMES)
        path = RESULTS / ("science.json" if default else "science_variant.json")
    else:
        print(f"(a) steps/s, n = {N_BENCH}, H = {H}, d = {D}, median of {args.repeats}:")
        a = bench_steps_per_second(args.repeats, steps=2000, baseline_steps=200)
        for k, v in a["steps_per_second"].items():
            print(f"  {k:16s} {v:8.0f} steps/s   x{a['speedup'][k]:.1f}")
        print(f"(b) time to the default tolerance vs baseline (lr = {BASELINE_LR}) to same loss:")
        ns = (16, 128, 512) if args.quick else SWEEP_N
        b = bench_convergence(ns)
        total_base = sum(r["baseline"]["seconds"] for r in b)
        total = {k: sum(r[f"trainer_{k}"]["seconds"] for r in b) for k in ("float64", "float32")}
        print(
            f"  total: baseline {total_base:.1f} s, trainer float64 {total['float64']:.1f} s "
            f"(x{total_base / total['float64']:.1f}), float32 {total['float32']:.1f} s "
            f"(x{total_base / total['float32']:.1f})"
        )
        out = {
            "environment": environment(),
            "feature_spec": asdict(feature_spec()),
            "baseline_lr": BASELINE_LR,
            "steps_per_second": a,
            "convergence": b,
            "convergence_total_seconds": {"baseline": total_base, **total},
        }
        path = RESULTS / "trainer.json"
    path.write_text(json.dumps(out, indent=2, default=float))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
