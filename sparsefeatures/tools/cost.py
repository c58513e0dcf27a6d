"""What a configuration costs: the jobs it makes, and their time on CPU cores and on one GPU.

Jobs (`planned_jobs`). Those of Snakemake's own forced dry run of the config and target (in a
temporary folder), read from its printout: each job's rule and the JSON of its `--params`, which
holds what the job's cost depends on (sizes, caps, the regime's or data set's parameters). The rule
gives the cost kind (`RULE_KINDS`); the sphere's run rules, one per regime kind of
sphere.registry, go by the kind in their regime_spec (`REGIME_COST_KINDS`); rules without params
(the targets) cost nothing. An unknown rule, or a regime kind without a cost model, is an error
that names it.

Time of a job on one core (`job_seconds`), from constants measured on this machine (`measure`):

- every job: a fixed cost for its kind (process start, imports, reading and writing stores),
  measured by running its step's command line on tiny inputs;
- sphere data: drawing the teacher's W units and evaluating it, t_point x n x W (t_point
  measured for a = 1 and a = 4: numpy's power has fast paths for exponents 1 and 2 only);
- kernel regression: t_entry x (2 n^2 + n n_test) kernel entries (train Gram, train and test
  predictions) + t_chol x n^3 (the Cholesky factorisation);
- sphere network: steps x t_step(n, H), t_step measured on a grid of n and H and interpolated
  log-log, plus the measures' predictions. (No fit linear in n H holds over the range: an entry
  of the (H, n) activation matrix costs 1.5 ns per step while the matrix fits in cache, n H up to
  10^6, and 3.9 ns from n H = 5 10^6 on.)
- image network: trial steps x t_eval(n, D, h) = a + b n D h + c n h (least squares), stopped at
  max_wall_s, plus loading the data set and the predictions on the test and stability images;
- SVC: per n, Gram matrices of n^2 + n (n_test + n + stability images) entries at
  t_entry + D t_mac each, and libsvm's solve, s n^p fitted on Fashion-MNIST (when installed).

Steps of a network run, two ways: `bound`, every run to its max_steps (and, images, its
max_wall_s); `typical`, the steps that stored runs of the same regime, target and n recorded
(`RecordedSteps.scan` of earlier results), else max_steps times the median fraction of its cap
that stored runs of the same kind used, else the bound.

One GPU (an extrapolation: nothing was measured on a GPU; the constants below say what is
assumed): network training runs there, one job at a time; a step takes the longest of its
dispatch floor (operations x GPU_LAUNCH_S), its memory traffic at GPU_BANDWIDTH and its floating-
point work at GPU_FLOPS. Everything else runs on the CPU cores as above.

Wall time (`estimate`): Snakemake's start, then the independent jobs spread over the cores,
max(sum / cores, longest job), then the aggregates and fits one after another and the plots over
the cores; with a GPU, the middle part is the longest of the GPU's queue (training jobs one at a
time) and the other jobs' share of the cores.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..images import registry as image_datasets
from ..sphere import registry

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
TARGETS = ("all", "images_all")

# ------------------------------------------------------------------------------------------------
# One GPU: the extrapolation's assumptions (an NVIDIA H100 SXM, PyTorch eager mode, float64).
# Nothing here was measured: no GPU was available. Change them to model another card.
GPU_LAUNCH_S = 7e-6  # CPU-side dispatch of one eager PyTorch operation (5-10 us typical)
GPU_SYNC_S = 20e-6  # one host synchronisation (a float() of a device tensor): the queue drains
GPU_BANDWIDTH = 2.0e12  # bytes/s sustained from HBM3 (3.35 TB/s peak)
GPU_FLOPS = {"float64": 25e12, "float32": 50e12}  # sustained matmul rates (67 TFLOP/s fp64 peak)
GPU_JOB_START_S = 5.0  # per training job: CUDA context and first kernel loads
# Sphere trainer (network._Stepper): per gradient step, 4 operations forward, 4 for the gradients
# and 10 for the mean-field update with a penalty; 7 passes over the (H, n) activation matrix
# (written by the matmul, read and written by relu_ and by sign_, read by the two products) and
# (4 d + 2) n H flops.
SPHERE_STEP_OPS = 18
SPHERE_STEP_PASSES = 7
# Image trainer (images.training.train), one hidden layer: per trial step about 75 operations
# (the trial point 4, forward and loss 16, autograd backward about 30, three gradient norms 20,
# output change 3, fitted fraction 4) and 6 host syncs (loss, two norms, dgrad, dout, fitted);
# 4 n D h flops (the first layer's forward product and weight gradient).
IMAGE_TRIAL_OPS = 75
IMAGE_TRIAL_SYNCS = 6


# ------------------------------------------------------------------------------------------------
# Jobs: those of Snakemake's own dry run


@dataclass
class Job:
    """One job of a run from scratch: its Snakemake rule, its cost kind, and what its cost depends
    on (the rule's params, plus what the job reads: a sphere run's test-set size `n_test`, an
    aggregate's number of run stores `runs`)."""

    rule: str
    kind: str  # dataset, kernel, network, sparse, image_network, svc, light, plot, target
    spec: dict = field(default_factory=dict)


# The cost kinds of job_seconds, in the pipeline's order, but the no-op targets. The fixed cost of
# each is measured by running its step's command line on tiny inputs (image_data: a dataset's).
MEASURED_KINDS = (
    "dataset",
    "image_data",
    "kernel",
    "network",
    "sparse",
    "image_network",
    "svc",
    "light",
    "plot",
)
# Jobs after all runs (aggregates, fits, plots): they add to the wall time one after another.
TAIL_KINDS = ("light", "plot", "target")

# The cost kind of each rule of the workflow, but the sphere's run rules (below) and the target
# rules (no params: nothing to run). A rule missing here is an error: add it with the kind whose
# model fits its job (job_seconds).
RULE_KINDS = {
    "sphere_train_data": "dataset",
    "sphere_test_data": "dataset",
    "sphere_aggregate": "light",
    "sphere_exponents": "light",
    "sphere_atoms": "light",
    "sphere_plot": "plot",
    "sphere_atoms_plot": "plot",
    "images_data": "image_data",
    "images_train": "image_network",
    "images_svc": "svc",
    "images_aggregate": "light",
    "images_exponents": "light",
    "images_plot_test_error": "plot",
    "images_plot_stability": "plot",
    "images_plot_sparsity": "plot",
    "report_exponents": "light",
    "report_statistics": "light",
}
# Rules that read every run store: each store they read adds store_read_s.
AGGREGATE_RULES = ("sphere_aggregate", "images_aggregate")
# The sphere's run rules, one per regime kind (sphere.registry: rule sphere_<kind>_run), priced by
# the kind in their params' regime_spec: a regime kind -> its cost kind. A new regime kind needs
# its model in job_seconds and its entry here.
REGIME_COST_KINDS = {"kernel": "kernel", "network": "network", "sparse": "sparse"}
RUN_RULES = {f"sphere_{name}_run" for name in registry.KINDS}

_RULE_LINE = re.compile(r"^\s*(?:local)?rule (\w+):$")
_FILES_LINE = re.compile(r"^\s+(input|output): (.*)$")
_PARAMS = re.compile(r"--params '([^']*)'")


def parse_dry_run(text: str) -> list[dict]:
    """The jobs in the printout of `snakemake --dry-run --printshellcmds`, in its order: each its
    rule, inputs, outputs and the JSON of its shell command's `--params` (None for rules without,
    the targets)."""
    jobs: list[dict] = []
    for line in text.splitlines():
        if match := _RULE_LINE.match(line):
            jobs.append({"rule": match[1], "input": [], "output": [], "params": None})
        elif jobs and (match := _FILES_LINE.match(line)):
            jobs[-1][match[1]] = match[2].split(", ")
        elif jobs and jobs[-1]["params"] is None and (match := _PARAMS.search(line)):
            jobs[-1]["params"] = json.loads(match[1])
    return jobs


def cost_kind(rule: str, params: dict | None) -> str:
    """The cost kind of a job of `rule` with these params; an unknown rule or a regime kind
    without a cost model is an error that says what to add."""
    if params is None:
        return "target"
    if rule in RUN_RULES:
        kind = params["regime_spec"]["kind"]
        if kind not in REGIME_COST_KINDS:
            raise ValueError(
                f"regime kind {kind!r} (rule {rule}) has no cost model: add its time to "
                "job_seconds and its entry to REGIME_COST_KINDS in sparsefeatures/tools/cost.py"
            )
        return REGIME_COST_KINDS[kind]
    if rule not in RULE_KINDS:
        raise ValueError(
            f"rule {rule!r} has no cost kind: add it to RULE_KINDS in sparsefeatures/tools/cost.py "
            f"(one of {', '.join(MEASURED_KINDS)})"
        )
    return RULE_KINDS[rule]


def jobs_from_dry_run(text: str) -> list[Job]:
    """The cost jobs of a dry run's printout (parse_dry_run), in the pipeline's order: by cost kind
    (data, runs, steps over all runs, plots, targets), then as RULE_KINDS lists the rules. A job's spec is its params;
    a sphere run also gets the size of the test set it reads (the params of the job writing it),
    an aggregate the number of run stores it reads."""
    planned = parse_dry_run(text)
    written = {path: job["params"] for job in planned for path in job["output"]}
    jobs = []
    for job in planned:
        params = job["params"]
        kind = cost_kind(job["rule"], params)
        spec = dict(params or {})
        if job["rule"] in RUN_RULES:
            inputs = [written[path] for path in job["input"]]
            spec["n_test"] = next(p["n"] for p in inputs if p["split"] == "test")
        if job["rule"] in AGGREGATE_RULES:
            spec["runs"] = len(job["input"])
        jobs.append(Job(job["rule"], kind, spec))
    kinds, rules = (*MEASURED_KINDS, "target"), list(RULE_KINDS)
    return sorted(
        jobs,
        key=lambda job: (kinds.index(job.kind), rules.index(job.rule) if job.rule in rules else 0),
    )


def planned_jobs(configfile: str | os.PathLike, target: str = "all") -> list[Job]:
    """Every job of `snakemake TARGET` from scratch on a config file, as Snakemake's own dry run
    (forced, in a temporary folder: nothing of the user's results is read or written) plans it."""
    snakemake = Path(sys.executable).parent / "snakemake"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [str(snakemake), "--dry-run", "--forceall", "--printshellcmds", "--cores", "1"]
        cmd += [
            "--snakefile",
            str(REPO / "Snakefile"),
            "--configfile",
            str(Path(configfile).resolve()),
        ]
        cmd += ["--directory", tmp, target]
        env = os.environ | {"PYTHONWARNINGS": "ignore"}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp)
    if proc.returncode != 0:
        raise RuntimeError(
            f"snakemake --dry-run {target} of {configfile} failed:\n{proc.stderr[-3000:]}"
        )
    return jobs_from_dry_run(proc.stdout)


