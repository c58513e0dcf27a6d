"""The report's tables and the summary command, on stores and benchmark files made by hand."""

import math
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from sparsefeatures.core import aggregate, report, store
from sparsefeatures.sphere import steps
from sparsefeatures.tools import summary

BENCHMARK_HEADER = (
    "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
)


def write_benchmark(path, seconds, cpu, rss):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BENCHMARK_HEADER + f"{seconds}\t0:00:01\t{rss}\t0\t0\t0\t0\t0\t0\t{cpu}\n")


def sphere_errors():
    """target constant, d 3, regimes ntk (kernel: no convergence) and feature, n 8/16, seeds 0/1;
    feature n16 seed1 failed, feature n8 seed0 stopped at its cap."""
    dims = ("target", "d", "regime", "n", "seed")
    shape = (1, 1, 2, 2, 2)
    failed = np.zeros(shape)
    failed[0, 0, 1, 1, 1] = 1
    converged = np.full(shape, np.nan)
    converged[0, 0, 1] = [[0, 1], [1, np.nan]]
    wall = np.full(shape, 1.5)
    wall[0, 0, 1, 1, 1] = np.nan
    coords = {"target": ["constant"], "d": [3], "regime": ["ntk", "feature"], "n": [8, 16]}
    coords["seed"] = [0, 1]
    ds = xr.Dataset(
        {
            "failed": (dims, failed),
            "converged": (dims, converged),
            "wall_time": (dims, wall),
        },
        coords=coords,
    )
    ds.attrs["failed_runs"] = store.canonical_json(
        [{"target": "constant", "d": 3, "regime": "feature", "n": 16, "seed": 1, "reason": "NaN"}]
    )
    return ds


def test_statistics_count_runs_and_sum_the_benchmarks_of_their_group(tmp_path):
    files = {"ntk": [], "feature": []}
    for n in (8, 16):
        for seed in (0, 1):
            for regime, seconds, cpu, rss in (
                ("ntk", 2.0, 1.0, 100),
                ("feature", 10.0, 8.0, 300 + n),
            ):
                path = tmp_path / f"{regime}-{n}-{seed}.tsv"  # any name: the groups say whose
                write_benchmark(path, seconds, cpu, rss)
                files[regime].append(str(path))
    groups = [[["constant", 3, regime], len(paths)] for regime, paths in files.items()]
    benchmarks = report.benchmarks_by_group(groups, files["ntk"] + files["feature"])
    assert set(benchmarks) == {("constant", "3", "ntk"), ("constant", "3", "feature")}
    with pytest.raises(ValueError, match="7 benchmark files for groups of 8"):
        report.benchmarks_by_group(groups, files["ntk"] + files["feature"][1:])
    rows = report.statistics_rows(sphere_errors(), ("target", "d", "regime"), benchmarks)
    header = ["runs", "converged", "not converged", "failed", "fit", "job", "CPU", "rss"]
    table = {row[0]: dict(zip(header, row[1:], strict=True)) for row in rows}
    assert table["constant / 3 / ntk"] == {
        "runs": "4", "converged": "-", "not converged": "-", "failed": "0",
        "fit": "6.0 s", "job": "8.0 s", "CPU": "4.0 s", "rss": "100",
    }  # fmt: skip
    assert table["constant / 3 / feature"] == {
        "runs": "4", "converged": "2", "not converged": "1", "failed": "1",
        "fit": "4.5 s", "job": "40.0 s", "CPU": "32.0 s", "rss": "316",
    }  # fmt: skip
    assert table["all"]["runs"] == "8" and table["all"]["job"] == "48.0 s"
    assert table["all"]["rss"] == "316"


def test_statistics_page_lists_failures_with_reasons(tmp_path):
    page = report.statistics_page(
        {"Sphere": (sphere_errors(), ("target", "d", "regime"), {})}, "tiny"
    )
    assert "<b>tiny</b>" in page
    assert "<li>Sphere: target constant, d 3, regime feature, n 16, seed 1: NaN</li>" in page


def test_exponents_page_shows_every_row_and_marks_missing_fits(tmp_path):
    sphere = tmp_path / "exponents.csv"
    sphere.write_text(
        "target,d,regime,beta,beta_low,beta_high,beta_theory\n"
        "constant,3,ntk,3.2008,3.1047,3.2946,3.0000\n"
        "constant,3,feature,2.3700,2.2400,2.4800,nan\n"
        "constant,3,unstable,nan,nan,nan,nan\n"
    )
    images = tmp_path / "images.csv"
    images.write_text(
        "dataset,regime,beta,beta_low,beta_high,points\ndigits,lazy,0.42,0.2,0.57,4\n"
    )
    page = report.exponents_page(sphere, None, images, "default")
    assert "<td>3.20</td><td>[3.10, 3.29]</td><td>3.00</td>" in page
    assert "<td>2.37</td><td>[2.24, 2.48]</td><td>-</td>" in page
    assert "<td class='text'>unstable</td><td>-</td><td>-</td><td>-</td>" in page
    assert "<td>0.42</td><td>[0.20, 0.57]</td><td>4 largest</td>" in page
    assert "number of atoms" not in page  # no atoms table without atoms.csv


def test_duration_units():
    assert [report.duration(s) for s in (5, 600, 36000)] == ["5.0 s", "10.0 min", "10.0 h"]
    assert report.number(math.nan) == "-" and report.number("") == "-"


