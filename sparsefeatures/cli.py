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
import os
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
    elif regime["kind"] == "network":
        import torch  # here only: importing it would add about a second to every kernel job

        from .network import TrainingDiverged

        torch.set_num_threads(args.threads)
        try:
            ds = runs.network_run(
                {k: v for k, v in regime.items() if k != "kind"},
                p["measures"],
                train,
                test,
                p["seed"],
                device=os.environ.get("SPARSEFEATURES_DEVICE", "auto"),
                checkpoint_dir=args.checkpoint_dir,
                checkpoint_every_s=float(os.environ.get("SPARSEFEATURES_CHECKPOINT_SECONDS", 300)),
                log=log.info,
            )
        except TrainingDiverged as err:
            _record_failure(args, p, str(err))
            return
    elif regime["kind"] == "sparse":
        import numpy as np

        spec = {k: v for k, v in regime.items() if k != "kind"}
        try:
            ds = runs.sparse_run(spec, p["measures"], train, test, p["seed"], log=log.info)
        except runs.NotCertified as err:
            _record_failure(args, p, f"sparse solver not certified: {err}")
            return
        except np.linalg.LinAlgError as err:
            _record_failure(args, p, f"the sparse solver's linear algebra failed: {err}")
            return
    else:
        raise ValueError(f"run {args.out}: unknown regime kind {regime['kind']!r}")
    store.write(ds, args.out, p)
    log.info("run %s done: %s", args.out, steps.run_summary(ds))


def _record_failure(args, params: dict, reason: str) -> None:
    """A run that failed numerically (a diverging training, say) is a result of its parameters,
    not a crash: recording it lets the rest of the sweep go on and the aggregate show the run as
    missing, with the reason."""
    store.write_failure(args.out, params, reason)
    log.warning(
        "run %s FAILED: %s; recorded as a failed store (params %s)",
        args.out,
        reason,
        store.canonical_json(params),
    )


def _aggregate(args) -> None:
    p = args.params
    runs = (store.read(path) for path in args.runs)
    write_aggregate(steps.aggregate(runs, p["grid"]), args)


def write_aggregate(errors, args) -> None:
    """Write an aggregate of args.runs to args.out and log its failed runs (both settings)."""
    store.write(errors, args.out, args.params)
    failed = steps.failed_runs(errors)
    log.info("wrote %s from %d runs, %d of them failed", args.out, len(args.runs), len(failed))
    for run in failed:
        log.warning("failed run (NaN in the aggregate): %s", store.canonical_json(run))


def write_csv(rows: list[dict], path: str | Path, fields: list[str] | None = None) -> None:
    """Rows as CSV with columns `fields` (default: the first row's keys), floats with 4 decimals."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields or list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: f"{v:.4f}" if isinstance(v, float) else v for k, v in row.items()})


def read_csv(path: str | Path) -> list[dict]:
    """Rows of a CSV written by write_csv, with `d` as int and the other numbers as floats."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key, value in row.items():
            if key == "d":
                row[key] = int(value)
            elif key not in ("target", "regime", "theory", "capped_n"):
                row[key] = float(value) if value else math.nan
    return rows


def _exponents(args) -> None:
    p = args.params
    rows = steps.exponents_table(store.read(args.errors), p["targets"], p["regimes"], p["fit"])
    write_csv(rows, args.out)
    log.info("wrote %s (%d fits)", args.out, len(rows))


def _atoms(args) -> None:
    p = args.params
    rows = steps.atoms_table(store.read(args.errors), p["regimes"], p["fit"])
    write_csv(rows, args.out)
    log.info("wrote %s (%d fits)", args.out, len(rows))
    for row in rows:
        if row["capped_n"]:
            log.warning(
                "atoms of %s (target %s, d = %d) left out of the fit at n = %s: mean count above "
                "%g x the width, where the width caps it",
                row["regime"],
                row["target"],
                row["d"],
                row["capped_n"],
                steps.ATOMS_WIDTH_FRACTION,
            )


def _plot(args) -> None:
    from . import plots  # matplotlib: imported only to plot

    p = args.params
    figure = {"learning_curves": plots.learning_curves, "atoms": plots.atoms}[p["figure"]]
    paths = [Path(path) for path in args.out]
    figure(
        store.read(args.errors), read_csv(args.fits), p["target"], p["d"], p["fit"]["points"], paths
    )
    log.info("wrote %s", ", ".join(map(str, paths)))


