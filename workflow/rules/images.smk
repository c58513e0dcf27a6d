# Image classification (the paper's second setting): one run per (dataset, regime, n, seed)
# -> aggregate -> exponents -> plots. Each rule calls one step of
# `python -m sparsefeatures.images.cli`. The config's `images:` section is validated (defaults
# filled) by workflow/schemas/images.schema.yaml.

import math
import re

# ------------------------------------------------------------------------------------------------
# Input functions and target lists of the image setting (to move to common.smk).

IMAGES = config.get("images", {})
IMAGE_DATASETS = IMAGES.get("datasets", {})
IMAGE_REGIMES = IMAGES.get("regimes", {})
IMAGE_NETWORK_REGIMES = [r for r, spec in IMAGE_REGIMES.items() if spec["kind"] == "network"]
IMAGE_SVC_REGIMES = [r for r, spec in IMAGE_REGIMES.items() if spec["kind"] == "svc"]

# Which modules each kind of image step computes with (code_version: common.smk), so that an edit
# reruns the steps it can change and nothing else.
IMAGES_CODE = {
    "network": code_version(
        "images/runs.py", "images/datasets.py", "images/diffeo.py", "images/training.py"
    ),
    "svc": code_version(
        "images/runs.py", "images/datasets.py", "images/diffeo.py", "images/svc.py", "kernels.py"
    ),
    "aggregate": code_version("images/steps.py"),
    "exponents": code_version("images/steps.py", "exponents.py"),
    "plot": code_version("images/plots.py", "plots.py"),
}

if IMAGE_DATASETS:
    _points = IMAGES["stability"]["n_points"]
    if _points is not None and _points > IMAGES["n_test"]:
        raise ValueError(
            f"images.stability.n_points ({_points}) exceeds images.n_test ({IMAGES['n_test']})"
        )


def wildcard_regex(names):
    """Wildcard regex matching exactly these names (and nothing if there are none)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


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


# The parameters each output depends on, and nothing else (an SVC job: all n of its seed).
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


# ------------------------------------------------------------------------------------------------


rule images_train:
    output:
        store=directory("results/images/runs/{dataset}/{regime}/n{n}/seed{seed}.zarr"),
    params:
        json=images_run_params,
        download=images_download_flag,
        checkpoints="results/checkpoints/images/{dataset}/{regime}/n{n}/seed{seed}",
    log:
        "logs/images/runs/{dataset}/{regime}/n{n}/seed{seed}.log",
    benchmark:
        "results/benchmarks/images/{dataset}/{regime}/n{n}/seed{seed}.tsv"
    wildcard_constraints:
        dataset=wildcard_regex(IMAGE_DATASETS),
        regime=wildcard_regex(IMAGE_NETWORK_REGIMES),
        n=r"\d+",
        seed=r"\d+",
    threads: 1
    resources:
        gpu=training_gpus,
        runtime=images_train_minutes,
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.images.cli train --params '{params.json}' {params.download}"
        " --checkpoint-dir {params.checkpoints} --out {output.store}"
        " --log {log} --threads {threads}"


rule images_svc:
    output:
        stores=images_svc_stores(),
    params:
        json=images_run_params,
        download=images_download_flag,
    log:
        "logs/images/runs/{dataset}/{regime}/seed{seed}.log",
    benchmark:
        "results/benchmarks/images/{dataset}/{regime}/seed{seed}.tsv"
    wildcard_constraints:
        dataset=wildcard_regex(IMAGE_DATASETS),
        regime=wildcard_regex(IMAGE_SVC_REGIMES),
        seed=r"\d+",
    threads: 1
    group:
        "kernel"
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.images.cli svc --params '{params.json}' {params.download}"
        " --out {output.stores} --log {log} --threads {threads}"


rule images_aggregate:
    input:
        runs=images_run_paths(),
    output:
        store=directory("results/images/errors.zarr"),
    params:
        json=images_aggregate_params(),
    log:
        "logs/images/aggregate.log",
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.images.cli aggregate --params '{params.json}'"
        " --runs {input.runs} --out {output.store} --log {log}"


rule images_exponents:
    input:
        errors=rules.images_aggregate.output.store,
    output:
        csv="results/images/exponents.csv",
    params:
        json=images_exponents_params(),
    log:
        "logs/images/exponents.log",
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.images.cli exponents --params '{params.json}'"
        " --errors {input.errors} --out {output.csv} --log {log}"


rule images_plot_test_error:
    input:
        errors=rules.images_aggregate.output.store,
        exponents=rules.images_exponents.output.csv,
    output:
        png=report(
            "results/images/plots/{dataset}_test_error.png",
            caption="../report/images_test_error.rst",
            category="Images",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "test error"},
        ),
        pdf="results/images/plots/{dataset}_test_error.pdf",
    params:
        json=lambda w: images_plot_params(w, "test_error"),
    log:
        "logs/images/plots/{dataset}_test_error.log",
    wildcard_constraints:
        dataset=wildcard_regex(IMAGE_DATASETS),
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.images.cli plot --params '{params.json}'"
        " --errors {input.errors} --exponents {input.exponents}"
        " --out {output.png} {output.pdf} --log {log}"


rule images_plot_stability:
    input:
        errors=rules.images_aggregate.output.store,
    output:
        png=report(
            "results/images/plots/{dataset}_stability.png",
            caption="../report/images_stability.rst",
            category="Images",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "stability"},
        ),
        pdf="results/images/plots/{dataset}_stability.pdf",
    params:
        json=lambda w: images_plot_params(w, "stability"),
    log:
        "logs/images/plots/{dataset}_stability.log",
    wildcard_constraints:
        dataset=wildcard_regex(IMAGE_DATASETS),
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.images.cli plot --params '{params.json}'"
        " --errors {input.errors} --out {output.png} {output.pdf} --log {log}"


rule images_plot_sparsity:
    input:
        errors=rules.images_aggregate.output.store,
    output:
        png=report(
            "results/images/plots/{dataset}_sparsity.png",
            caption="../report/images_sparsity.rst",
            category="Images",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "sparsity"},
        ),
        pdf="results/images/plots/{dataset}_sparsity.pdf",
    params:
        json=lambda w: images_plot_params(w, "sparsity"),
    log:
        "logs/images/plots/{dataset}_sparsity.log",
    wildcard_constraints:
        dataset=wildcard_regex(IMAGE_DATASETS),
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.images.cli plot --params '{params.json}'"
        " --errors {input.errors} --out {output.png} {output.pdf} --log {log}"


# `snakemake images_all`: the image setting alone (e.g. with `--configfile
# config/images-fashion-mnist.yaml`, whose sphere section is the default one).
rule images_all:
    input:
        images_outputs(),
