# The report's tables, one pair per setting (sphere, images): the exponents of every learning curve,
# and the run statistics (how many runs, how they ended, what they cost). The figures come with
# their own rules (sphere.smk, images.smk).


localrules:
    report_exponents,
    report_statistics,


rule report_exponents:
    input:
        unpack(report_exponents_inputs),
    output:
        html=report(
            REPORT_TABLE.replace("{table}", "exponents"),
            caption="../report/exponents.rst",
            category="Summary",
            subcategory="{setting}",
            labels={"table": "exponents"},
        ),
    params:
        json=report_params,
        inputs=input_flags,
    log:
        "logs/report/{setting}_exponents.log",
    wildcard_constraints:
        setting="sphere|images",
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.core.report exponents --params '{params.json}' {params.inputs}"
        " --out {output.html} --log {log}"


rule report_statistics:
    input:
        unpack(report_statistics_inputs),
    output:
        html=report(
            REPORT_TABLE.replace("{table}", "run_statistics"),
            caption="../report/run_statistics.rst",
            category="Summary",
            subcategory="{setting}",
            labels={"table": "run statistics"},
        ),
    params:
        json=report_statistics_params,
        inputs=input_flags,
    log:
        "logs/report/{setting}_run_statistics.log",
    wildcard_constraints:
        setting="sphere|images",
    conda:
        "../../envs/sparsefeatures.yaml"
    shell:
        "python -m sparsefeatures.core.report statistics --params '{params.json}' {params.inputs}"
        " --out {output.html} --log {log}"
