"""Gradient descent against the convex problem it converges to: the feature regime and its limit.

A mean-field network f(x) = (1/H) sum_h w_h relu(theta_h . x) trained by gradient descent on
(1/2n) sum (f - y)^2 + (lambda/H) sum |w_h| is a measure mu = (1/H) sum_h w_h delta_theta_h, and its
loss is the convex objective P(mu) of `kind: sparse`; as it converges, its objective falls to the
sparse limit's minimum (which it can never go below), its predictions and its atoms to the limit's.
For each n: the sparse limit (sphere.sparse.solve, certified duality gap), then the network (width
`--width-factor` x n, plain GD as in the paper, lr = 1) until its loss stalls or `--max-steps`;
prints both objectives, test MSEs and atom counts and their ratios, writes JSON (default
benchmarks/results/gd_vs_sparse.json).

    python benchmarks/compare_gd_sparse.py [--n 16 32 64 128 256] [--penalty 1e-3] [--d 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from sparsefeatures.sphere import data, measures, sparse
from sparsefeatures.sphere.network import NetworkSpec, train

RESULTS = Path(__file__).resolve().parent / "results"
CONSTANT = {"kind": "constant"}
N_TEST = 4000
ATOM_THRESHOLD = 1e-3  # sphere.measures' default relative mass threshold


def mse(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((pred - y) ** 2))


def compare(n: int, d: int, penalty: float, width_factor: int, max_steps: int, seed: int) -> dict:
    x, y = data.make_split(CONSTANT, "constant", d, seed, "train", n)
    x_test, y_test = data.make_split(CONSTANT, "constant", d, seed, "test", N_TEST)
    start = time.perf_counter()
    limit = sparse.solve(x, y, sparse.SparseSpec(penalty=penalty), seed)
    limit_s = time.perf_counter() - start
    spec = NetworkSpec(
        width=width_factor * n,
        penalty=penalty,
        max_steps=max_steps,
        rel_tol=1e-9,
        window=2000,
        check_every=200,
        device="cpu",
    )
    net = train(torch.from_numpy(x), torch.from_numpy(y), spec, seed)
    x_t = torch.from_numpy(x)
    gd_objective = 0.5 * mse(net.predict(x_t).numpy(), y) + penalty * float(net.w.abs().mean())
    row = {
        "n": n,
        "objective_limit": limit.objective,
        "objective_gd": gd_objective,
        "duality_gap": limit.duality_gap,
        "test_mse_limit": mse(limit.predict(x_test), y_test),
        "test_mse_gd": mse(net.predict(torch.from_numpy(x_test)).numpy(), y_test),
        "atoms_limit": measures.n_atoms(
            torch.from_numpy(limit.theta), torch.from_numpy(limit.c), x_t, ATOM_THRESHOLD
        ),
        "atoms_gd": measures.n_atoms(net.theta, net.w, x_t, ATOM_THRESHOLD),
        "gd_steps": net.n_steps,
        "gd_stop": net.stop_reason,
        "seconds_limit": limit_s,
        "seconds_gd": net.wall_time,
    }
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    parser.add_argument("--d", type=int, default=3)
    parser.add_argument("--penalty", type=float, default=1e-3)
    parser.add_argument("--width-factor", type=int, default=10)
    parser.add_argument("--max-steps", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "gd_vs_sparse.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        f"d = {args.d}, constant target, lambda = {args.penalty:g}, width {args.width_factor} n, "
        f"seed {args.seed}\n"
        f"{'n':>5} {'P(limit)':>10} {'P(GD)':>10} {'ratio':>7} {'test MSE limit':>15} "
        f"{'GD':>10} {'ratio':>6} {'atoms':>6} {'GD':>5} {'GD steps':>9} {'s limit':>8} {'s GD':>7}"
    )
    rows = []
    for n in args.n:
        r = compare(n, args.d, args.penalty, args.width_factor, args.max_steps, args.seed)
        rows.append(r)
        print(
            f"{n:>5} {r['objective_limit']:>10.6f} {r['objective_gd']:>10.6f} "
            f"{r['objective_gd'] / r['objective_limit']:>7.4f} {r['test_mse_limit']:>15.4e} "
            f"{r['test_mse_gd']:>10.4e} {r['test_mse_gd'] / r['test_mse_limit']:>6.3f} "
            f"{r['atoms_limit']:>6d} {r['atoms_gd']:>5d} {r['gd_steps']:>9d} "
            f"{r['seconds_limit']:>8.1f} {r['seconds_gd']:>7.1f}",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"args": vars(args) | {"out": str(args.out)}, "machine": platform.node(), "rows": rows},
            indent=1,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
