"""Tables of the Snakemake report: the fitted exponents, and what the runs cost and how they ended.

    python -m sparsefeatures.core.report exponents|statistics --params JSON ... --out FILE.html

Each table is a small self-contained HTML page (Snakemake's report shows HTML results inline and
offers CSV files only as downloads). Numbers come from the pipeline's own outputs: exponents.csv
and atoms.csv, the aggregates errors.zarr (runs, convergence, failures, fit times), and the
`benchmark:` files Snakemake writes for every run job (job wall time, CPU time, peak memory),
passed as inputs with their groups of runs in the params (from the config: no path is parsed).
"""

from __future__ import annotations

import argparse
import csv
import html
import itertools
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import xarray as xr

from . import store
from .aggregate import failed_runs
from .cli import log, run_step, step_parser, write_text

STYLE = """
body { font-family: sans-serif; font-size: 14px; margin: 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f0f0f0; }
td.text, th.text { text-align: left; }
caption { text-align: left; font-weight: bold; padding-bottom: 4px; }
"""


def page(title: str, body: list[str]) -> str:
    """A self-contained HTML page."""
    return (
        f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>\n<h2>{html.escape(title)}</h2>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def html_table(caption: str, header: list[str], rows: Iterable[list], text_columns: int) -> str:
    """A table whose first `text_columns` columns are left-aligned text, the others numbers."""

    def cell(tag: str, i: int, value) -> str:
        align = " class='text'" if i < text_columns else ""
        return f"<{tag}{align}>{html.escape(str(value))}</{tag}>"

    lines = [f"<table><caption>{html.escape(caption)}</caption><tr>"]
    lines.append("".join(cell("th", i, h) for i, h in enumerate(header)) + "</tr>")
    for row in rows:
        lines.append("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def number(value, digits: int = 2) -> str:
    """A float with `digits` decimals; '-' for a missing value (empty or NaN)."""
    if value in ("", None):
        return "-"
    value = float(value)
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def interval(low, high) -> str:
    return "-" if number(low) == "-" else f"[{number(low)}, {number(high)}]"


def read_rows(path: str | Path | None) -> list[dict]:
    if path is None:
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def exponents_page(
    sphere: str | Path | None, atoms: str | Path | None, images: str | Path | None, name: str
) -> str:
    """The exponents of every learning curve (and of the atoms' growth), theory beside them."""
    body = [
        f"<p>Configuration <b>{html.escape(name)}</b>. Fits on the largest n; 95% bootstrap "
        "intervals over seeds; '-' where a fit is undefined (fewer than two usable n) or no "
        "theory applies (the column 'theory from' says why). Theories: kernel regression "
        "(ntk, rfk), the feature regime's estimate (feature, derived in this project), "
        "plateau (a target no bias-free ReLU predictor can learn).</p>"
    ]
    rows = read_rows(sphere)
    if rows:
        body.append(
            html_table(
                "Sphere: test MSE ~ n^-beta",
                ["target", "d", "regime", "beta", "95% interval", "theory", "theory from"],
                (
                    [
                        r["target"],
                        r["d"],
                        r["regime"],
                        number(r["beta"]),
                        interval(r["beta_low"], r["beta_high"]),
                        number(r["beta_theory"]),
                        r.get("theory", ""),
                    ]
                    for r in rows
                ),
                text_columns=3,
            )
        )
    rows = read_rows(atoms)
    if rows:
        body.append(
            html_table(
                "Sphere: number of atoms ~ n^slope",
                ["target", "d", "regime", "slope", "95% interval", "left out: n (width cap)"],
                (
                    [
                        r["target"],
                        r["d"],
                        r["regime"],
                        number(r["slope"]),
                        interval(r["slope_low"], r["slope_high"]),
                        r.get("capped_n") or "-",
                    ]
                    for r in rows
                ),
                text_columns=3,
            )
        )
    rows = read_rows(images)
    if rows:
        body.append(
            html_table(
                "Images: test error ~ n^-beta",
                ["dataset", "regime", "beta", "95% interval", "fitted on n"],
                (
                    [
                        r["dataset"],
                        r["regime"],
                        number(r["beta"]),
                        interval(r["beta_low"], r["beta_high"]),
                        f"{r['points']} largest",
                    ]
                    for r in rows
                ),
                text_columns=2,
            )
        )
    return page("Learning-curve exponents", body)


BENCHMARK_COLUMNS = ("s", "cpu_time", "max_rss")  # wall s, CPU s, peak resident memory MB


def read_benchmark(path: Path) -> dict[str, float]:
    """The first row of a Snakemake benchmark file: {'s', 'cpu_time', 'max_rss'} (NaN if '-')."""
    with open(path, newline="") as f:
        row = next(csv.DictReader(f, delimiter="\t"))
    out = {}
    for key in BENCHMARK_COLUMNS:
        try:
            out[key] = float(row[key])
        except (KeyError, TypeError, ValueError):
            out[key] = math.nan
    return out


def benchmarks_by_group(groups: list, files: list[str]) -> dict[tuple[str, ...], list[dict]]:
    """Benchmark files by their group of runs: `groups` lists [group key, number of files] in the
    order of `files` (the workflow passes both, from the config). A key is spelt as the group's
    coordinates are printed (`constant`, `3`, `ntk`)."""
    counts = [count for _, count in groups]
    if sum(counts) != len(files):
        raise ValueError(f"{len(files)} benchmark files for groups of {sum(counts)} files")
    out: dict[tuple[str, ...], list[dict]] = {}
    start = 0
    for key, count in groups:
        out[tuple(str(part) for part in key)] = [
            read_benchmark(Path(f)) for f in files[start : start + count]
        ]
        start += count
    return out


def _count(values: np.ndarray, value: float) -> int:
    return int(np.sum(values == value))


def statistics_rows(errors: xr.Dataset, group_dims: tuple[str, ...], benchmarks: dict) -> list:
    """One row per group of runs: runs, converged, not converged, failed, fit and job times."""
    rows = []
    totals = np.zeros(7)
    peak = 0.0
    for key in itertools.product(*(errors[dim].values for dim in group_dims)):
        sel = {dim: value for dim, value in zip(group_dims, key, strict=True)}
        cell = errors.sel(sel)
        tried = cell["failed"].notnull().values
        if not tried.any():
            continue  # a regime that does not run on this target
        converged = cell["converged"].values  # NaN for kernel regression: nothing to converge
        jobs = benchmarks.get(tuple(str(k) for k in key), [])
        job_s = sum(b["s"] for b in jobs)
        cpu_s = sum(b["cpu_time"] for b in jobs if math.isfinite(b["cpu_time"]))
        rss = max((b["max_rss"] for b in jobs if math.isfinite(b["max_rss"])), default=math.nan)
        figures = np.array(
            [
                tried.sum(),
                _count(converged, 1.0),
                _count(converged, 0.0),
                _count(cell["failed"].values, 1.0),
                float(np.nansum(cell["wall_time"].values)),
                job_s,
                cpu_s,
            ]
        )
        totals += figures
        peak = max(peak, rss) if math.isfinite(rss) else peak
        cells = format_figures(figures, rss)
        if np.isnan(converged[tried]).all():
            cells[1:3] = ["-", "-"]
        rows.append([" / ".join(str(k) for k in key), *cells])
    if rows:
        rows.append(["all", *format_figures(totals, peak)])
    return rows


def format_figures(figures: np.ndarray, rss: float) -> list[str]:
    runs, conv, notconv, failed, fit_s, job_s, cpu_s = figures
    return [
        f"{runs:.0f}",
        f"{conv:.0f}",
        f"{notconv:.0f}",
        f"{failed:.0f}",
        duration(fit_s),
        duration(job_s),
        duration(cpu_s),
        number(rss, 0),
    ]


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def statistics_page(
    settings: dict[str, tuple[xr.Dataset, tuple[str, ...], dict]], name: str
) -> str:
    """How many runs, how they ended and what they cost, per setting and group of runs.

    `settings` maps a setting's title to (its aggregate, the dimensions that make a group of runs,
    its run jobs' benchmarks by group: benchmarks_by_group).
    """
    header = [
        "runs",
        "converged",
        "not converged",
        "failed",
        "fit time",
        "job time",
        "CPU time",
        "peak memory (MB)",
    ]
    body = [
        f"<p>Configuration <b>{html.escape(name)}</b>. <i>converged</i>: training met its "
        "stopping criterion; <i>not converged</i>: it stopped at its step or time cap (kernel "
        "regression has neither); <i>failed</i>: the run diverged and is missing (NaN) from the "
        "aggregate. Fit time: the fits themselves, as the runs recorded it; job time, CPU time "
        "and peak memory: Snakemake's benchmark files of the run jobs.</p>"
    ]
    failures = []
    for title, (errors, group_dims, benchmarks) in settings.items():
        rows = statistics_rows(errors, group_dims, benchmarks)
        body.append(html_table(title, [" / ".join(group_dims), *header], rows, text_columns=1))
        dims = errors["failed"].dims
        failures += [
            (title, ", ".join(f"{dim} {run[dim]}" for dim in dims), run["reason"])
            for run in failed_runs(errors)
        ]
    if failures:
        items = "".join(
            f"<li>{html.escape(title)}: {html.escape(run)}: {html.escape(reason)}</li>"
            for title, run, reason in failures
        )
        body.append(f"<p><b>Failed runs</b></p><ul>{items}</ul>")
    return page("Run statistics", body)


def _exponents(args) -> None:
    write_text(exponents_page(args.sphere, args.atoms, args.images, args.params["name"]), args.out)
    log.info("wrote %s", args.out)


# Each setting's aggregate, by its title, and the dimensions that make one group of its runs.
SETTINGS = {
    "sphere": ("Sphere", ("target", "d", "regime")),
    "images": ("Images", ("dataset", "regime")),
}


def _statistics(args) -> None:
    # The run jobs' benchmark files, by [[setting, *group key], number of files] in params.
    groups = args.params.get("benchmark_groups", [])
    benchmarks = benchmarks_by_group([[key, n] for key, n in groups], args.benchmarks)
    settings = {}
    for name, (title, dims) in SETTINGS.items():
        if getattr(args, name):
            errors = store.read(getattr(args, name))
            mine = {key[1:]: files for key, files in benchmarks.items() if key[0] == name}
            settings[title] = (errors, dims, mine)
    write_text(statistics_page(settings, args.params["name"]), args.out)
    log.info("wrote %s", args.out)


def parser() -> argparse.ArgumentParser:
    main, step = step_parser("sparsefeatures.core.report", __doc__)
    p = step("exponents", _exponents, "the report's table of exponents (HTML)")
    p.add_argument("--sphere", help="sphere exponents.csv")
    p.add_argument("--atoms", help="sphere atoms.csv")
    p.add_argument("--images", help="images exponents.csv")
    p.add_argument("--out", required=True)
    p = step("statistics", _statistics, "the report's run statistics (HTML)")
    p.add_argument("--sphere", help="sphere errors.zarr")
    p.add_argument("--images", help="images errors.zarr")
    p.add_argument(
        "--benchmarks",
        nargs="*",
        default=[],
        help="the run jobs' benchmark files, grouped by params' benchmark_groups",
    )
    p.add_argument("--out", required=True)
    return main


def main(argv: list[str] | None = None) -> None:
    run_step(parser().parse_args(argv))


if __name__ == "__main__":
    main()
