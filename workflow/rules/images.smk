# Image classification (the paper's second setting): one data store per (dataset, seed) -> one run
# per (dataset, regime, n, seed) -> aggregate -> exponents -> plots. Each rule calls one step of
# `python -m sparsefeatures.images.cli`. The config's `images:` section is validated (defaults
# filled) by workflow/schemas/images.schema.yaml; its input functions are in common.smk.


# A seed's data: the data set's files read once, both splits in their balanced orders and the mean
# image (sparsefeatures.images.task); every run of the seed takes its prefixes.
rule images_data:
    output:
        store=directory("results/images/data/{dataset}/seed{seed}.zarr"),
    params:
        json=images_data_params,
        download=images_download_flag,
    log:
        "logs/images/data/{dataset}/seed{seed}.log",
    wildcard_constraints:
        dataset=wildcard_regex(IMAGE_DATASETS),
        seed=r"\d+",
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.images.cli data --params '{params.json}' {params.download}"
        " --out {output.store} --log {log}"


rule images_train:
    input:
        data=rules.images_data.output.store,
    output:
        store=directory("results/images/runs/{dataset}/{regime}/n{n}/seed{seed}.zarr"),
    params:
        json=images_run_params,
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
        gpu=training_gpus(),
        runtime=images_train_minutes,
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.images.cli train --params '{params.json}' --data {input.data}"
        " --checkpoint-dir {params.checkpoints} --out {output.store}"
        " --log {log} --threads {threads}"


rule images_svc:
    input:
        data=rules.images_data.output.store,
    output:
        stores=images_svc_stores(),
    params:
        json=images_run_params,
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
        "python -m sparsefeatures.images.cli svc --params '{params.json}' --data {input.data}"
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
