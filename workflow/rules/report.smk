# The report's tables: exponents of every learning curve, and run statistics (how many runs, how
# they ended, what they cost). The figures come with their own rules (sphere.smk, images.smk).


localrules:
    report_exponents,
    report_statistics,


rule report_exponents:
    input:
        unpack(lambda w: report_exponents_inputs()),
    output:
        html=report(
            "results/report/exponents.html",
            caption="../report/exponents.rst",
            category="Summary",
            labels={"table": "exponents"},
        ),
    params:
        json=report_params(),
        inputs=input_flags,
    log:
        "logs/report/exponents.log",
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.cli report-exponents --params '{params.json}' {params.inputs}"
        " --out {output.html} --log {log}"


rule report_statistics:
    input:
        unpack(lambda w: report_statistics_inputs()),
    output:
        html=report(
            "results/report/run_statistics.html",
            caption="../report/run_statistics.rst",
            category="Summary",
            labels={"table": "run statistics"},
        ),
    params:
        json=report_params(),
        inputs=input_flags,
    log:
        "logs/report/run_statistics.log",
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.cli report-statistics --params '{params.json}' {params.inputs}"
        " --benchmarks results/benchmarks --out {output.html} --log {log}"
