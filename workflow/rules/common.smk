# Config validation, and the target lists and parameters every rule draws from.
import importlib.util
import json
import math
import os
import re
import sys
from pathlib import Path

from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml")

# Steps run as `python -m sparsefeatures.<setting>.cli`: the environment that runs Snakemake
# (where the package is installed) comes first on PATH, so an unactivated `.venv/bin/snakemake`
# works too. Under `--sdm conda`, the rule's environment (envs/, the pinned dependencies) is
# activated after this and takes precedence; the package itself is then found through PYTHONPATH,
# this checkout's copy.
os.environ.update(
    PATH=os.pathsep.join([os.path.dirname(sys.executable), os.getenv("PATH", "")]),
    PYTHONPATH=os.pathsep.join(filter(None, [workflow.basedir, os.getenv("PYTHONPATH", "")])),
)

SPHERE = config["sphere"]
TRAINING = config["training"]
# The configuration's name in the report: its `name`, else its file's name (e.g. sphere-d3).
if "name" not in config:
    config["name"] = Path(workflow.configfiles[-1]).stem if workflow.configfiles else "config"

# Where and how networks train, not what they compute: passed through the environment, so that
# changing them reruns nothing (a rule's params would).
os.environ.update(
    SPARSEFEATURES_DEVICE=TRAINING["device"],
    SPARSEFEATURES_CHECKPOINT_SECONDS=str(60 * TRAINING["checkpoint_minutes"]),
)


def canonical(obj):
    """Sorted JSON: the params string changes exactly when a parameter does (params trigger)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


PACKAGE = Path(workflow.basedir) / "sparsefeatures"


def load_module(name, path):
    """A standard-library-only module of this checkout, whether or not the package is installed
    where Snakemake runs."""
    spec = importlib.util.spec_from_file_location(name, path)
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded  # dataclasses look their module up there
    spec.loader.exec_module(loaded)
    return loaded


codeversion = load_module("_codeversion", PACKAGE / "core" / "codeversion.py")
# The sphere's regime kinds: their modules and their jobs' resources.
KINDS = load_module("_sphere_registry", PACKAGE / "sphere" / "registry.py").KINDS


def code_version(*entries):
    """Version of the code a step runs: a hash of its entry modules and every package module they
    import, directly or not (sparsefeatures/core/codeversion.py; the I/O modules it exempts, listed
    there, are left out). Snakemake does not track imported code: in a rule's params, this makes an
    edit rerun exactly the steps whose import closure holds the edited module."""
    return codeversion.code_version(PACKAGE, *entries)


# Each kind of step by its entry modules: those holding what it computes (what its step in
# sparsefeatures/sphere/cli.py calls), never the CLI itself, which imports every step's modules.
# A run's entry is its kind's module; the steps over all runs dispatch to every kind's module
# (by name, through the registry: listed here since no static import shows them).
KIND_MODULES = [kind.module for kind in KINDS.values()]
CODE = {
    "dataset": code_version("sphere.data"),
    **{name: code_version(kind.module) for name, kind in KINDS.items()},
    "aggregate": code_version("sphere.steps", *KIND_MODULES),
    "exponents": code_version("sphere.steps", *KIND_MODULES),
    "plot": code_version("sphere.plots"),
    "report": code_version("core.report"),
}


def wildcard_regex(names):
    """Wildcard regex matching exactly these names (and nothing if there are none)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


def regime_names(kind):
    """Regex matching exactly the sphere regimes of one kind."""
    return wildcard_regex([name for name, spec in SPHERE["regimes"].items() if spec["kind"] == kind])


for _name, _spec in SPHERE["regimes"].items():
    for _target in _spec.get("targets", []):
        if _target not in SPHERE["targets"]:
            raise ValueError(
                f"config sphere.regimes.{_name}.targets: {_target!r} is not a target; "
                f"expected some of {sorted(SPHERE['targets'])}"
            )


# Keys of a regime that select which runs it makes, and change none of them.
SELECTION_KEYS = ("targets", "n_max")


def regime_spec(regime):
    """A regime's parameters: its entry without the selection keys."""
    return {k: v for k, v in SPHERE["regimes"][regime].items() if k not in SELECTION_KEYS}


