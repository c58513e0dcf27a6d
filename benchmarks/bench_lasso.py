"""The penalised sparse limit's restricted Lasso: the active-set method against coordinate descent.

Each round of sparse.solve with a penalty > 0 solves a Lasso over its pool of directions. For each
case, one solve records its pools; then, on every recorded pool, from zero, the active-set method
(sparse._lasso) and the baseline, scikit-learn's coordinate descent (Lasso, tol 1e-10, 20,000
sweeps: what the solver used before), are timed in the same process. Prints, per case, the total
seconds of each and their ratio, the largest relative excess of a correlation over n lambda off the
support (0 at the optimum; a column that should carry weight), the weighted columns on the last
pool, and the objectives' largest relative difference (coordinate descent's minus the active
set's). One BLAS thread by default. Writes JSON (default benchmarks/results/lasso.json).

    python benchmarks/bench_lasso.py [--threads 1] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import threadpoolctl
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso

from sparsefeatures.sphere import data as sphere
from sparsefeatures.sphere import sparse

ABS = {"kind": "teacher", "activation": "abs", "power": 1, "width": 100_000}
CONSTANT = {"kind": "constant"}
# (d, n, target, penalty)
CASES = [
    (2, 256, ABS, 1e-4),
    (3, 256, ABS, 1e-3),
    (3, 256, ABS, 1e-4),
    (5, 256, ABS, 1e-3),
    (3, 512, CONSTANT, 1e-4),
]


def pools(x: np.ndarray, y: np.ndarray, penalty: float, seed: int) -> list[np.ndarray]:
    """The features (n, m) of the pool of each round of one solve."""
    recorded = []
    active_set = sparse._lasso

    def recording(phi, y, penalty, c0):
        recorded.append(phi)
        return active_set(phi, y, penalty, c0)

    sparse._lasso = recording
    try:
        sparse.solve(x, y, sparse.SparseSpec(penalty=penalty), seed)
    finally:
        sparse._lasso = active_set
    return recorded


def coordinate_descent(phi: np.ndarray, y: np.ndarray, penalty: float) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lasso = Lasso(alpha=penalty, fit_intercept=False, tol=1e-10, max_iter=20_000)
        return lasso.fit(np.asfortranarray(phi), y).coef_


def quality(phi: np.ndarray, y: np.ndarray, penalty: float, c: np.ndarray) -> tuple[float, float]:
    """(objective, largest relative excess of |correlation| over n lambda off the support)."""
    n = len(y)
    r = y - phi @ c
    corr = np.abs(phi.T @ r)[c == 0]
    excess = float(corr.max()) / (n * penalty) - 1 if corr.size else -1.0
    return 0.5 / n * float(r @ r) + penalty * float(np.abs(c).sum()), max(excess, 0.0)


def measure(d: int, n: int, target: dict, penalty: float, seed: int) -> dict:
    x, y = sphere.make_split(target, "t", d, seed, "train", n)
    row = {"d": d, "n": n, "target": target, "penalty": penalty, "pools": 0}
    seconds = {"active_set": 0.0, "coordinate_descent": 0.0}
    excess = {"active_set": 0.0, "coordinate_descent": 0.0}
    worse = 0.0
    for phi in pools(x, y, penalty, seed):
        row["pools"] += 1
        objective = {}
        for name in seconds:
            start = time.perf_counter()
            if name == "active_set":
                c = sparse._lasso(phi, y, penalty, np.zeros(phi.shape[1]))[0]
            else:
                c = coordinate_descent(phi, y, penalty)
            seconds[name] += time.perf_counter() - start
            objective[name], off = quality(phi, y, penalty, c)
            excess[name] = max(excess[name], off)
            row[f"weighted_{name}"] = int(np.count_nonzero(c))  # the last pool's
        ratio = objective["coordinate_descent"] / objective["active_set"] - 1
        worse = max(worse, ratio)
    row |= {f"seconds_{k}": v for k, v in seconds.items()}
    row |= {f"excess_{k}": v for k, v in excess.items()}
    row["objective_excess_coordinate_descent"] = worse
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/lasso.json")
    args = parser.parse_args()
    print(
        f"{'case':<34} {'pools':>5} {'s active set':>12} {'s CD':>8} {'CD / AS':>8} "
        f"{'excess AS':>10} {'excess CD':>10} {'cols AS':>7} {'cols CD':>7} {'P(CD)/P(AS)-1':>14}"
    )
    rows = []
    with threadpoolctl.threadpool_limits(args.threads):
        for d, n, target, penalty in CASES:
            r = measure(d, n, target, penalty, args.seed)
            rows.append(r)
            name = f"d={d} n={n} {target.get('activation', 'constant')} lambda={penalty:g}"
            print(
                f"{name:<34} {r['pools']:>5} {r['seconds_active_set']:>12.2f} "
                f"{r['seconds_coordinate_descent']:>8.2f} "
                f"{r['seconds_coordinate_descent'] / r['seconds_active_set']:>8.1f} "
                f"{r['excess_active_set']:>10.1e} {r['excess_coordinate_descent']:>10.1e} "
                f"{r['weighted_active_set']:>7d} {r['weighted_coordinate_descent']:>7d} "
                f"{r['objective_excess_coordinate_descent']:>14.1e}",
                flush=True,
            )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "machine": platform.node(), "rows": rows}))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
