"""The skeleton every step's command line shares: arguments, logging, threads, failures, tables.

A setting's CLI (`python -m sparsefeatures.<setting>.cli STEP --params JSON ...`) registers its steps
with add_step and runs them with run_step. `--params` is the canonical JSON of exactly the
parameters the output depends on; it is stored in the output's attributes as its provenance.
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

from . import aggregate, store

log = logging.getLogger("sparsefeatures")


def record_failure(args, params: dict, reason: str) -> None:
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


def write_aggregate(errors, args) -> None:
    """Write an aggregate of args.runs to args.out and log its failed runs (both settings)."""
    store.write(errors, args.out, args.params)
    failed = aggregate.failed_runs(errors)
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


def read_csv(path: str | Path, text: tuple[str, ...], integers: tuple[str, ...] = ()) -> list[dict]:
    """Rows of a CSV written by write_csv: the columns `text` as strings, `integers` as int, the
    others as floats (NaN where empty)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key, value in row.items():
            if key in integers:
                row[key] = int(value)
            elif key not in text:
                row[key] = float(value) if value else math.nan
    return rows


def write_text(text: str, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def step_parser(prog: str, description: str):
    """A setting's parser of steps, and the function that adds one: step(name, func, help)
    returns the step's subparser (add_step), to which the step adds its own arguments."""
    main = argparse.ArgumentParser(prog=prog, description=description)
    sub = main.add_subparsers(dest="step", required=True)

    def step(name: str, func, help: str) -> argparse.ArgumentParser:
        return add_step(sub, name, func, help)

    return main, step


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