def regime_targets(regime):
    """The targets a regime runs on: its `targets` selection, or all of them."""
    return SPHERE["regimes"][regime].get("targets", list(SPHERE["targets"]))


def regime_n(regime):
    """The training-set sizes a regime runs on: sphere.n_train up to its `n_max`, if any."""
    n_max = SPHERE["regimes"][regime].get("n_max", math.inf)
    return [n for n in SPHERE["n_train"] if n <= n_max]


# One sphere run's place in each folder of its files: results/sphere/runs/ (its store),
# logs/sphere/runs/, results/benchmarks/sphere/ and results/checkpoints/sphere/.
SPHERE_RUN = "{target}/d{d}/{regime}/n{n}/seed{seed}"


def sphere_run_paths():
    return [
        path
        for regime in SPHERE["regimes"]
        for path in expand(
            f"results/sphere/runs/{SPHERE_RUN}.zarr",
            target=regime_targets(regime),
            d=SPHERE["dims"],
            regime=regime,
            n=regime_n(regime),
            seed=SPHERE["seeds"],
        )
    ]


def larger_first(w):
    """A sphere job's priority: its training-set size (the test set's job: the largest, as every run
    needs it). Of the jobs ready, Snakemake starts those of highest priority first: the longest runs
    start first, and no core idles at the end while one of them finishes."""
    return int(w.n) if hasattr(w, "n") else max(SPHERE["n_train"])


def counts_atoms(regime):
    """Whether a sphere regime's runs count atoms (its kind's record in the registry)."""
    return KINDS[SPHERE["regimes"][regime]["kind"]].counts_atoms


def atom_targets():
    """Targets that at least one regime with atoms runs on (they get an atoms plot)."""
    counted = [name for name in SPHERE["regimes"] if counts_atoms(name)]
    return [t for t in SPHERE["targets"] if any(t in regime_targets(r) for r in counted)]


def sphere_outputs():
    outputs = [
        rules.sphere_exponents.output.csv,
        *expand(rules.sphere_plot.output.png, target=SPHERE["targets"], d=SPHERE["dims"]),
    ]
    if atom_targets():
        outputs.append(rules.sphere_atoms.output.csv)
        outputs += expand(rules.sphere_atoms_plot.output.png, target=atom_targets(), d=SPHERE["dims"])
    return outputs + report_outputs("sphere")


# The parameters each output depends on, and nothing else.
def dataset_params(w, split="train"):
    n = int(w.n) if split == "train" else SPHERE["n_test"]
    return canonical(
        {
            "target": w.target,
            "spec": SPHERE["targets"][w.target],
            "d": int(w.d),
            "seed": int(w.seed),
            "split": split,
            "n": n,
            "code": CODE["dataset"],
        }
    )


def run_params(w):
    spec = regime_spec(w.regime)
    return canonical(
        {
            "target": w.target,
            "d": int(w.d),
            "regime": w.regime,
            "regime_spec": spec,
            "n": int(w.n),
            "seed": int(w.seed),
            "code": CODE[spec["kind"]],
        }
        # Atom measures are computed in the run, so they are among its parameters.
        | ({"measures": SPHERE["measures"]} if counts_atoms(w.regime) else {})
    )


def training_gpus(trains=True):
    """GPUs a job that trains (a network) asks the cluster for: one when training.device is cuda."""
    return 1 if trains and TRAINING["device"] == "cuda" else 0


def aggregate_params():
    grid = {
        "target": list(SPHERE["targets"]),
        "d": SPHERE["dims"],
        "regime": list(SPHERE["regimes"]),
        "n": SPHERE["n_train"],
        "seed": SPHERE["seeds"],
    }
    return canonical({"grid": grid, "code": CODE["aggregate"]})


def exponents_params():
    return canonical(
        {
            "targets": SPHERE["targets"],
            "regimes": {name: regime_spec(name) for name in SPHERE["regimes"]},
            "fit": SPHERE["fit"],
            "code": CODE["exponents"],
        }
    )


def atoms_params():
    regimes = {name: regime_spec(name) for name in SPHERE["regimes"]}
    return canonical({"regimes": regimes, "fit": SPHERE["fit"], "code": CODE["exponents"]})


def plot_params(w, figure):
    return canonical(
        {
            "figure": figure,
            "target": w.target,
            "d": int(w.d),
            "fit": SPHERE["fit"],
            "code": CODE["plot"],
        }
    )


