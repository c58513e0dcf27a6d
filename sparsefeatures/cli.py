"""Command line of the pipeline's steps: `python -m sparsefeatures.cli STEP --params JSON ...`.

Each Snakemake rule calls one step. `--params` is the canonical JSON of exactly the parameters the
output depends on; it is stored in the output's attributes as its provenance.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import sys
from pathlib import Path

import threadpoolctl

from . import steps, store

log = logging.getLogger("sparsefeatures")


def _dataset(args) -> None:
    p = args.params
    ds = steps.dataset(p["target"], p["spec"], p["d"], p["seed"], p["split"], p["n"])
    store.write(ds, args.out, p)
    log.info("wrote %s (%d points)", args.out, p["n"])


def _run(args) -> None:
    from . import runs  # the numerics are imported only by the steps that compute

    p = args.params
    train, test = store.read(args.train), store.read(args.test)
    regime = p["regime_spec"]
    if regime["kind"] == "kernel":
        ds = runs.kernel_run(regime, train, test, args.threads)
    else:
        raise ValueError(f"run {args.out}: unknown regime kind {regime['kind']!r}")
    store.write(ds, args.out, p)
    log.info(
        "wrote %s: test_mse=%.4g train_mse=%.4g", args.out, float(ds.test_mse), float(ds.train_mse)
    )


def _aggregate(args) -> None:
    p = args.params
    runs = (store.read(path) for path in args.runs)
    store.write(steps.aggregate(runs, p["grid"]), args.out, p)
    log.info("wrote %s from %d runs", args.out, len(args.runs))


def _exponents(args) -> None:
    p = args.params
    rows = steps.exponents_table(store.read(args.errors), p["targets"], p["regimes"], p["fit"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()}
            )
    log.info("wrote %s (%d fits)", out, len(rows))


def read_exponents(path: str | Path) -> list[dict]:
    """Rows of exponents.csv with numbers parsed (empty or 'nan' fields become NaN)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["d"] = int(row["d"])
        for key in ("beta", "beta_low", "beta_high", "beta_theory"):
            row[key] = float(row[key]) if row[key] else math.nan
    return rows


def _plot(args) -> None:
    from . import plots  # matplotlib: imported only to plot

    p = args.params
    errors = store.read(args.errors)
    rows = read_exponents(args.exponents)
    paths = [Path(path) for path in args.out]
    plots.learning_curves(errors, rows, p["target"], p["d"], p["fit"]["points"], paths)
    log.info("wrote %s", ", ".join(map(str, paths)))


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="sparsefeatures", description=__doc__)
    sub = main.add_subparsers(dest="step", required=True)

    def step(name, func, help):
        p = sub.add_parser(name, help=help)
        p.add_argument("--params", type=json.loads, required=True, help="canonical JSON parameters")
        p.add_argument("--log", help="append the log to this file (and to stderr)")
        p.add_argument("--threads", type=int, default=1, help="threads (the rule's threads)")
        p.set_defaults(func=func)
        return p

    p = step("dataset", _dataset, "draw one split of a sphere dataset")
    p.add_argument("--out", required=True)
    p = step("run", _run, "fit one regime on one training set and score it")
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--out", required=True)
    p = step("aggregate", _aggregate, "combine run stores into errors.zarr")
    p.add_argument("--runs", nargs="*", default=[])
    p.add_argument("--out", required=True)
    p = step("exponents", _exponents, "fit learning-curve exponents")
    p.add_argument("--errors", required=True)
    p.add_argument("--out", required=True)
    p = step("plot", _plot, "plot the learning curves of one (target, d)")
    p.add_argument("--errors", required=True)
    p.add_argument("--exponents", required=True)
    p.add_argument("--out", nargs="+", required=True)
    return main


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    handlers = [logging.StreamHandler(sys.stderr)]
    if args.log:
        Path(args.log).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(args.log))
    logging.basicConfig(
        level=logging.INFO, handlers=handlers, format="%(asctime)s %(levelname)s %(message)s"
    )
    # As many BLAS threads as the rule reserved: Snakemake fills the cores with parallel jobs.
    threadpoolctl.threadpool_limits(args.threads)
    try:
        args.func(args)
    except Exception:
        log.exception("step %s failed with params %s", args.step, store.canonical_json(args.params))
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
