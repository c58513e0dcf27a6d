# Config validation, and the target lists and parameters every rule draws from.
import hashlib
import json
import os
import sys
from pathlib import Path

from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml")

# Steps run as `python -m sparsefeatures.cli`: the environment that runs Snakemake (where the package
# is installed) comes first on PATH, so an unactivated `.venv/bin/snakemake` works too. Under
# `--sdm conda`, the rule's environment is activated after this and takes precedence.
os.environ.update(PATH=os.pathsep.join([os.path.dirname(sys.executable), os.getenv("PATH", "")]))

SPHERE = config["sphere"]
TRAINING = config["training"]

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


def code_version(*modules):
    """Hash of the package modules that hold a step's numerics.

    Snakemake does not track imported code; putting this in a rule's params makes an edit of, say,
    kernels.py rerun the kernel runs and nothing else. I/O modules (cli.py, store.py) are left out:
    the stores' format_version guards their layout.
    """
    digest = hashlib.sha256()
    for module in modules:
        digest.update((PACKAGE / module).read_bytes())
    return digest.hexdigest()[:12]


# Which modules each kind of step computes with.
CODE = {
    "dataset": code_version("sphere.py"),
    "kernel": code_version("kernels.py", "runs.py"),
    "network": code_version("network.py", "measures.py", "runs.py"),
    "aggregate": code_version("steps.py"),
    "exponents": code_version("steps.py", "exponents.py"),
    "plot": code_version("plots.py"),
}


def regime_names(kind):
    """Regex matching exactly the regimes of one kind (one that matches nothing if there is none)."""
    names = [name for name, spec in SPHERE["regimes"].items() if spec["kind"] == kind]
    return "|".join(names) if names else "(?!)"


for _name, _spec in SPHERE["regimes"].items():
    for _target in _spec.get("targets", []):
        if _target not in SPHERE["targets"]:
            raise ValueError(
                f"config sphere.regimes.{_name}.targets: {_target!r} is not a target; "
                f"expected some of {sorted(SPHERE['targets'])}"
            )


def regime_spec(regime):
    """A regime's parameters: its entry without `targets`, which selects runs and changes none."""
    return {k: v for k, v in SPHERE["regimes"][regime].items() if k != "targets"}


def regime_targets(regime):
    """The targets a regime runs on: its `targets` selection, or all of them."""
    return SPHERE["regimes"][regime].get("targets", list(SPHERE["targets"]))


def sphere_run_paths():
    return [
        path
        for regime in SPHERE["regimes"]
        for path in expand(
            "results/sphere/runs/{target}/d{d}/{regime}/n{n}/seed{seed}.zarr",
            target=regime_targets(regime),
            d=SPHERE["dims"],
            regime=regime,
            n=SPHERE["n_train"],
            seed=SPHERE["seeds"],
        )
    ]


def network_targets():
    """Targets that at least one network regime runs on (they get an atoms plot)."""
    networks = [name for name, spec in SPHERE["regimes"].items() if spec["kind"] == "network"]
    return [t for t in SPHERE["targets"] if any(t in regime_targets(r) for r in networks)]


def sphere_outputs():
    outputs = [
        rules.sphere_exponents.output.csv,
        *expand(rules.sphere_plot.output.png, target=SPHERE["targets"], d=SPHERE["dims"]),
    ]
    if network_targets():
        outputs.append(rules.sphere_atoms.output.csv)
        outputs += expand(rules.sphere_atoms_plot.output.png, target=network_targets(), d=SPHERE["dims"])
    return outputs


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
        # Network measures are computed in the run, so they are among its parameters.
        | ({"measures": SPHERE["measures"]} if spec["kind"] == "network" else {})
    )


def training_gpus(w):
    return 1 if TRAINING["device"] == "cuda" else 0


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