# ------------------------------------------------------------------------------------------------
# The image setting: input functions, target lists and parameters.

IMAGES = config.get("images", {})
IMAGE_DATASETS = IMAGES.get("datasets", {})
IMAGE_REGIMES = IMAGES.get("regimes", {})
IMAGE_NETWORK_REGIMES = [r for r, spec in IMAGE_REGIMES.items() if spec["kind"] == "network"]
IMAGE_SVC_REGIMES = [r for r, spec in IMAGE_REGIMES.items() if spec["kind"] == "svc"]

# Each kind of image step by its entry modules (code_version above; the steps of
# sparsefeatures/images/cli.py).
IMAGES_CODE = {
    "data": code_version("images.task"),
    "network": code_version("images.runs"),
    "svc": code_version("images.runs"),
    "aggregate": code_version("images.steps"),
    "exponents": code_version("images.steps"),
    "plot": code_version("images.plots"),
}

if IMAGE_DATASETS:
    _points = IMAGES["stability"]["n_points"]
    if _points is not None and _points > IMAGES["n_test"]:
        raise ValueError(
            f"images.stability.n_points ({_points}) exceeds images.n_test ({IMAGES['n_test']})"
        )


def images_run_paths():
    return [
        *expand(
            rules.images_train.output.store,
            dataset=IMAGE_DATASETS,
            regime=IMAGE_NETWORK_REGIMES,
            n=IMAGES.get("n_train", []),
            seed=IMAGES.get("seeds", []),
        ),
        *expand(
            rules.images_svc.output.stores,
            dataset=IMAGE_DATASETS,
            regime=IMAGE_SVC_REGIMES,
            seed=IMAGES.get("seeds", []),
        ),
    ]


def images_outputs():
    """Final targets of the image setting (none when the config names no image data set)."""
    if not IMAGE_DATASETS:
        return []
    return [
        rules.images_exponents.output.csv,
        *expand(rules.images_plot_test_error.output.png, dataset=IMAGE_DATASETS),
        *expand(rules.images_plot_stability.output.png, dataset=IMAGE_DATASETS),
        *expand(rules.images_plot_sparsity.output.png, dataset=IMAGE_DATASETS),
        *report_outputs("images"),
    ]


def images_svc_stores():
    """One store per n: an SVC job fits a whole learning curve (a fit takes well under a second,
    starting a job seconds)."""
    return [
        directory(path)
        for path in expand(
            "results/images/runs/{{dataset}}/{{regime}}/n{n}/seed{{seed}}.zarr",
            n=IMAGES.get("n_train", []),
        )
    ]


# The parameters each output depends on, and nothing else (an SVC job: all n of its seed). A seed's
# data store holds the whole balanced order of both splits: it depends on neither n nor n_test, so
# adding an n or changing n_test reruns no data job (and through it, no other run).
def images_data_params(w):
    spec = IMAGE_DATASETS[w.dataset]
    return canonical(
        {
            "dataset": w.dataset,
            "dataset_spec": {"source": spec["source"], "data_dir": spec["data_dir"]},
            "seed": int(w.seed),
            "code": IMAGES_CODE["data"],
        }
    )


def images_run_params(w):
    spec = IMAGE_DATASETS[w.dataset]
    return canonical(
        {
            "dataset": w.dataset,
            "dataset_spec": {"source": spec["source"], "data_dir": spec["data_dir"]},
            "regime": w.regime,
            "regime_spec": IMAGE_REGIMES[w.regime],
            "n": int(w.n) if hasattr(w, "n") else IMAGES["n_train"],
            "n_test": IMAGES["n_test"],
            "seed": int(w.seed),
            "stability": IMAGES["stability"],
            "code": IMAGES_CODE[IMAGE_REGIMES[w.regime]["kind"]],
        }
    )


def images_train_minutes(w):
    """Scheduler time limit of a training job: its wall-time cap, plus room to load and measure."""
    return math.ceil(IMAGE_REGIMES[w.regime]["max_wall_s"] / 60) + 10


# Permission to download changes where the files come from, not the result. A params function
# taking `output` is a derived parameter, which Snakemake's params rerun trigger ignores: granting
# it reruns nothing. (The device and the checkpoint interval reach the jobs through the
# environment, set from the config's `training:` section in common.smk.)
def images_download_flag(wildcards, output):
    return "--allow-download" if IMAGE_DATASETS[wildcards.dataset]["allow_download"] else ""