def _report_exponents(args) -> None:
    from . import report

    html = report.exponents_page(args.sphere, args.atoms, args.images, args.params["name"])
    write_text(html, args.out)
    log.info("wrote %s", args.out)


def _report_statistics(args) -> None:
    from . import report

    settings = {}
    if args.sphere:
        dims = ("target", "d", "regime")
        settings["Sphere"] = (store.read(args.sphere), dims, Path(args.benchmarks) / "sphere")
    if args.images:
        dims = ("dataset", "regime")
        settings["Images"] = (store.read(args.images), dims, Path(args.benchmarks) / "images")
    write_text(report.statistics_page(settings, args.params["name"]), args.out)
    log.info("wrote %s", args.out)


def write_text(text: str, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def add_step(sub, name: str, func, help: str) -> argparse.ArgumentParser:
    """A step's subcommand, with the arguments every step takes."""
    p = sub.add_parser(name, help=help)
    p.add_argument("--params", type=json.loads, required=True, help="canonical JSON parameters")
    p.add_argument("--log", help="append the log to this file (and to stderr)")
    p.add_argument("--threads", type=int, default=1, help="threads (the rule's threads)")
    p.set_defaults(func=func)
    return p


def run_step(args: argparse.Namespace, torch_steps: tuple[str, ...] = ()) -> None:
    """Log to stderr and --log, limit threads, run the step; on failure log what failed and exit 1."""
    handlers = [logging.StreamHandler(sys.stderr)]
    if args.log:
        Path(args.log).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(args.log))
    logging.basicConfig(
        level=logging.INFO, handlers=handlers, format="%(asctime)s %(levelname)s %(message)s"
    )
    # As many threads as the rule reserved: Snakemake fills the cores with parallel jobs, and on
    # small problems extra intra-op threads only add synchronisation (30x slower measured on a
    # loaded 2-core machine).
    threadpoolctl.threadpool_limits(args.threads)
    if args.step in torch_steps:
        import torch

        torch.set_num_threads(args.threads)
    try:
        args.func(args)
    except Exception:
        log.exception(
            "step %s failed (output %s) with params %s",
            args.step,
            getattr(args, "out", "-"),
            store.canonical_json(args.params),
        )
        raise SystemExit(1) from None


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="sparsefeatures", description=__doc__)
    sub = main.add_subparsers(dest="step", required=True)

    def step(name, func, help):
        return add_step(sub, name, func, help)

    p = step("dataset", _dataset, "draw one split of a sphere dataset")
    p.add_argument("--out", required=True)
    p = step("run", _run, "fit one regime on one training set and score it")
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--checkpoint-dir", help="network runs: where to checkpoint and resume from")
    p = step("aggregate", _aggregate, "combine run stores into errors.zarr")
    p.add_argument("--runs", nargs="*", default=[])
    p.add_argument("--out", required=True)
    p = step("exponents", _exponents, "fit learning-curve exponents")
    p.add_argument("--errors", required=True)
    p.add_argument("--out", required=True)
    p = step("atoms", _atoms, "fit the growth of the number of atoms with n")
    p.add_argument("--errors", required=True)
    p.add_argument("--out", required=True)
    p = step("plot", _plot, "plot one figure of one (target, d)")
    p.add_argument("--errors", required=True)
    p.add_argument("--fits", required=True, help="exponents.csv or atoms.csv")
    p.add_argument("--out", nargs="+", required=True)
    p = step("report-exponents", _report_exponents, "the report's table of exponents (HTML)")
    p.add_argument("--sphere", help="sphere exponents.csv")
    p.add_argument("--atoms", help="sphere atoms.csv")
    p.add_argument("--images", help="images exponents.csv")
    p.add_argument("--out", required=True)
    p = step("report-statistics", _report_statistics, "the report's run statistics (HTML)")
    p.add_argument("--sphere", help="sphere errors.zarr")
    p.add_argument("--images", help="images errors.zarr")
    p.add_argument("--benchmarks", default="results/benchmarks", help="Snakemake benchmark files")
    p.add_argument("--out", required=True)
    return main


def main(argv: list[str] | None = None) -> None:
    run_step(parser().parse_args(argv))


if __name__ == "__main__":
    main()
