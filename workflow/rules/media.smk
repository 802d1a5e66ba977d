rule extract_media:
    """What each clip of the batch holds (size, rate, frames at `frames.fps`, audio) and its 16 kHz mono
    audio; the video itself is decoded once, into memory, by detect_faces."""
    input:
        clips=batch_clips,
    output:
        directory(batch_dir("audio")),
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
