"""Kernel regression cost against its floor, a bare Cholesky solve of the same Gram matrix.

For each n: the project's full kernel regression (Gram matrix of the training set, Cholesky
factorisation and solve, Gram matrix against the test set and prediction), against scipy's
cho_factor + cho_solve alone on a precomputed copy of the same Gram matrix, in the same process and
on the same data. Prints a table and writes JSON (default benchmarks/results/kernels.json).

    python benchmarks/bench_kernels.py [--sizes 2048 4096 8192] [--n-test 4096] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import scipy.linalg
import threadpoolctl

from sparsefeatures import kernels, sphere


def best_time(func, repeats: int, setup=lambda: None) -> float:
    """Minimum wall time of func(setup()) over repeats (setup untimed): the least disturbed run."""
    times = []
    for _ in range(repeats):
        arg = setup()
        start = time.perf_counter()
        func(arg)
        times.append(time.perf_counter() - start)
    return min(times)


def measure(n: int, args) -> dict:
    """Timings of one training-set size."""
    rng = np.random.default_rng(n)
    x = sphere.uniform_sphere(n, args.d, rng)
    y = np.ones(n)
    x_test = sphere.uniform_sphere(args.n_test, args.d, rng)
    k = kernels.gram(args.kernel, x, x)
    model = kernels.fit(args.kernel, x, y)

    def project(_):
        kernels.fit(args.kernel, x, y).predict(x_test)

    def bare(a):
        factor = scipy.linalg.cho_factor(a, lower=True, overwrite_a=True, check_finite=False)
        scipy.linalg.cho_solve(factor, y, check_finite=False)

    t_project = best_time(project, args.repeats)
    # A fresh Fortran-ordered copy for each repeat, made outside the timing: the floor is LAPACK.
    t_bare = best_time(bare, args.repeats, setup=lambda: k.copy(order="F"))
    return {
        "n": n,
        "project_s": t_project,
        "cholesky_s": t_bare,
        "ratio": t_project / t_bare,
        "gram_s": best_time(lambda _: kernels.gram(args.kernel, x, x), args.repeats),
        "predict_s": best_time(lambda _: model.predict(x_test), args.repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096, 8192])
    parser.add_argument("--n-test", type=int, default=4096)
    parser.add_argument("--d", type=int, default=3)
    parser.add_argument("--kernel", default="ntk", choices=kernels.KERNELS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/kernels.json")
    args = parser.parse_args()

    blas = threadpoolctl.threadpool_info()
    print(f"{'n':>6} {'project s':>10} {'cholesky s':>11} {'ratio':>6}   (gram / predict s)")
    rows = []
    for n in args.sizes:
        row = measure(n, args)
        rows.append(row)
        print(
            f"{n:>6} {row['project_s']:>10.3f} {row['cholesky_s']:>11.3f} {row['ratio']:>6.2f}"
            f"   ({row['gram_s']:.3f} / {row['predict_s']:.3f})"
        )

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "kernel": args.kernel,
        "d": args.d,
        "n_test": args.n_test,
        "repeats": args.repeats,
        "machine": platform.machine(),
        "processor": platform.processor(),
        "blas": blas,
    }
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
