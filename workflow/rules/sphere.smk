# Regression on the sphere: datasets -> one run per (target, d, regime, n, seed) -> aggregate
# -> exponents -> plots. Each rule calls one step of `python -m sparsefeatures.cli`.


wildcard_constraints:
    target="[A-Za-z][A-Za-z0-9_-]*",
    regime="[A-Za-z][A-Za-z0-9_-]*",
    d=r"\d+",
    n=r"\d+",
    seed=r"\d+",


rule sphere_train_data:
    output:
        store=directory("results/sphere/data/{target}/d{d}/seed{seed}/train_n{n}.zarr"),
    params:
        json=dataset_params,
    log:
        "logs/sphere/data/{target}/d{d}/seed{seed}/train_n{n}.log",
    group:
        "data"
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.cli dataset --params '{params.json}' --out {output.store} --log {log}"


rule sphere_test_data:
    output:
        store=directory("results/sphere/data/{target}/d{d}/seed{seed}/test.zarr"),
    params:
        json=lambda w: dataset_params(w, split="test"),
    log:
        "logs/sphere/data/{target}/d{d}/seed{seed}/test.log",
    group:
        "data"
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.cli dataset --params '{params.json}' --out {output.store} --log {log}"


rule sphere_run:
    input:
        train=rules.sphere_train_data.output.store,
        test=rules.sphere_test_data.output.store,
    output:
        store=directory("results/sphere/runs/{target}/d{d}/{regime}/n{n}/seed{seed}.zarr"),
    params:
        json=run_params,
    log:
        "logs/sphere/runs/{target}/d{d}/{regime}/n{n}/seed{seed}.log",
    benchmark:
        "results/benchmarks/sphere/{target}/d{d}/{regime}/n{n}/seed{seed}.tsv"
    threads: 1
    group:
        "kernel"
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.cli run --params '{params.json}' --threads {threads}"
        " --train {input.train} --test {input.test} --out {output.store} --log {log}"


rule sphere_aggregate:
    input:
        runs=sphere_run_paths(),
    output:
        store=directory("results/sphere/errors.zarr"),
    params:
        json=aggregate_params(),
    log:
        "logs/sphere/aggregate.log",
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.cli aggregate --params '{params.json}'"
        " --runs {input.runs} --out {output.store} --log {log}"


rule sphere_exponents:
    input:
        errors=rules.sphere_aggregate.output.store,
    output:
        csv="results/sphere/exponents.csv",
    params:
        json=exponents_params(),
    log:
        "logs/sphere/exponents.log",
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.cli exponents --params '{params.json}'"
        " --errors {input.errors} --out {output.csv} --log {log}"


rule sphere_plot:
    input:
        errors=rules.sphere_aggregate.output.store,
        exponents=rules.sphere_exponents.output.csv,
    output:
        png=report(
            "results/sphere/plots/{target}_d{d}.png",
            caption="../report/sphere_learning_curve.rst",
            category="Sphere",
            subcategory="{target}",
            labels={"target": "{target}", "d": "{d}"},
        ),
        pdf="results/sphere/plots/{target}_d{d}.pdf",
    params:
        json=plot_params,
    log:
        "logs/sphere/plots/{target}_d{d}.log",
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.cli plot --params '{params.json}'"
        " --errors {input.errors} --exponents {input.exponents}"
        " --out {output.png} {output.pdf} --log {log}"