def job_counts(jobs: Iterable[Job]) -> dict[str, int]:
    """Jobs per rule, in order of first appearance."""
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.rule] = counts.get(job.rule, 0) + 1
    return counts


# ------------------------------------------------------------------------------------------------
# Steps of network runs


def _key(setting: str, regime_spec: dict, where: str, n: int) -> str:
    return json.dumps([setting, regime_spec, where, n], sort_keys=True)


def _step_class(setting: str, regime_spec: dict) -> str:
    """Kind of run whose step counts are compared: sphere scaling, or image feature / lazy."""
    if setting == "sphere":
        return f"sphere:{regime_spec.get('scaling', 'mean_field')}"
    lazy = regime_spec.get("alpha", 1e-6) * math.sqrt(regime_spec.get("width", 1000)) > 1
    return f"images:{'lazy' if lazy else 'feature'}"


@dataclass
class RecordedSteps:
    """Steps that stored network runs took: per (regime, target or data set, n), and as the median
    fraction of their step cap per kind of run."""

    exact: dict[str, float] = field(default_factory=dict)  # key -> mean steps (images: trials)
    # step class -> median accepted steps / max_steps
    fraction: dict[str, float] = field(default_factory=dict)
    trials_per_step: float = 1.0  # images: trials (accepted and rejected) per accepted step
    runs: int = 0

    @classmethod
    def scan(cls, results_dirs: Iterable[str | os.PathLike]) -> RecordedSteps:
        """Read the params and step counts of every finished network run store under
        results_dirs (their `sphere/runs` and `images/runs`); unreadable stores are skipped."""
        import zarr

        exact: dict[str, list[float]] = defaultdict(list)
        fractions: dict[str, list[float]] = defaultdict(list)
        ratios: list[float] = []
        runs = 0
        for root in map(Path, results_dirs):
            for path in sorted(root.glob("*/runs/**/seed*.zarr")):
                try:
                    group = zarr.open_group(path, mode="r")
                    attrs = dict(group.attrs)
                    params = json.loads(attrs["params"])
                    spec = params["regime_spec"]
                    if spec["kind"] != "network" or attrs.get("complete") is not True:
                        continue
                    steps = float(group["steps"][()])
                except (KeyError, ValueError, OSError, TypeError):
                    continue
                trials = steps
                if "dataset_spec" in params:  # an image run: its time goes by trial steps
                    setting, where = "images", params["dataset_spec"]["source"]
                    trials = float(attrs.get("evaluations", steps))
                    ratios.append(trials / max(steps, 1.0))
                else:
                    setting, where = "sphere", f"{params['target']}/d{params['d']}"
                runs += 1
                exact[_key(setting, spec, where, params["n"])].append(trials)
                cap = spec.get("max_steps", 0)
                if cap:
                    fractions[_step_class(setting, spec)].append(min(steps / cap, 1.0))
        return cls(
            exact={k: statistics.fmean(v) for k, v in exact.items()},
            fraction={k: statistics.median(v) for k, v in fractions.items()},
            trials_per_step=statistics.median(ratios) if ratios else 1.0,
            runs=runs,
        )

    def per_step(self, setting: str) -> float:
        """Steps computed per accepted step: image runs also compute their rejected trials."""
        return self.trials_per_step if setting == "images" else 1.0

    def typical(self, setting: str, regime_spec: dict, where: str, n: int) -> tuple[float, str]:
        """(steps computed, basis) of a run: as recorded, a fraction of the cap, or the cap."""
        cap = regime_spec["max_steps"] * self.per_step(setting)
        recorded = self.exact.get(_key(setting, regime_spec, where, n))
        if recorded is not None:
            return min(recorded, cap), "recorded"
        frac = self.fraction.get(_step_class(setting, regime_spec))
        if frac is not None:
            return frac * cap, "fraction"
        return cap, "cap"


