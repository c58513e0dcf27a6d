"""Command line of the image pipeline's steps: `python -m sparsefeatures.images.cli STEP ...`.

Each Snakemake rule of workflow/rules/images.smk calls one step. `--params` is the canonical JSON
of exactly the parameters the output depends on; it is stored in the output's attributes as its
provenance. What changes where or how a step computes but not its result stays outside
`--params`: the device and the checkpoint interval come from the environment
(SPARSEFEATURES_DEVICE, SPARSEFEATURES_CHECKPOINT_SECONDS, set by workflow/rules/common.smk from
the config's `training:` section), the checkpoint folder, the data store and the permission to download are flags.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from ..core import store
from ..core.cli import read_csv, run_step, step_parser, write_aggregate, write_csv
from . import steps

log = logging.getLogger("sparsefeatures")


def _train(args) -> None:
    from . import runs  # torch: imported only by the steps that compute

    p = args.params
    ds = runs.train_run(
        p,
        device=os.environ.get("SPARSEFEATURES_DEVICE", "auto"),
        checkpoint_dir=args.checkpoint_dir,
        checkpoint_every_s=float(os.environ.get("SPARSEFEATURES_CHECKPOINT_SECONDS", 300)),
        data=runs.seed_data(p, args.data),
        log=log.info,
    )
    store.write(ds, args.out, p)
    log.info(
        "wrote %s: test_error=%.4f R_f=%.4g n_directions=%d stop=%s steps=%d wall=%.1fs%s",
        args.out,
        float(ds.test_error),
        float(ds.R_f),
        int(ds.n_directions),
        ds.attrs["stop_reason"],
        int(ds.steps),
        float(ds.wall_time),
        ""
        if ds.attrs["resumed_from_step"] < 0
        else f" (resumed from step {ds.attrs['resumed_from_step']})",
    )


def _svc(args) -> None:
    """A learning curve: the SVC at every n of params["n"] (one store each, in the order of --out).

    One job for all n because a fit takes well under a second at n ~ 10^3 while starting a job
    (importing torch and scikit-learn) takes seconds. Each store records its own n."""
    from . import runs

    p = args.params
    if len(args.out) != len(p["n"]):
        raise ValueError(f"{len(args.out)} outputs for {len(p['n'])} training-set sizes")
    data = runs.seed_data(p, args.data)  # read once for every n
    for n, out in zip(p["n"], args.out, strict=True):
        params = p | {"n": n}
        ds = runs.svc_run(params, data=data)
        store.write(ds, out, params)
        log.info(
            "wrote %s: test_error=%.4f R_f=%.4g support=%d converged=%d",
            out,
            float(ds.test_error),
            float(ds.R_f),
            int(ds.n_support),
            int(ds.converged),
        )


def _data(args) -> None:
    """A seed's data: both splits in their balanced orders and the mean image, read and ordered
    once for every run of the seed (sparsefeatures.images.task)."""
    from . import task  # torch: imported only by the steps that compute

    p = args.params
    spec = p["dataset_spec"]
    data = task.seed_data(spec["source"], p["seed"], spec["data_dir"], args.allow_download)
    store.write(task.to_xarray(data), args.out, p)
    log.info(
        "wrote %s: %d training and %d test images of %s from %s",
        args.out,
        len(data.train_index),
        len(data.test_index),
        data.name,
        data.source,
    )


def _aggregate(args) -> None:
    p = args.params
    runs = (store.read(path) for path in args.runs)
    write_aggregate(steps.aggregate(runs, p["grid"], p["kinds"]), args)


def _exponents(args) -> None:
    rows = steps.exponents_table(store.read(args.errors), args.params["fit"])
    write_csv(rows, args.out, list(steps.EXPONENT_FIELDS))
    log.info("wrote %s (%d fits)", args.out, len(rows))


def _plot(args) -> None:
    from . import plots  # matplotlib: imported only to plot

    p = args.params
    errors = store.read(args.errors)
    paths = [Path(path) for path in args.out]
    if p["figure"] == "test_error":
        rows = read_csv(args.exponents, text=steps.EXPONENT_TEXT, integers=("points",))
        plots.test_error(errors, rows, p["dataset"], p["fit_points"], paths)
    elif p["figure"] == "stability":
        plots.stability(errors, p["dataset"], paths)
    elif p["figure"] == "sparsity":
        plots.sparsity(errors, p["dataset"], p["widths"], paths)
    else:
        raise ValueError(f"unknown figure {p['figure']!r}")
    log.info("wrote %s", ", ".join(map(str, paths)))


def parser() -> argparse.ArgumentParser:
    main, step = step_parser("sparsefeatures.images", __doc__)
    p = step("data", _data, "read one data set and order it for one seed (every n's prefixes)")
    p.add_argument("--out", required=True)
    p.add_argument("--allow-download", action="store_true", help="download missing data files")
    p = step("train", _train, "train one network regime on one (data set, n, seed) and score it")
    p.add_argument("--data", help="the seed's data store (default: read the data set's files)")
    p.add_argument("--out", required=True)
    p.add_argument("--checkpoint-dir", help="where to checkpoint and resume from")
    p = step("svc", _svc, "fit one kernel SVC on one (data set, seed) at every n and score it")
    p.add_argument("--data", help="the seed's data store (default: read the data set's files)")
    p.add_argument("--out", nargs="+", required=True, help="one store per n, in params' order")
    p = step("aggregate", _aggregate, "combine run stores into errors.zarr")
    p.add_argument("--runs", nargs="*", default=[])
    p.add_argument("--out", required=True)
    p = step("exponents", _exponents, "fit test error ~ n^-beta per (data set, regime)")
    p.add_argument("--errors", required=True)
    p.add_argument("--out", required=True)
    p = step("plot", _plot, "plot one figure of one data set")
    p.add_argument("--errors", required=True)
    p.add_argument("--exponents", help="exponents.csv (the test_error figure)")
    p.add_argument("--out", nargs="+", required=True)
    return main


def main(argv: list[str] | None = None) -> None:
    run_step(parser().parse_args(argv), torch_steps=("data", "train", "svc"))


if __name__ == "__main__":
    main()
