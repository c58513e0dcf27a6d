# Learning sparse features can lead to overfitting in neural networks (Petrini et al., NeurIPS 2022):
# learning curves, atoms and stability of feature learning vs lazy training. See README.md.
from snakemake.utils import min_version

min_version("9.0")


# `--configfile FILE` replaces config.yaml instead of being merged into it, so that a preset
# means exactly what it says (Snakemake would otherwise merge its maps with the defaults').
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/sphere.smk"
include: "workflow/rules/images.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


localrules:
    all,


rule all:
    input:
        sphere_outputs(),
        images_outputs(),
    default_target: True