# ------------------------------------------------------------------------------------------------
# Measured constants of this machine


@dataclass
class CpuConstants:
    """Costs measured on this machine, one thread per job (what the rules reserve)."""

    overhead_s: dict[str, float]  # per cost kind: a job on tiny inputs (start, imports, I/O)
    snakemake_start_s: float  # Snakemake's start and DAG on a tiny config (dry run)
    store_read_s: float  # reading one run store (the aggregates read every run)
    kernel_entry_s: float  # one NTK entry (arccos dominated), numpy, one thread
    cholesky_n3_s: float  # Cholesky factorisation and solve, per n^3
    teacher_entry_s: dict[str, float]  # one (point, teacher unit): "fast" power 1 or 2, "pow"
    teacher_unit_s: float  # drawing one teacher unit
    sphere_step: list[list[float]]  # rows [n, H, seconds per step] (mean field, d = 3)
    sphere_forward_entry_s: float  # one (point, neuron) of a prediction
    sparse_solve: list[list[float]]  # rows [d, n, seconds] of the sparse limit's solver
    image_trial: list[float]  # [a, b, c]: seconds per trial step = a + b n D h + c n h
    svc_gram: list[float]  # [e, m]: one entry of an image Gram matrix costs e + D m seconds
    svc_solve: list[float]  # [s, p]: libsvm's solve takes s n^p seconds
    image_load_s: dict[str, float]  # per source: reading the files and preprocessing, one job
    image_load_basis: dict[str, str]  # per source: "measured" or how it was assumed
    machine: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict) -> CpuConstants:
        return cls(**data)