# ----------------------------------------------------------------------------------------------
# The summary command


def run_store(path, params, converged=None, **attrs):
    values = {"test_mse": ((), 0.1)}
    if converged is not None:
        values |= {"converged": ((), float(converged)), "steps": ((), 500.0)}
    store.write(xr.Dataset(values, attrs=attrs), path, params)


@pytest.fixture
def results(tmp_path):
    """One run of every status under tmp_path/results."""
    runs = tmp_path / "results" / "sphere" / "runs" / "constant" / "d3"
    run_store(runs / "ntk/n8/seed0.zarr", {"n": 8})
    run_store(runs / "feature/n8/seed0.zarr", {"n": 8}, converged=1, stop_reason="rel_tol")
    run_store(runs / "feature/n8/seed1.zarr", {"n": 8}, converged=0, stop_reason="max_steps")
    store.write_failure(runs / "feature/n16/seed0.zarr", {"n": 16}, "training diverged at step 7")
    run_store(runs / "feature/n16/seed1.zarr", {"n": 16}, converged=1)
    store.zarr.open_group(runs / "feature/n16/seed1.zarr", mode="r+").attrs["format_version"] = 0
    run_store(runs / "feature/n32/seed0.zarr", {"n": 32}, converged=1)
    del store.zarr.open_group(runs / "feature/n32/seed0.zarr", mode="r+").attrs["complete"]
    (runs / "feature/n32/seed1.zarr").mkdir(parents=True)  # not a zarr store at all
    run_store(runs / "feature/n32/seed2.zarr", {"n": 32}, converged=1)
    (runs / "feature/n32/seed2.zarr/test_mse/c").unlink()  # a lost chunk
    (runs / "feature/n64/seed0.zarr.tmp-4242").mkdir(parents=True)  # a killed write
    ckpt = tmp_path / "results/checkpoints/sphere/constant/d3/feature/n64/seed1/0123abcd.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"")
    return tmp_path / "results"


def test_summary_tells_each_status_and_why(results):
    runs = {str(r.path.relative_to(results)): r for r in summary.collect(results)}
    prefix = "sphere/runs/constant/d3/"
    status = {path.removeprefix(prefix): (r.status, r.detail) for path, r in runs.items()}
    assert status["ntk/n8/seed0.zarr"] == ("done", "")
    assert status["feature/n8/seed0.zarr"] == ("converged", "rel_tol")
    assert status["feature/n8/seed1.zarr"] == ("not converged", "stopped by max_steps at step 500")
    assert status["feature/n16/seed0.zarr"] == ("failed", "training diverged at step 7")
    assert status["feature/n16/seed1.zarr"][0] == "unusable"
    assert "store format 0" in status["feature/n16/seed1.zarr"][1]
    assert status["feature/n32/seed0.zarr"] == (
        "unusable",
        "incomplete store (its write was interrupted)",
    )
    assert status["feature/n32/seed1.zarr"][1].startswith("unreadable")
    assert status["feature/n32/seed2.zarr"][1].startswith("damaged store (test_mse/c is missing")
    assert status["feature/n64/seed0.zarr.tmp-4242"] == ("unusable", "leftover of a write")
    assert status["feature/n64/seed1.zarr"][0] == "interrupted"
    assert {r.group for r in runs.values()} == {
        "sphere constant/d3/ntk",
        "sphere constant/d3/feature",
    }


def test_summary_command_prints_counts_and_problems(results):
    out = subprocess.run(
        [sys.executable, "-m", "sparsefeatures.tools.summary", "--results", str(results)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = out.splitlines()
    assert lines[0].split() == ["runs", *" ".join(summary.STATUSES).split()]
    total = next(line for line in lines if line.startswith("all runs"))
    # runs, converged, done, not converged, failed, unusable, interrupted
    assert total.split()[2:] == ["10", "1", "1", "1", "1", "5", "1"]
    assert "failed (1):" in out and "interrupted (1): the next `snakemake` resumes" in out
    assert "unusable (5): delete each, run `snakemake <its path>`" in out
    assert "n16/seed0.zarr: training diverged at step 7" in out


def test_summary_of_a_missing_folder_says_so(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "sparsefeatures.tools.summary", "--results", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "no such results folder" in proc.stderr


def test_aggregate_marks_failed_runs_missing():
    def run(n, seed, failure=None):
        params = {"target": "c", "d": 3, "regime": "f", "n": n, "seed": seed}
        attrs = {"params": store.canonical_json(params)}
        if failure:
            return xr.Dataset(attrs=attrs | {"failure": failure})
        return xr.Dataset({"test_mse": ((), 0.5)}, attrs=attrs)

    grid = {"target": ["c"], "d": [3], "regime": ["f"], "n": [8, 16], "seed": [0]}
    errors = steps.aggregate([run(8, 0), run(16, 0, "diverged")], grid)
    assert errors["test_mse"].values.ravel().tolist()[0] == 0.5
    assert np.isnan(errors["test_mse"].values.ravel()[1])
    assert errors["failed"].values.ravel().tolist() == [0.0, 1.0]
    assert aggregate.failed_runs(errors) == [
        {"target": "c", "d": 3, "regime": "f", "n": 16, "seed": 0, "reason": "diverged"}
    ]
