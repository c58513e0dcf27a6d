"""Command line of the sphere setting's steps: `python -m sparsefeatures.sphere.cli STEP --params
JSON ...`, one per Snakemake rule (core.cli: the arguments every step shares)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..core import store
from ..core.aggregate import run_summary
from ..core.cli import (
    log,
    read_csv,
    record_failure,
    run_step,
    step_parser,
    write_aggregate,
    write_csv,
)
from . import data, registry, steps
from .runs import RunContext, RunFailed


def _dataset(args) -> None:
    p = args.params
    ds = data.dataset(p["target"], p["spec"], p["d"], p["seed"], p["split"], p["n"])
    store.write(ds, args.out, p)
    log.info("wrote %s (%d points)", args.out, p["n"])


def _run(args) -> None:
    p = args.params
    kind = registry.kind_of(p["regime_spec"])
    context = RunContext(
        train=store.read(args.train),
        test=store.read(args.test),
        seed=p["seed"],
        measures=p.get("measures"),
        threads=args.threads,
        # Where and how networks train, not what they compute: from the environment (common.smk).
        device=os.environ.get("SPARSEFEATURES_DEVICE", "auto"),
        checkpoint_dir=args.checkpoint_dir,
        checkpoint_every_s=float(os.environ.get("SPARSEFEATURES_CHECKPOINT_SECONDS", 300)),
        log=log.info,
    )
    try:
        ds = kind.load().run(p["regime_spec"], context)
    except RunFailed as err:
        record_failure(args, p, str(err))
        return
    store.write(ds, args.out, p)
    log.info("run %s done: %s", args.out, run_summary(ds))


def _aggregate(args) -> None:
    p = args.params
    runs = (store.read(path) for path in args.runs)
    write_aggregate(steps.aggregate(runs, p["grid"]), args)


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
        store.read(args.errors),
        read_csv(args.fits, steps.TEXT_COLUMNS, steps.INTEGER_COLUMNS),
        p["target"],
        p["d"],
        p["fit"]["points"],
        paths,
    )
    log.info("wrote %s", ", ".join(map(str, paths)))


def parser() -> argparse.ArgumentParser:
    main, step = step_parser("sparsefeatures.sphere.cli", __doc__)
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
    return main


def main(argv: list[str] | None = None) -> None:
    run_step(parser().parse_args(argv))


if __name__ == "__main__":
    main()
