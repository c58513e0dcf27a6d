"""The workflow end to end on tiny configs, and the config's validation."""

import csv
import math
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from sparsefeatures.core import aggregate, kernels, store
from sparsefeatures.sphere import data as sphere
from sparsefeatures.sphere import sparse

from .conftest import REPO, SNAKEMAKE, TINY_NETWORK, brute_dual_sup, tiny_sphere_config

pytestmark = pytest.mark.slow


def test_tiny_sphere_pipeline_end_to_end(tmp_path, run_snakemake):
    config = tiny_sphere_config(
        targets={"constant": {"kind": "constant"}, "rough": {"kind": "teacher", "width": 1000}},
        regimes={
            "ntk": {"kind": "kernel", "kernel": "ntk"},
            "rfk": {"kind": "kernel", "kernel": "rfk", "ridge": 1e-3},
        },
    )
    run_snakemake(tmp_path, config)
    errors = store.read(tmp_path / "results/sphere/errors.zarr")
    assert dict(errors["test_mse"].sizes) == {"target": 2, "d": 1, "regime": 2, "n": 2, "seed": 2}
    assert list(errors["target"].values) == ["constant", "rough"]
    assert list(errors["n"].values) == [8, 16]
    assert errors["test_mse"].attrs["units"]
    assert np.all(np.isfinite(errors["test_mse"].values))

    # One cell recomputed independently from the dataset's definition.
    x, y = sphere.make_split(
        config["sphere"]["targets"]["rough"] | {"activation": "abs", "power": 1},
        "rough",
        2,
        1,
        "train",
        16,
    )
    x_test, y_test = sphere.make_split(
        config["sphere"]["targets"]["rough"] | {"activation": "abs", "power": 1},
        "rough",
        2,
        1,
        "test",
        64,
    )
    model = kernels.fit("rfk", x, y, ridge=1e-3)
    expected = np.mean((model.predict(x_test) - y_test) ** 2)
    got = float(errors["test_mse"].sel(target="rough", d=2, regime="rfk", n=16, seed=1))
    assert got == pytest.approx(expected, rel=1e-10)

    run = store.read(tmp_path / "results/sphere/runs/rough/d2/rfk/n16/seed1.zarr")
    assert store.params_of(run)["regime_spec"] == {"kind": "kernel", "kernel": "rfk", "ridge": 1e-3}

    with open(tmp_path / "results/sphere/exponents.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["target"], r["regime"]) for r in rows] == [
        ("constant", "ntk"),
        ("constant", "rfk"),
        ("rough", "ntk"),
        ("rough", "rfk"),
    ]
    assert float(rows[0]["beta_theory"]) == pytest.approx(2 * 2 / 1)  # min(inf, 2 d) / (d - 1)
    assert math.isfinite(float(rows[0]["beta"]))
    for target in ("constant", "rough"):
        for ext in ("png", "pdf"):
            assert (tmp_path / f"results/sphere/plots/{target}_d2.{ext}").stat().st_size > 1000

    # The report holds every figure, each with its caption.
    run_snakemake(tmp_path, config, "--report", str(tmp_path / "report.html"))
    report = (tmp_path / "report.html").read_text()
    for target in ("constant", "rough"):
        assert f"{target}_d2.png" in report
    assert "Test error of every regime against the training-set size" in report