def _best(func: Callable[[], object], repeats: int) -> float:
    """Minimum wall time of func() over repeats: on a shared machine, the least disturbed run."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def _run_quiet(cmd: list[str], cwd: Path) -> None:
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "SPARSEFEATURES_DEVICE": "cpu",
        "PYTHONWARNINGS": "ignore",
    }
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed:\n{proc.stderr[-3000:]}")


def _step_command(module: str, step: str, params: dict, *args: str) -> list[str]:
    """A pipeline step's command line, as its rule runs it."""
    from ..core.store import canonical_json

    return [sys.executable, "-m", module, step, "--params", canonical_json(params), *args]


# Tiny inputs of the steps whose fixed cost is measured.
_TINY_NETWORK = {
    "kind": "network",
    "width": 16,
    "scaling": "mean_field",
    "penalty": 1e-3,
    "max_steps": 20,
    "rel_tol": 0.0,
    "window": 10,
    "check_every": 10,
}
_TINY_IMAGES = {
    "dataset": "digits",
    "dataset_spec": {"source": "digits", "data_dir": None},
    "n_test": 100,
    "seed": 0,
    "stability": {"cutoff": 3, "delta": 1.0, "convention": "exact", "repeats": 1, "n_points": 50},
}
_MEASURES = {"rotation_angle": 0.1, "atom_threshold": 1e-3}


def measure_overheads(repeats: int = 2) -> tuple[dict[str, float], float, float]:
    """Seconds of each kind of job on tiny inputs (its step's command line, as the rule runs it),
    of Snakemake's start (a dry run of a tiny config) and of reading one run store."""
    from ..core import store

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        sphere = "sparsefeatures.sphere.cli"

        def dataset(split: str, n: int) -> list[str]:
            p = {"target": "c", "spec": {"kind": "constant"}, "d": 3, "seed": 0, "split": split}
            return _step_command(sphere, "dataset", p | {"n": n}, "--out", str(d / f"{split}.zarr"))

        def run(regime: dict, name: str) -> list[str]:
            p = {"target": "c", "d": 3, "regime": name, "regime_spec": regime, "n": 8, "seed": 0}
            files = ["--train", str(d / "train.zarr"), "--test", str(d / "test.zarr")]
            out = ["--out", str(d / f"{name}.zarr")]
            return _step_command(sphere, "run", p | {"measures": _MEASURES}, *files, *out)

        kernel = {"kind": "kernel", "kernel": "ntk", "ridge": 0.0}
        grid = {"target": ["c"], "d": [3], "regime": ["k"], "n": [8], "seed": [0]}
        runs = ["--runs", str(d / "k.zarr"), "--out", str(d / "errors.zarr")]
        plot = (
            "import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt; "
            "from sparsefeatures.core import plots, store; fig, ax = plt.subplots(); "
            f"ax.loglog([1, 2], [1, 2], 'o-'); fig.savefig({str(d / 'p.png')!r}); "
            f"fig.savefig({str(d / 'p.pdf')!r})"
        )
        images = "sparsefeatures.images.cli"
        network = {"kind": "network", "width": 16, "alpha": 1e-3, "max_steps": 5}
        train = _TINY_IMAGES | {"regime": "f", "n": 32, "regime_spec": network}
        svc = _TINY_IMAGES | {"regime": "s", "n": [32]}
        svc["regime_spec"] = {"kind": "svc", "kernel": "ntk", "C": 1e20}
        commands = {
            "dataset": dataset("train", 8),
            "kernel": run(kernel, "k"),
            "network": run(_TINY_NETWORK, "net"),
            "sparse": run({"kind": "sparse"}, "sparse"),
            "light": _step_command(sphere, "aggregate", {"grid": grid}, *runs),
            "plot": [sys.executable, "-c", plot],
            "image_network": _step_command(images, "train", train, "--out", str(d / "i.zarr")),
            "svc": _step_command(images, "svc", svc, "--out", str(d / "s.zarr")),
        }
        for first in (dataset("test", 16), dataset("train", 8), run(kernel, "k")):
            _run_quiet(first, d)  # inputs of the runs and of the aggregate
        seconds = {
            kind: _best(lambda c=cmd: _run_quiet(c, d), repeats) for kind, cmd in commands.items()
        }
        tiny = d / "tiny.yaml"
        tiny.write_text(
            "sphere: {dims: [2], n_train: [8], n_test: 16, seeds: [0],"
            " regimes: {ntk: {kind: kernel, kernel: ntk}}}\n"
        )
        snakemake = [str(Path(sys.executable).parent / "snakemake"), "-n", "--cores", "1"]
        snakemake += ["--snakefile", str(REPO / "Snakefile"), "--configfile", str(tiny)]
        snakemake += ["--directory", str(d)]
        start = _best(lambda: _run_quiet(snakemake, d), repeats)
        read = _best(lambda: store.read(d / "k.zarr"), 5)
    return seconds, start, read


def measure_kernels(n: int = 2048, repeats: int = 3) -> tuple[float, float]:
    """(seconds per NTK entry, seconds per n^3 of the Cholesky solve), one thread."""
    from ..core import kernels
    from ..sphere import data as sphere

    x = sphere.uniform_sphere(n, 3, np.random.default_rng(0))
    gram = kernels.gram("ntk", x, x, threads=1)
    entry = _best(lambda: kernels.gram("ntk", x, x, threads=1), repeats) / n**2
    y = np.ones(n)
    chol = _best(lambda: kernels.cholesky_solve(gram.copy(), y), repeats) / n**3
    return entry, chol


