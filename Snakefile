# Stage One of FacialMMT: the real speaker's face sequence for every MELD utterance.
# Run from the repository root: `snakemake --cores N` (see README.md).


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/media.smk"
include: "workflow/rules/faces.smk"
include: "workflow/rules/embeddings.smk"
include: "workflow/rules/asd.smk"
include: "workflow/rules/evidence.smk"
include: "workflow/rules/select.smk"
include: "workflow/rules/collect.smk"
include: "workflow/rules/propose_library.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/mario.smk"


report: "workflow/report/workflow.rst"


rule all:
    default_target: True
    input:
        final_outputs(),
        mario_outputs(),


rule mario:
    """Stage Two only: FacialMMT's data files, MARIO trained and evaluated (README: Stage Two)."""
    input:
        mario_target,
