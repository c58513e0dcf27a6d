# Regression on the sphere: datasets -> one run per (target, d, regime, n, seed) -> aggregate
# -> exponents (and atoms) -> plots. Each rule calls one step of `python -m sparsefeatures.sphere.cli`.


# Light steps over the whole sweep run where Snakemake runs, never as cluster jobs.
localrules:
    sphere_aggregate,
    sphere_exponents,
    sphere_atoms,
    sphere_plot,
    sphere_atoms_plot,


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
    priority: larger_first
    group:
        "data"
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.sphere.cli dataset --params '{params.json}' --out {output.store} --log {log}"


rule sphere_test_data:
    output:
        store=directory("results/sphere/data/{target}/d{d}/seed{seed}/test.zarr"),
    params:
        json=lambda w: dataset_params(w, split="test"),
    log:
        "logs/sphere/data/{target}/d{d}/seed{seed}/test.log",
    priority: larger_first
    group:
        "data"
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.sphere.cli dataset --params '{params.json}' --out {output.store} --log {log}"


# One run rule per regime kind (sparsefeatures/sphere/registry.py): sphere_kernel_run,
# sphere_network_run, sphere_sparse_run, ... with the kind's resources.
for _kind in KINDS.values():

    rule:
        name:
            f"sphere_{_kind.name}_run"
        input:
            train=rules.sphere_train_data.output.store,
            test=rules.sphere_test_data.output.store,
        output:
            store=directory(f"results/sphere/runs/{SPHERE_RUN}.zarr"),
        wildcard_constraints:
            regime=regime_names(_kind.name),
        params:
            json=run_params,
            checkpoints=f"results/checkpoints/sphere/{SPHERE_RUN}",
        log:
            f"logs/sphere/runs/{SPHERE_RUN}.log",
        priority: larger_first
        benchmark:
            f"results/benchmarks/sphere/{SPHERE_RUN}.tsv"
        threads: 1
        resources:
            gpu=training_gpus(_kind.gpu),
            runtime=_kind.runtime,
        group:
            _kind.group
        conda:
            "../../envs/sparsefeatures.yaml"
        shell:
            "python -m sparsefeatures.sphere.cli run --params '{params.json}' --threads {threads}"
            " --train {input.train} --test {input.test} --out {output.store}"
            " --checkpoint-dir {params.checkpoints} --log {log}"


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
        "python -m sparsefeatures.sphere.cli aggregate --params '{params.json}'"
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
        "python -m sparsefeatures.sphere.cli exponents --params '{params.json}'"
        " --errors {input.errors} --out {output.csv} --log {log}"


rule sphere_atoms:
    input:
        errors=rules.sphere_aggregate.output.store,
    output:
        csv="results/sphere/atoms.csv",
    params:
        json=atoms_params(),
    log:
        "logs/sphere/atoms.log",
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.sphere.cli atoms --params '{params.json}'"
        " --errors {input.errors} --out {output.csv} --log {log}"


rule sphere_plot:
    input:
        errors=rules.sphere_aggregate.output.store,
        fits=rules.sphere_exponents.output.csv,
    output:
        png=report(
            "results/sphere/plots/{target}_d{d}.png",
            caption="../report/sphere_learning_curve.rst",
            category="Sphere",
            subcategory="{target}",
            labels={"figure": "learning curves", "target": "{target}", "d": "{d}"},
        ),
        pdf="results/sphere/plots/{target}_d{d}.pdf",
    params:
        json=lambda w: plot_params(w, "learning_curves"),
    log:
        "logs/sphere/plots/{target}_d{d}.log",
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.sphere.cli plot --params '{params.json}'"
        " --errors {input.errors} --fits {input.fits}"
        " --out {output.png} {output.pdf} --log {log}"


rule sphere_atoms_plot:
    input:
        errors=rules.sphere_aggregate.output.store,
        fits=rules.sphere_atoms.output.csv,
    output:
        png=report(
            "results/sphere/plots/{target}_d{d}_atoms.png",
            caption="../report/sphere_atoms.rst",
            category="Sphere",
            subcategory="{target}",
            labels={"figure": "atoms", "target": "{target}", "d": "{d}"},
        ),
        pdf="results/sphere/plots/{target}_d{d}_atoms.pdf",
    params:
        json=lambda w: plot_params(w, "atoms"),
    log:
        "logs/sphere/plots/{target}_d{d}_atoms.log",
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.sphere.cli plot --params '{params.json}'"
        " --errors {input.errors} --fits {input.fits}"
        " --out {output.png} {output.pdf} --log {log}"
