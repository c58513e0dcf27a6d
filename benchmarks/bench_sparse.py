"""The sparse limit's solver (sparse.solve, penalty 0) against a dense grid LP on the same data.

For each d and n: sparse.solve on the constant target (wall time, certified relative duality gap,
atoms, exchange rounds, simplex pivots: the rounds' at d = 2, the crossover's above) and the
log-log slope of time against n per d. Where n <= --grid-max-n, the baseline of the tests in the
same process: min |mu|_TV over a fixed grid of --grid random directions, one HiGHS LP
(scipy.optimize.linprog), with the ratios of times and of objectives (grid TV / continuous TV >= 1:
the grid's discretisation). One BLAS thread by default (--threads). Prints a table and writes JSON
(default benchmarks/results/sparse.json).

    python benchmarks/bench_sparse.py [--dims 2 3 5] [--sizes 64 128 256 512 1024]
        [--grid 20000] [--grid-max-n 128] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import scipy.optimize
import threadpoolctl

from sparsefeatures.sphere import data as sphere
from sparsefeatures.sphere import sparse


def grid_lp(x: np.ndarray, y: np.ndarray, directions: int) -> tuple[float, float]:
    """(min sum |c_j| s.t. sum_j c_j relu(theta_j . x_i) = y_i over fixed random directions,
    seconds): the tests' reference LP."""
    start = time.perf_counter()
    theta = sphere.uniform_sphere(directions, x.shape[1], np.random.default_rng(0))
    a = np.maximum(x @ theta.T, 0.0)  # (n, m)
    res = scipy.optimize.linprog(
        np.ones(2 * a.shape[1]), A_eq=np.hstack([a, -a]), b_eq=y, bounds=(0, None), method="highs"
    )
    if res.status != 0:
        raise RuntimeError(f"grid LP failed: {res.message}")
    return float(res.fun), time.perf_counter() - start


def measure(d: int, n: int, args) -> dict:
    """One solve (and the grid LP where feasible) on the constant target."""
    x, y = sphere.make_split({"kind": "constant"}, "c", d, args.seed, "train", n)
    result = sparse.solve(x, y, sparse.SparseSpec(), args.seed)
    row = {
        "d": d,
        "n": n,
        "seconds": result.seconds,
        "duality_gap": result.duality_gap,
        "dual_violation": result.dual_violation,
        "converged": result.converged,
        "atoms": result.n_atoms,
        "rounds": result.iterations,
        "pivots": result.pivots,
        "tv": result.tv,
    }
    if n <= args.grid_max_n:
        tv, seconds = grid_lp(x, y, args.grid)
        row |= {"grid_tv": tv, "grid_seconds": seconds}
        row |= {"time_ratio": seconds / result.seconds, "tv_ratio": tv / result.tv}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 3, 5])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512, 1024])
    parser.add_argument("--grid", type=int, default=20_000)
    parser.add_argument("--grid-max-n", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/sparse.json")
    args = parser.parse_args()

    print(
        f"{'d':>2} {'n':>5} {'s':>8} {'gap':>8} {'atoms':>5} {'rounds':>6} {'pivots':>7}"
        f"   {'grid s':>8} {'t ratio':>7} {'TV ratio':>9}"
    )
    rows, slopes = [], {}
    with threadpoolctl.threadpool_limits(args.threads):
        for d in args.dims:
            for n in args.sizes:
                row = measure(d, n, args)
                rows.append(row)
                grid = (
                    f"   {row['grid_seconds']:>8.2f} {row['time_ratio']:>7.1f} {row['tv_ratio']:>9.5f}"
                    if "grid_tv" in row
                    else ""
                )
                print(
                    f"{d:>2} {n:>5} {row['seconds']:>8.2f} {row['duality_gap']:>8.1e} "
                    f"{row['atoms']:>5} {row['rounds']:>6} {row['pivots']:>7}{grid}",
                    flush=True,
                )
            mine = [r for r in rows if r["d"] == d]
            if len(mine) > 1:
                fit = np.polyfit(
                    np.log([r["n"] for r in mine]), np.log([r["seconds"] for r in mine]), 1
                )
                slopes[d] = float(fit[0])
                print(f"d = {d}: time ~ n^{slopes[d]:.2f}", flush=True)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "grid": args.grid,
        "grid_max_n": args.grid_max_n,
        "threads": args.threads,
        "seed": args.seed,
        "machine": platform.machine(),
        "processor": platform.processor(),
        "blas": threadpoolctl.threadpool_info(),
    }
    out.write_text(json.dumps({"meta": meta, "rows": rows, "slopes": slopes}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