def images_aggregate_params():
    grid = {
        "dataset": list(IMAGE_DATASETS),
        "regime": list(IMAGE_REGIMES),
        "n": IMAGES.get("n_train", []),
        "seed": IMAGES.get("seeds", []),
    }
    kinds = {name: spec["kind"] for name, spec in IMAGE_REGIMES.items()}
    return canonical({"grid": grid, "kinds": kinds, "code": IMAGES_CODE["aggregate"]})


def images_exponents_params():
    return canonical({"fit": IMAGES.get("fit", {}), "code": IMAGES_CODE["exponents"]})


def images_plot_params(w, figure):
    params = {"dataset": w.dataset, "figure": figure, "code": IMAGES_CODE["plot"]}
    if figure == "test_error":
        params["fit_points"] = IMAGES["fit"]["points"]
    if figure == "sparsity":
        params["widths"] = {r: IMAGE_REGIMES[r]["width"] for r in IMAGE_NETWORK_REGIMES}
    return canonical(params)


def report_params(w):
    return canonical({"name": config["name"], "code": CODE["report"]})


def report_exponents_inputs(w):
    """The exponent tables of a setting, by the flag that passes each to the step."""
    if w.setting == "images":
        return {"images": rules.images_exponents.output.csv}
    inputs = {"sphere": rules.sphere_exponents.output.csv}
    if atom_targets():
        inputs["atoms"] = rules.sphere_atoms.output.csv
    return inputs


def run_benchmarks(setting):
    """The benchmark files of a setting's run jobs by group of runs, one row of the run statistics:
    [(group key, files)], from the config (the report parses no path)."""
    groups = []
    if setting == "images":
        for dataset in IMAGE_DATASETS:
            for regime in IMAGE_NETWORK_REGIMES:
                files = expand(
                    rules.images_train.benchmark,
                    dataset=dataset,
                    regime=regime,
                    n=IMAGES["n_train"],
                    seed=IMAGES["seeds"],
                )
                groups.append(([dataset, regime], files))
            for regime in IMAGE_SVC_REGIMES:
                files = expand(
                    rules.images_svc.benchmark, dataset=dataset, regime=regime, seed=IMAGES["seeds"]
                )
                groups.append(([dataset, regime], files))
        return groups
    for regime, spec in SPHERE["regimes"].items():
        pattern = getattr(rules, f"sphere_{spec['kind']}_run").benchmark
        for target in regime_targets(regime):
            for d in SPHERE["dims"]:
                files = expand(
                    pattern,
                    target=target,
                    d=d,
                    regime=regime,
                    n=regime_n(regime),
                    seed=SPHERE["seeds"],
                )
                groups.append(([target, d, regime], files))
    return groups


def report_statistics_inputs(w):
    """A setting's aggregate, and its run jobs' benchmark files (run_benchmarks' order)."""
    benchmarks = [path for _, files in run_benchmarks(w.setting) for path in files]
    if w.setting == "images":
        return {"images": rules.images_aggregate.output.store, "benchmarks": benchmarks}
    return {"sphere": rules.sphere_aggregate.output.store, "benchmarks": benchmarks}


def report_statistics_params(w):
    """The report's parameters, and the group of runs of each benchmark file: [[setting, *key],
    number of files] in the order of the files."""
    groups = [[[w.setting, *key], len(files)] for key, files in run_benchmarks(w.setting)]
    return canonical({"name": config["name"], "benchmark_groups": groups, "code": CODE["report"]})


def input_flags(wildcards, input):
    """`--name path ...` for each named input of a rule; a list gives all its paths after one flag."""
    flags = []
    for name, paths in input.items():
        flags.append(f"--{name} " + (" ".join(paths) if isinstance(paths, list) else paths))
    return " ".join(flags)


# The report's tables (workflow/rules/report.smk, included after the settings' rules, whose targets
# name them).
REPORT_TABLE = "results/report/{setting}_{table}.html"


def report_outputs(setting):
    """The report's tables of a setting."""
    return [REPORT_TABLE.format(setting=setting, table=t) for t in ("exponents", "run_statistics")]
