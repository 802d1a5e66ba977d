rule select_speaker:
    """Cluster the possible speakers' faces (faiss kNN + InfoMap), match them with the face library and
    write the chosen sequence to {results}/facseqs/{name}/dia{D}_utt{U}/ (crops + faces.tsv).
    """
    input:
        faces=batch_dir("faces"),
        audio=batch_dir("audio"),
        embeddings=batch_dir("embeddings"),
        evidence=batch_dir("evidence"),
        library=library_embeddings(),
    output:
        directory(batch_dir("select")),
    log:
        str(LOGS / "select_speaker" / "{split}" / "{batch}.log"),
    benchmark:
        str(BENCH / "select_speaker" / "{split}" / "{batch}.tsv")
    conda:
        "../../envs/select.yaml"
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        batch=batch_items,
        facseq_dir=lambda wildcards: str(
            RESULTS / "facseqs" / meld.output_name(wildcards.split)
        ),
        cluster=config["cluster"],
        cluster_min_similarity=similarity("cluster"),
        match=config["match"],
        match_min_similarity=similarity("match"),
    script:
        "../scripts/select_speaker.py"


rule contact_sheets:
    """One PNG per utterance: the face clusters, their similarities, the chosen one, the evidence."""
    input:
        faces=batch_dir("faces"),
        evidence=batch_dir("evidence"),
        select=batch_dir("select"),
    output:
        report(
            directory(str(RESULTS / "contact_sheets" / "{split}" / "{batch}")),
            patterns=["{utterance}.png"],
            category="Contact sheets",
            subcategory="{split}",
            labels={"split": "{split}", "utterance": "{utterance}"},
            caption="../report/contact_sheet.rst",
        ),
    log:
        str(LOGS / "contact_sheets" / "{split}" / "{batch}.log"),
    benchmark:
        str(BENCH / "contact_sheets" / "{split}" / "{batch}.tsv")
    conda:
        "../../envs/select.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        batch=batch_items,
    script:
        "../scripts/contact_sheets.py"
