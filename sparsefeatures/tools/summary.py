"""What the pipeline has computed so far, read from the run stores: `python -m sparsefeatures.tools.summary`.

For every run store under RESULTS/{sphere,images}/runs it says whether the run exists and
converged, stopped at a step or time cap, failed (and why), or is unusable (an interrupted write,
a damaged store, a store of another format version: the next step refuses those, naming them).
Runs with a training checkpoint and no store were interrupted (or are running) and resume from it
on the next `snakemake`. Stores are not loaded: their attributes, two scalars and the checksums of
their files are read, so it is fast on thousands of runs and safe while Snakemake is writing.
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ..core import store

SETTINGS = ("sphere", "images")
# Store statuses, in the order of the table's columns.
STATUSES = ("converged", "done", "not converged", "failed", "unusable", "interrupted")
TMP_SUFFIX = re.compile(r"\.tmp-\d+$")
HINTS = {
    "unusable": ": delete each, run `snakemake <its path>`, then the pipeline as usual",
    "interrupted": ": the next `snakemake` resumes each from its checkpoint",
}


@dataclass(frozen=True)
class Run:
    path: Path  # the run store (which may not exist: interrupted runs)
    group: str  # e.g. sphere constant/d3/feature: the runs of one curve
    status: str  # one of STATUSES
    detail: str = ""  # why it failed, where it stopped, what is wrong with the store


def inspect(path: Path, group: str) -> Run:
    """The status of one run store, from its attributes and its `converged` and `steps` scalars."""
    try:
        root = store.check(path)
        attrs = dict(root.attrs)
        converged = float(root["converged"][()]) if "converged" in root else None
        steps = int(root["steps"][()]) if "steps" in root else None
    except store.StoreError as err:
        return Run(path, group, "unusable", err.problem)
    if attrs.get("failure"):
        return Run(path, group, "failed", attrs["failure"])
    if converged is None:
        return Run(path, group, "done")  # kernel regression: nothing to converge
    if converged:
        return Run(path, group, "converged", attrs.get("stop_reason", ""))
    where = "" if steps is None else f" at step {steps}"
    return Run(
        path, group, "not converged", f"stopped by {attrs.get('stop_reason', 'a cap')}{where}"
    )


def collect(results: Path) -> list[Run]:
    """Every run of every setting under `results`, stores first, then interrupted runs."""
    runs = []
    for setting in SETTINGS:
        root = results / setting / "runs"
        stores = set()
        for path in sorted(root.rglob("*.zarr")) if root.is_dir() else []:
            rel = path.relative_to(root)
            stores.add(rel)
            runs.append(inspect(path, f"{setting} {rel.parent.parent}"))
        for tmp in sorted(root.rglob("*.zarr.tmp-*")) if root.is_dir() else []:
            if TMP_SUFFIX.search(tmp.name):
                rel = tmp.relative_to(root)
                runs.append(
                    Run(tmp, f"{setting} {rel.parent.parent}", "unusable", "leftover of a write")
                )
        # A checkpoint folder mirrors its run's path: checkpoints/SETTING/.../seedS/HASH.pt.
        checkpoints = results / "checkpoints" / setting
        for ckpt in sorted(checkpoints.rglob("*.pt")) if checkpoints.is_dir() else []:
            rel = ckpt.parent.relative_to(checkpoints).with_suffix(".zarr")
            if rel not in stores:
                runs.append(
                    Run(
                        root / rel,
                        f"{setting} {rel.parent.parent}",
                        "interrupted",
                        f"checkpoint {ckpt}",
                    )
                )
    return runs


def table(runs: list[Run]) -> str:
    """Counts of each status per group of runs, as aligned text."""
    counts = collections.defaultdict(collections.Counter)
    for run in runs:
        counts[run.group][run.status] += 1
    counts["all runs"] = sum(counts.values(), collections.Counter())
    width = max(len(g) for g in counts)
    header = f"{'':<{width}}  {'runs':>5}" + "".join(f"  {s}" for s in STATUSES)
    lines = [header]
    for group in [*sorted(set(counts) - {"all runs"}), "all runs"]:
        c = counts[group]
        cells = "".join(f"  {c[s] if c[s] else '-':>{len(s)}}" for s in STATUSES)
        lines.append(f"{group:<{width}}  {sum(c.values()):>5}{cells}")
    return "\n".join(lines)


def report(runs: list[Run], every: bool = False, width: int = 200) -> str:
    """The table, then each run that needs attention (all runs with `every`) and why."""
    if not runs:
        return "no run stores found"
    out = [table(runs)]
    attention = ("failed", "unusable", "interrupted", "not converged")
    for status in STATUSES if every else attention:
        listed = [r for r in runs if r.status == status]
        if listed:
            hint = HINTS.get(status, "")
            out.append(f"\n{status} ({len(listed)}){hint}:")
            for r in listed:
                detail = r.detail if len(r.detail) <= width else r.detail[: width - 3] + "..."
                out.append(f"  {r.path}" + (f": {detail}" if detail else ""))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sparsefeatures.tools.summary", description=__doc__
    )
    parser.add_argument("--results", type=Path, default=Path("results"), help="results folder")
    parser.add_argument("--all", action="store_true", help="list every run, not only problems")
    parser.add_argument("--width", type=int, default=200, help="cut reasons at this many chars")
    args = parser.parse_args(argv)
    if not args.results.is_dir():
        sys.exit(f"{args.results}: no such results folder (run snakemake first, or pass --results)")
    print(report(collect(args.results), every=args.all, width=args.width))


if __name__ == "__main__":
    main()