@pytest.mark.parametrize(
    ("sphere_overrides", "message"),
    [
        ({"n_train": [-4]}, "-4 is less than the minimum of 1"),
        ({"dims": [1]}, "1 is less than the minimum of 2"),
        ({"seeds": []}, "should be non-empty"),
        ({"regimes": {"k": {"kind": "kernel", "kernel": "laplace"}}}, "'laplace' is not one of"),
        (
            {"regimes": {"k": {"kind": "kernel", "kernel": "ntk", "rigde": 0.1}}},
            "'rigde' was unexpected",
        ),
        ({"targets": {"t": {"kind": "teacher", "width": 0}}}, "0 is less than the minimum of 1"),
        ({"n_tset": 10}, "'n_tset' was unexpected"),
        ({"regimes": {"f": {"kind": "network", "width": 0}}}, "0 is less than the minimum of 1"),
    ],
)
def test_invalid_config_fails_before_any_job(tmp_path, run_snakemake, sphere_overrides, message):
    result = run_snakemake(tmp_path, tiny_sphere_config(**sphere_overrides), "-n", check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def test_jobs_on_larger_training_sets_come_first(tmp_path, run_snakemake):
    """Each sphere dataset and run job has its n as priority (the test set's job: the largest n):
    Snakemake starts the longest runs first."""
    n_train = [8, 16, 64]
    config = tiny_sphere_config(n_train=n_train)
    seeds = len(config["sphere"]["seeds"])
    plan = run_snakemake(tmp_path, config, "--dry-run").stdout
    seen = []
    for block in plan.split("rule ")[1:]:
        rule = block.split(":", 1)[0]
        fields = dict(
            line.strip().split(": ", 1) for line in block.splitlines()[1:] if ": " in line
        )
        if rule in ("sphere_train_data", "sphere_test_data", "sphere_kernel_run"):
            wildcards = dict(item.split("=") for item in fields["wildcards"].split(", "))
            expected = int(wildcards.get("n", max(n_train)))
            seen.append((rule, int(fields["priority"]) == expected))
    # A training set and a run per seed and n, a test set per seed.
    assert len(seen) == 2 * seeds * len(n_train) + seeds and all(ok for _, ok in seen)


def test_sparse_regime_through_the_pipeline(tmp_path, run_snakemake):
    """The feature regime's limit, solved exactly: certified runs, atoms, theory and figures."""
    config = tiny_sphere_config(
        dims=[3],
        n_train=[8, 16, 32],
        regimes={"ntk": {"kind": "kernel", "kernel": "ntk"}, "limit": {"kind": "sparse"}},
    )
    run_snakemake(tmp_path, config)
    ds = store.read(tmp_path / "results/sphere/runs/constant/d3/limit/n32/seed0.zarr")
    assert float(ds.duality_gap) <= 1e-4 and float(ds.dual_violation) <= 1e-4
    assert float(ds.train_residual) < 1e-8  # the interpolating limit
    assert 1 <= int(ds.n_atoms) <= 32 and ds["theta"].shape == (ds["c"].shape[0], 3)
    # The stored certificate checks without the solver: the bound from the dual point, with sup
    # |g_p| by brute force (at most the solver's sup), is at least the stored one, which is below
    # the objective by the stored gap.
    train = store.read(tmp_path / "results/sphere/data/constant/d3/seed0/train_n32.zarr")
    x, p = train["x"].values, ds["dual_point"].values
    values = sparse.relu_features(ds["theta"].values, x) @ ds["c"].values  # (n,) f at the data
    sampled = brute_dual_sup(p, x)
    objective, bound = float(ds.objective), float(ds.dual_bound)
    assert bound <= objective and float(ds.duality_gap) == pytest.approx(
        (objective - bound) / objective, rel=1e-9, abs=1e-15
    )
    assert float(values @ p) / sampled >= bound * (1 - 1e-12)
    assert sampled <= 1 + float(ds.dual_violation) + 1e-12
    rows = {r["regime"]: r for r in csv.DictReader(open(tmp_path / "results/sphere/exponents.csv"))}
    assert rows["limit"]["theory"] == "feature" and float(rows["limit"]["beta_theory"]) == 2.5
    atoms = list(csv.DictReader(open(tmp_path / "results/sphere/atoms.csv")))
    assert [r["regime"] for r in atoms] == ["limit"]
    assert (tmp_path / "results/sphere/plots/constant_d3_atoms.png").exists()


def test_network_regimes_through_the_pipeline(tmp_path, run_snakemake):
    config = tiny_sphere_config(
        regimes={
            "ntk": {"kind": "kernel", "kernel": "ntk"},
            "feature": TINY_NETWORK,
            "lazy": TINY_NETWORK | {"scaling": "alpha", "alpha": 100.0, "penalty": 0.0},
        }
    )
    run_snakemake(tmp_path, config)
    errors = store.read(tmp_path / "results/sphere/errors.zarr")
    feature = errors.sel(regime="feature")
    assert np.all(np.isfinite(feature["test_mse"].values))
    assert np.all(feature["n_atoms"].values >= 1)
    assert np.all(np.isnan(errors["n_atoms"].sel(regime="ntk").values))
    # Lazy training barely moves the first layer; feature learning moves it.
    lazy_move = float(errors["theta_displacement"].sel(regime="lazy").max())
    feature_move = float(feature["theta_displacement"].min())
    assert lazy_move < 0.05 < feature_move

    run = store.read(tmp_path / "results/sphere/runs/constant/d2/feature/n16/seed0.zarr")
    assert run["theta"].shape == (50, 2)
    assert run["loss"].dims == ("log_step",)
    assert store.params_of(run)["measures"] == {"rotation_angle": 0.1, "atom_threshold": 0.001}
    assert not list((tmp_path / "results/checkpoints").rglob("*.pt"))  # removed once done

    with open(tmp_path / "results/sphere/atoms.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["regime"] for r in rows] == ["feature", "lazy"]
    assert (tmp_path / "results/sphere/plots/constant_d2_atoms.png").stat().st_size > 1000


def test_killed_training_job_resumes_from_its_checkpoint(tmp_path, run_snakemake):
    """kill -9 of a training job mid-run, then a rerun: it resumes and matches an uninterrupted run."""
    regime = TINY_NETWORK | {
        "width": 400,
        "max_steps": 60000,
        "rel_tol": 0.0,
        "check_every": 500,
        "window": 500,
    }
    config = tiny_sphere_config(n_train=[16], seeds=[0], regimes={"feature": regime})
    config["training"] = {"checkpoint_minutes": 0.002}  # every ~0.1 s
    run_snakemake(tmp_path / "uninterrupted", config)

    work = tmp_path / "interrupted"
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [
        str(SNAKEMAKE),
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(work),
        "--configfile",
        str(work / "config.yaml"),
        "--cores",
        "1",
    ]
    job = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    checkpoints = work / "results/checkpoints/sphere/constant/d2/feature/n16/seed0"
    deadline = time.monotonic() + 120
    while not list(checkpoints.glob("*.pt")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # let a few more checkpoints be written
    # kill -9 of the training process alone, as a scheduler's time limit or an OOM killer would.
    subprocess.run(
        ["pkill", "-9", "-s", str(job.pid), "-f", "sparsefeatures.sphere.cli run"], check=True
    )
    assert job.wait() != 0
    assert list(checkpoints.glob("*.pt")), "training finished before it could be killed"
    assert not (work / "results/sphere/runs/constant/d2/feature/n16/seed0.zarr/zarr.json").exists()

    run_snakemake(work, config)
    log = (work / "logs/sphere/runs/constant/d2/feature/n16/seed0.log").read_text()
    assert "resuming from checkpoint" in log
    path = "results/sphere/runs/constant/d2/feature/n16/seed0.zarr"
    resumed = store.read(work / path)
    reference = store.read(tmp_path / "uninterrupted" / path)
    assert resumed.attrs["resumed_from"] > 0
    np.testing.assert_array_equal(resumed["theta"].values, reference["theta"].values)
    np.testing.assert_array_equal(resumed["w"].values, reference["w"].values)
    assert float(resumed["test_mse"]) == float(reference["test_mse"])


def test_diverging_runs_are_recorded_as_failed_and_the_sweep_goes_on(tmp_path, run_snakemake):
    """A regime whose training diverges (NaN) leaves failed stores naming the reason; the other
    regimes, the aggregate, fits, plots and report tables are still made, with the failed runs
    missing (NaN) rather than numbers, and listed in the run statistics and the summary."""
    unstable = TINY_NETWORK | {"lr": 1e6}  # far beyond the stable step
    config = tiny_sphere_config(
        regimes={"ntk": {"kind": "kernel", "kernel": "ntk"}, "unstable": unstable}
    )
    result = run_snakemake(tmp_path, config)
    assert "FAILED: training diverged" in result.stderr

    run = store.read(tmp_path / "results/sphere/runs/constant/d2/unstable/n16/seed1.zarr")
    assert store.failure_of(run).startswith("training diverged at step")
    assert store.params_of(run)["regime_spec"]["lr"] == 1e6
    assert "test_mse" not in run

    errors = store.read(tmp_path / "results/sphere/errors.zarr")
    assert np.all(np.isnan(errors["test_mse"].sel(regime="unstable").values))
    assert np.all(errors["failed"].sel(regime="unstable").values == 1)
    assert np.all(errors["failed"].sel(regime="ntk").values == 0)
    assert np.all(np.isfinite(errors["test_mse"].sel(regime="ntk").values))
    failed = aggregate.failed_runs(errors)
    assert sorted((r["n"], r["seed"]) for r in failed) == [(8, 0), (8, 1), (16, 0), (16, 1)]
    assert all(r["regime"] == "unstable" and "diverged" in r["reason"] for r in failed)

    with open(tmp_path / "results/sphere/exponents.csv") as f:
        rows = {r["regime"]: r for r in csv.DictReader(f)}
    assert math.isfinite(float(rows["ntk"]["beta"]))
    assert math.isnan(float(rows["unstable"]["beta"]))  # present, but no number
    statistics = (tmp_path / "results/report/sphere_run_statistics.html").read_text()
    assert statistics.count("training diverged at step") == 4

    summary = subprocess.run(
        [
            sys.executable,
            "-m",
            "sparsefeatures.tools.summary",
            "--results",
            str(tmp_path / "results"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "failed (4):" in summary
    assert "unstable/n8/seed0.zarr: training diverged" in summary


def test_kernel_runs_do_not_import_torch(tmp_path):
    """Importing torch costs about a second, more than a small kernel fit: only networks need it."""
    for split, n in (("train", 16), ("test", 32)):
        ds = sphere.dataset("constant", {"kind": "constant"}, 3, 0, split, n)
        store.write(ds, tmp_path / f"{split}.zarr", {})
    params = {"regime_spec": {"kind": "kernel", "kernel": "ntk", "ridge": 0.0}, "seed": 0}
    args = [
        "run",
        "--params",
        store.canonical_json(params),
        "--train",
        str(tmp_path / "train.zarr"),
    ]
    args += ["--test", str(tmp_path / "test.zarr"), "--out", str(tmp_path / "run.zarr")]
    code = (
        "import sys; from sparsefeatures.sphere import cli; "
        f"cli.main({args!r}); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
    assert math.isfinite(float(store.read(tmp_path / "run.zarr")["test_mse"]))