def measure_teacher(points: int = 256, width: int = 100_000, repeats: int = 3) -> dict:
    """Seconds per (point, unit) of a teacher with power 1 ("fast") and 4 ("pow"), and per unit
    drawn."""
    from ..sphere import data as sphere

    x = sphere.uniform_sphere(points, 5, np.random.default_rng(0))
    draw = _best(lambda: sphere.make_teacher(5, 0, width, "abs", 1.0), repeats) / width
    entry = {}
    for label, power in (("fast", 1), ("pow", 4)):
        teacher = sphere.make_teacher(5, 0, width, "abs", power)
        entry[label] = _best(lambda t=teacher: t(x), repeats) / (points * width)
    return {"entry": entry, "unit": draw}


SPHERE_GRID_N = (8, 64, 512, 1024)
SPHERE_GRID_H = (1000, 10000)


def measure_sphere_steps(seconds_per_point: float = 0.15, repeats: int = 3) -> list[list[float]]:
    """Seconds per gradient step of the mean-field trainer (d = 3, one thread) on the grid
    SPHERE_GRID_N x SPHERE_GRID_H; repeats interleaved, minimum kept."""
    import torch

    from ..sphere import data as sphere
    from ..sphere.network import NetworkSpec, train

    torch.set_num_threads(1)
    grid = [(n, h) for h in SPHERE_GRID_H for n in SPHERE_GRID_N]
    best = {point: math.inf for point in grid}
    for _ in range(repeats):
        for n, h in grid:
            x, y = sphere.make_split({"kind": "constant"}, "c", 3, 0, "train", n)
            guess = 5e-5 + 4e-9 * n * h
            steps = max(20, min(5000, int(seconds_per_point / guess)))
            spec = NetworkSpec(
                width=h, penalty=1e-4, max_steps=steps, rel_tol=0.0, window=10, check_every=10
            )
            spec = NetworkSpec(**(asdict(spec) | {"device": "cpu"}))
            result = train(torch.from_numpy(x), torch.from_numpy(y), spec, 0)
            best[(n, h)] = min(best[(n, h)], result.wall_time / result.n_steps)
    return [[n, h, best[(n, h)]] for n, h in grid]


def measure_sphere_forward(points: int = 4096, width: int = 1000, repeats: int = 3) -> float:
    """Seconds per (point, neuron) of the trained predictor, float64, one thread."""
    import torch

    from ..sphere.network import NetworkSpec, init_params, predictor

    torch.set_num_threads(1)
    spec = NetworkSpec(width=width)
    theta, w = init_params(spec, 3, 0)
    x = torch.randn(points, 3, dtype=torch.float64)
    return _best(lambda: predictor(spec, theta, w, x), repeats) / (points * width)


# (d, n) at which the sparse limit's solver is timed (constant target, penalty 0, its default
# tolerances): its time grows faster than linearly in n and depends on d.
SPARSE_GRID = ((2, 64), (2, 256), (3, 64), (3, 256), (5, 64), (5, 256))


def measure_sparse(repeats: int = 1) -> list[list[float]]:
    """Rows [d, n, seconds] of sparse.solve on the constant target, one thread."""
    import threadpoolctl

    from ..sphere import data as sphere
    from ..sphere import sparse

    rows = []
    with threadpoolctl.threadpool_limits(1):
        for d, n in SPARSE_GRID:
            x, y = sphere.make_split({"kind": "constant"}, "c", d, 0, "train", n)
            spec = sparse.SparseSpec()
            rows.append([d, n, _best(lambda x=x, y=y, s=spec: sparse.solve(x, y, s, 0), repeats)])
    return rows


# (n, D, h) at which a trial step of the image trainer is timed: the digits config's and the
# paper's sizes.
IMAGE_GRID = ((128, 64, 100), (1024, 64, 100), (128, 784, 100), (256, 784, 1000), (1024, 784, 1000))


def measure_image_trials(repeats: int = 2) -> tuple[list[float], list[list[float]]]:
    """Fit seconds per trial step = a + b n D h + c n h (least squares on relative error) on
    IMAGE_GRID; returns ([a, b, c], rows [n, D, h, seconds])."""
    import torch

    from ..images.training import ImageNetworkSpec, train

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    rows = []
    for n, dim, h in IMAGE_GRID:
        x = torch.randn(n, dim, generator=gen, dtype=torch.float64)
        y = torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0).to(torch.float64)
        spec = ImageNetworkSpec(width=h, alpha=1e-3, max_steps=4, device="cpu")
        per_trial = math.inf
        for _ in range(repeats):
            result = train(x, y, spec, 0)
            per_trial = min(per_trial, result.wall_time_s / result.evaluations)
        rows.append([n, dim, h, per_trial])
    a = np.array([[1.0, n * dim * h, n * h] for n, dim, h, _ in rows])
    t = np.array([r[3] for r in rows])
    coef, *_ = np.linalg.lstsq(a / t[:, None], np.ones(len(t)), rcond=None)
    return np.maximum(coef, 0.0).tolist(), rows


