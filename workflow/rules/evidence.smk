rule speaker_evidence:
    """The paper's multimodal rules per face track: open-close count, mouth movement, lip/audio agreement."""
    input:
        unpack(evidence_inputs),
    output:
        directory(batch_dir("evidence")),
    log:
        str(LOGS / "speaker_evidence" / "{split}" / "{batch}.log"),
    benchmark:
        str(BENCH / "speaker_evidence" / "{split}" / "{batch}.tsv")
    conda:
        "../../envs/select.yaml"
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        batch=batch_items,
        rules=config["rules"],
        asd=config["asd"],
        mode=ASD_MODE or "rules",
        no_asd_note=NO_ASD_NOTE,
    script:
        "../scripts/speaker_evidence.py"
