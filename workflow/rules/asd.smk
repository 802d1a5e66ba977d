rule active_speaker:
    """Per-frame active speaker scores of every face track (TalkNet or Light-ASD, official weights)."""
    input:
        faces=batch_dir("faces"),
        audio=batch_dir("audio"),
        weights=config["asd"]["weights"] or [],
    output:
        directory(batch_dir("asd")),
    log:
        str(LOGS / "active_speaker" / "{split}" / "{batch}.log"),
    benchmark:
        str(BENCH / "active_speaker" / "{split}" / "{batch}.tsv")
    conda:
        "../../envs/asd.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        batch=batch_items,
        backend=config["asd"]["backend"],
        device=config["asd"]["device"],
    script:
        "../scripts/active_speaker.py"


localrules:
    download_models,


rule download_models:
    """Fetch an official ASD checkpoint (needs a network; checks sha256 where it is known):
    `snakemake --cores 1 resources/models/finetuning_TalkSet.model`."""
    output:
        str(Path(config["asd"]["models_dir"]) / "{file_name}"),
    log:
        str(LOGS / "download_models" / "{file_name}.log"),
    benchmark:
        str(BENCH / "download_models" / "{file_name}.tsv")
    wildcard_constraints:
        file_name=r"[\w.-]+\.model",
    conda:
        "../../envs/asd.yaml"
    params:
        url=checkpoint_url,
        sha256=checkpoint_sha256,
    script:
        "../scripts/download_models.py"