def measure_svc(repeats: int = 2) -> tuple[list[float], list[float], str]:
    """([seconds per Gram entry, per multiply-add], [s, p] of libsvm's solve s n^p, what the solve
    was fitted on), as an SVC job runs them (BLAS on one thread). Gram entries are timed at D = 784
    and 3072; the solve on Fashion-MNIST when installed (the support vectors and iterations of real
    images), else on random images."""
    import threadpoolctl
    import torch

    from ..images import files, svc, task

    sizes = (1024, 2048, 4096)
    gen = torch.Generator().manual_seed(0)
    with threadpoolctl.threadpool_limits(1):
        m = 1024
        per_entry = {}
        for dim in (784, 3072):
            x = torch.randn(m, dim, generator=gen, dtype=torch.float64)
            per_entry[dim] = _best(lambda x=x: svc.gram_matrix("ntk", x, x), repeats) / m**2
        mac = max(per_entry[3072] - per_entry[784], 0.0) / (3072 - 784)
        entry = max(per_entry[784] - 784 * mac, 0.0)
        try:
            data = task.make_image_dataset("fashion-mnist", max(sizes), 100, 0)
            x, y, basis = data.x_train, data.y_train.numpy(), "fashion-mnist"
        except files.DatasetNotFoundError:
            x = torch.randn(max(sizes), 784, generator=gen, dtype=torch.float64)
            y, basis = np.where(np.arange(max(sizes)) % 2 == 0, 1.0, -1.0), "random images"
        solve = []
        for n in sizes:
            gram = svc.gram_matrix("ntk", x[:n], x[:n])
            solve.append(_best(lambda g=gram, n=n: svc.fit_precomputed(g, y[:n]), repeats))
    p, log_s = np.polyfit(np.log(sizes), np.log(solve), 1)
    return [entry, mac], [float(math.exp(log_s)), float(p)], basis


def measure_image_loads(repeats: int = 2) -> tuple[dict[str, float], dict[str, str]]:
    """Seconds to read and preprocess each data set once (the first n of a job), where its files
    are here; the others are assumed from Fashion-MNIST by their number of pixel values."""
    from ..images import files, task

    def load(name: str) -> None:
        task._load_raw_cached.cache_clear()
        task.make_image_dataset(name, 32, 100, 0)

    seconds, basis = {}, {}
    for name in ("digits", "fashion-mnist", "mnist", "cifar10"):
        try:
            seconds[name] = _best(lambda n=name: load(n), repeats)
            basis[name] = "measured"
        except files.DatasetNotFoundError:
            pass
    task._load_raw_cached.cache_clear()
    reference = next((n for n in ("fashion-mnist", "mnist") if n in seconds), None)
    for name in ("mnist", "fashion-mnist", "cifar10"):
        if name not in seconds:
            if reference is None:
                seconds[name], basis[name] = 1.0, "assumed 1 s (no IDX data set installed)"
                continue
            # CIFAR-10: 50000 x 3072 training values against 60000 x 784.
            scale = 50000 * 3072 / (60000 * 784) if name == "cifar10" else 1.0
            seconds[name] = seconds[reference] * scale
            basis[name] = f"assumed: {reference} x {scale:.2f} (pixel values)"
    return seconds, basis


def machine() -> dict:
    import platform

    import torch

    return {
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average": list(os.getloadavg()),
        "measured": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def measure(log: Callable[[str], None] = print) -> CpuConstants:
    """Every constant of the CPU cost model, on this machine (about a minute)."""
    import threadpoolctl

    start = time.perf_counter()
    info = machine()
    log("job overheads (each step's command line on tiny inputs) ...")
    overhead, snakemake_start, read = measure_overheads()
    log("kernel regression, teacher, sphere steps ...")
    with threadpoolctl.threadpool_limits(1):  # one thread per job, as the rules reserve
        entry, chol = measure_kernels()
        teacher = measure_teacher()
    steps = measure_sphere_steps()
    forward = measure_sphere_forward()
    log("sparse limit solver ...")
    sparse_rows = measure_sparse()
    log("image trial steps, SVC, data set loading ...")
    trial, trial_rows = measure_image_trials()
    gram, solve, solve_basis = measure_svc()
    loads, load_basis = measure_image_loads()
    info |= {
        "svc_solve_fitted_on": solve_basis,
        "image_trial_rows": trial_rows,
        "load_average_after": list(os.getloadavg()),
        "measure_seconds": round(time.perf_counter() - start, 1),
    }
    return CpuConstants(
        overhead_s=overhead,
        snakemake_start_s=snakemake_start,
        store_read_s=read,
        kernel_entry_s=entry,
        cholesky_n3_s=chol,
        teacher_entry_s=teacher["entry"],
        teacher_unit_s=teacher["unit"],
        sphere_step=steps,
        sphere_forward_entry_s=forward,
        sparse_solve=sparse_rows,
        image_trial=trial,
        svc_gram=gram,
        svc_solve=solve,
        image_load_s=loads,
        image_load_basis=load_basis,
        machine=info,
    )


# ------------------------------------------------------------------------------------------------
# Time of one job


def _interp_loglog(x: float, xs: list[float], ys: list[float]) -> float:
    """Piecewise-linear interpolation in log-log; constant below the first point, linear in x
    (the last point's cost per unit) above the last."""
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1] * x / xs[-1]
    return float(math.exp(np.interp(math.log(x), np.log(xs), np.log(ys))))


