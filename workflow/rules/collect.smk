rule collect_split:
    """FacialMMT's files for one split and the table of every decision, in CSV order."""
    input:
        unpack(collect_inputs),
    output:
        sequences=str(RESULTS / "facseqs" / "{name}_facseqs_160_paths_final.json"),
        profile=str(RESULTS / "facseqs" / "{name}_utt_profile.json"),
        decisions=report(
            str(RESULTS / "decisions" / "{name}.tsv"),
            category="Decisions",
            labels={"split": "{name}", "table": "all utterances"},
            caption="../report/decisions.rst",
        ),
        summary=report(
            str(RESULTS / "decisions" / "{name}_summary.html"),
            category="Decisions",
            labels={"split": "{name}", "table": "summary"},
            caption="../report/summary.rst",
        ),
    log:
        str(LOGS / "collect_split" / "{name}.log"),
    benchmark:
        str(BENCH / "collect_split" / "{name}.tsv")
    conda:
        "../../envs/select.yaml"
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        split=lambda wildcards: SPLIT_OF_NAME[wildcards.name],
        facseq_dir=lambda wildcards: str(RESULTS / "facseqs" / wildcards.name),
        sheets_dir=lambda wildcards: str(
            RESULTS / "contact_sheets" / SPLIT_OF_NAME[wildcards.name]
        ),
    script:
        "../scripts/collect_split.py"
