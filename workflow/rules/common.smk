# Config validation, and the target lists and parameters every rule draws from.
import json
import os
import sys

from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml")

# Steps run as `python -m sparsefeatures.cli`: the environment that runs Snakemake (where the package
# is installed) comes first on PATH, so an unactivated `.venv/bin/snakemake` works too. Under
# `--sdm conda`, the rule's environment is activated after this and takes precedence.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]

SPHERE = config["sphere"]


def canonical(obj):
    """Sorted JSON: the params string changes exactly when a parameter does (params trigger)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def sphere_run_paths():
    return expand(
        rules.sphere_run.output.store,
        target=SPHERE["targets"],
        d=SPHERE["dims"],
        regime=SPHERE["regimes"],
        n=SPHERE["n_train"],
        seed=SPHERE["seeds"],
    )


def sphere_outputs():
    return [
        rules.sphere_exponents.output.csv,
        *expand(rules.sphere_plot.output.png, target=SPHERE["targets"], d=SPHERE["dims"]),
    ]


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
        }
    )


def run_params(w):
    return canonical(
        {
            "target": w.target,
            "d": int(w.d),
            "regime": w.regime,
            "regime_spec": SPHERE["regimes"][w.regime],
            "n": int(w.n),
            "seed": int(w.seed),
        }
    )


def aggregate_params():
    grid = {
        "target": list(SPHERE["targets"]),
        "d": SPHERE["dims"],
        "regime": list(SPHERE["regimes"]),
        "n": SPHERE["n_train"],
        "seed": SPHERE["seeds"],
    }
    return canonical({"grid": grid})


def exponents_params():
    return canonical(
        {"targets": SPHERE["targets"], "regimes": SPHERE["regimes"], "fit": SPHERE["fit"]}
    )


def plot_params(w):
    return canonical({"target": w.target, "d": int(w.d), "fit": SPHERE["fit"]})
