rule extract_media:
    """Decode each clip of the batch once: frames at `frames.fps` and 16 kHz mono audio."""
    input:
        clips=batch_clips,
    output:
        frames=(
            directory(batch_dir("frames"))
            if config["keep_frames"]
            else temp(directory(batch_dir("frames")))
        ),
        audio=directory(batch_dir("audio")),
    log:
        str(LOGS / "extract_media" / "{split}" / "{batch}.log"),
    benchmark:
        str(BENCH / "extract_media" / "{split}" / "{batch}.tsv")
    conda:
        "../../envs/media.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        batch=batch_items,
        fps=config["frames"]["fps"],
    script:
        "../scripts/extract_media.py"