def sphere_step_seconds(c: CpuConstants, n: int, width: int) -> float:
    """Seconds per gradient step on one core: interpolated in n at each measured H, then in H."""
    by_h: dict[float, list[tuple[float, float]]] = defaultdict(list)
    for row_n, row_h, seconds in c.sphere_step:
        by_h[row_h].append((row_n, seconds))
    hs = sorted(by_h)
    at_h = []
    for h in hs:
        ns, ts = zip(*sorted(by_h[h]), strict=True)
        at_h.append(_interp_loglog(n, list(ns), list(ts)))
    if width <= hs[0]:
        return at_h[0] * width / hs[0]  # fewer neurons: fewer entries, proportionally
    return _interp_loglog(width, hs, at_h)


def sparse_seconds(c: CpuConstants, d: int, n: int) -> float:
    """Seconds of one sparse-limit solve: interpolated log-log in n at the nearest measured d
    (time per point grows with n, so beyond the grid the last segment's slope is extrapolated)."""
    nearest = min({row[0] for row in c.sparse_solve}, key=lambda dim: (abs(dim - d), -dim))
    ns, ts = zip(
        *sorted((row[1], row[2]) for row in c.sparse_solve if row[0] == nearest), strict=True
    )
    if n > ns[-1] and len(ns) > 1:
        slope = math.log(ts[-1] / ts[-2]) / math.log(ns[-1] / ns[-2])
        return ts[-1] * (n / ns[-1]) ** max(slope, 1.0)
    return _interp_loglog(n, list(ns), list(ts))


def sphere_step_gpu_seconds(n: int, width: int, d: int, dtype: str) -> float:
    """Extrapolated seconds per gradient step on one GPU (module docstring)."""
    size = 8 if dtype == "float64" else 4
    dispatch = SPHERE_STEP_OPS * GPU_LAUNCH_S
    memory = SPHERE_STEP_PASSES * size * n * width / GPU_BANDWIDTH
    compute = (4 * d + 2) * n * width / GPU_FLOPS[dtype]
    return max(dispatch, memory, compute)


def image_trial_seconds(c: CpuConstants, n: int, dim: int, width: int) -> float:
    a, b, cc = c.image_trial
    return a + b * n * dim * width + cc * n * width


def image_trial_gpu_seconds(n: int, dim: int, width: int, dtype: str) -> float:
    """Extrapolated seconds per trial step of the image trainer on one GPU."""
    size = 8 if dtype == "float64" else 4
    dispatch = IMAGE_TRIAL_OPS * GPU_LAUNCH_S + IMAGE_TRIAL_SYNCS * GPU_SYNC_S
    memory = size * (2 * n * dim + 6 * dim * width + 8 * n * width) / GPU_BANDWIDTH
    compute = 4 * n * dim * width / GPU_FLOPS[dtype]
    return max(dispatch, memory, compute)


def stability_rows(params: dict) -> int:
    """Images an image run predicts for the stability measure: its points, each also deformed
    and noised `repeats` times."""
    stability = params["stability"]
    return (stability["n_points"] or params["n_test"]) * (1 + 2 * stability["repeats"])


@dataclass
class JobTime:
    """Seconds of one job, each way of counting steps; `gpu` is None for jobs on the CPU."""

    cpu_bound: float
    cpu_typical: float
    gpu_bound: float | None = None
    gpu_typical: float | None = None
    basis: str = ""  # network runs: where `typical` steps came from (recorded, fraction, cap)


def job_seconds(job: Job, c: CpuConstants, recorded: RecordedSteps) -> JobTime:
    """Seconds of one job on one core (and on one GPU for training jobs), module docstring."""
    s = job.spec
    fixed = c.overhead_s.get(job.kind, 0.0)
    if job.kind == "dataset":
        target = s["spec"]
        if target["kind"] == "teacher":
            # numpy's power has fast paths for exponents 1 and 2 only.
            entry = c.teacher_entry_s["fast" if target["power"] in (1, 2) else "pow"]
            fixed += target["width"] * (c.teacher_unit_s + s["n"] * entry)
        return JobTime(fixed, fixed)
    if job.kind == "kernel":
        n = s["n"]
        t = fixed + c.kernel_entry_s * (2 * n**2 + n * s["n_test"]) + c.cholesky_n3_s * n**3
        return JobTime(t, t)
    if job.kind == "sparse":
        t = fixed + sparse_seconds(c, s["d"], s["n"])
        return JobTime(t, t)
    if job.kind == "network":
        spec = s["regime_spec"]
        n, h = s["n"], spec["width"]
        measures = c.sphere_forward_entry_s * (3 * s["n_test"] + 3 * n) * h
        step = sphere_step_seconds(c, n, h)
        step_gpu = sphere_step_gpu_seconds(n, h, s["d"], spec["dtype"])
        where = f"{s['target']}/d{s['d']}"
        typical, basis = recorded.typical("sphere", spec, where, n)
        cap = spec["max_steps"]
        base = fixed + measures
        gpu_base = base + GPU_JOB_START_S
        return JobTime(
            base + cap * step,
            base + typical * step,
            gpu_base + cap * step_gpu,
            gpu_base + typical * step_gpu,
            basis,
        )
    if job.kind == "image_data":
        # The files read and preprocessed once per (data set, seed), for every run of the seed
        # (which then read the stored arrays: part of their fixed cost).
        t = c.overhead_s.get("dataset", 0.0) + c.image_load_s[s["dataset_spec"]["source"]]
        return JobTime(t, t)
    if job.kind == "image_network":
        spec, source = s["regime_spec"], s["dataset_spec"]["source"]
        n, dim, h = s["n"], image_datasets.record(source).pixels, spec["width"]
        rows = s["n_test"] + stability_rows(s)
        # A prediction costs two forward passes (F = alpha (f - f0)), about one trial step's work.
        predict = image_trial_seconds(c, rows, dim, h) - c.image_trial[0]
        predict_gpu = image_trial_gpu_seconds(rows, dim, h, spec["dtype"])
        trial = image_trial_seconds(c, n, dim, h)
        trial_gpu = image_trial_gpu_seconds(n, dim, h, spec["dtype"])
        cap = spec["max_steps"] * recorded.per_step("images")
        typical, basis = recorded.typical("images", spec, source, n)
        wall = spec["max_wall_s"]
        base = fixed + predict
        gpu_base = fixed + predict_gpu + GPU_JOB_START_S
        return JobTime(
            base + min(cap * trial, wall),
            base + min(typical * trial, wall),
            gpu_base + min(cap * trial_gpu, wall),
            gpu_base + min(typical * trial_gpu, wall),
            basis,
        )
    if job.kind == "svc":
        source = s["dataset_spec"]["source"]
        per_entry = c.svc_gram[0] + image_datasets.record(source).pixels * c.svc_gram[1]
        t = fixed
        solve_s, solve_p = c.svc_solve
        for n in s["n"]:  # an SVC job fits every n of its learning curve
            rows = n + s["n_test"] + n + stability_rows(s)  # train Gram, test, train, stability
            t += per_entry * n * rows + solve_s * n**solve_p
        return JobTime(t, t)
    if job.kind == "light":
        fixed += s.get("runs", 0) * c.store_read_s
    return JobTime(fixed, fixed)


# ------------------------------------------------------------------------------------------------
# Totals


@dataclass
class Estimate:
    """Job counts and times of one config: per rule, and the wall time of the whole run."""

    counts: dict[str, int]
    core_seconds: dict[str, dict[str, float]]  # rule -> {"bound", "typical"}: sum over its jobs
    gpu_seconds: dict[str, dict[str, float]]  # training rules -> {"bound", "typical"}
    longest: dict[str, tuple[float, str]]  # "cpu"/"gpu" -> (seconds of the longest job, rule)
    wall: dict[str, dict[str, float]]  # "cpu"/"gpu" -> {"bound", "typical"}
    basis: dict[str, int]  # typical steps: jobs per basis


def estimate(jobs: list[Job], c: CpuConstants, recorded: RecordedSteps, cores: int = 2) -> Estimate:
    """Sum the jobs' times per rule and schedule them: on `cores` cores (laptop), and with one GPU
    beside the same cores (training jobs one at a time on the GPU)."""
    times = [job_seconds(job, c, recorded) for job in jobs]
    core: dict[str, dict[str, float]] = defaultdict(lambda: {"bound": 0.0, "typical": 0.0})
    gpu: dict[str, dict[str, float]] = defaultdict(lambda: {"bound": 0.0, "typical": 0.0})
    basis: dict[str, int] = defaultdict(int)
    longest = {"cpu": (0.0, ""), "gpu": (0.0, "")}
    for job, t in zip(jobs, times, strict=True):
        core[job.rule]["bound"] += t.cpu_bound
        core[job.rule]["typical"] += t.cpu_typical
        longest["cpu"] = max(longest["cpu"], (t.cpu_bound, job.rule))
        if t.gpu_bound is not None:
            gpu[job.rule]["bound"] += t.gpu_bound
            gpu[job.rule]["typical"] += t.gpu_typical
            longest["gpu"] = max(longest["gpu"], (t.gpu_bound, job.rule))
            basis[t.basis] += 1
    # The aggregates, fits and plots wait for every run, then for each other: a serial tail.
    tail = [t.cpu_bound for job, t in zip(jobs, times, strict=True) if job.kind == "light"]
    plots = [t.cpu_bound for job, t in zip(jobs, times, strict=True) if job.kind == "plot"]
    serial = c.snakemake_start_s + sum(tail) + sum(plots) / cores
    runs = [(job, t) for job, t in zip(jobs, times, strict=True) if job.kind not in TAIL_KINDS]
    wall: dict[str, dict[str, float]] = {"cpu": {}, "gpu": {}}
    for way in ("bound", "typical"):
        everything = [getattr(t, f"cpu_{way}") for _, t in runs] or [0.0]
        wall["cpu"][way] = serial + max(sum(everything) / cores, max(everything))
        on_cpu = [getattr(t, f"cpu_{way}") for _, t in runs if t.gpu_bound is None] or [0.0]
        on_gpu = sum(getattr(t, f"gpu_{way}") for _, t in runs if t.gpu_bound is not None)
        wall["gpu"][way] = serial + max(on_gpu, sum(on_cpu) / cores, max(on_cpu))
    return Estimate(
        counts=job_counts(jobs),
        core_seconds=dict(core),
        gpu_seconds=dict(gpu),
        longest=longest,
        wall=wall,
        basis=dict(basis),
    )


def duration(seconds: float) -> str:
    """Seconds in the largest unit that keeps 2-3 significant digits: 45 s, 12 min, 3.1 h, 5.2 d."""
    if seconds < 100:
        return f"{seconds:.0f} s"
    if seconds < 6000:
        return f"{seconds / 60:.0f} min"
    if seconds < 72 * 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds < 365 * 86400:
        return f"{seconds / 86400:.1f} d"
    return f"{seconds / (365 * 86400):.1f} y"
