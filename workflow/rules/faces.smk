rule detect_faces:
    """MTCNN faces, mediapipe face-mesh landmarks, tracks (FaceIDs) and 160x160 crops."""
    input:
        frames=batch_dir("frames"),
        audio=batch_dir("audio"),
    output:
        directory(batch_dir("faces")),
    params:
        batch=batch_items,
        detection=config["detection"],
        tracking=config["tracking"],
    threads: 2
    log:
        str(LOGS / "detect_faces" / "{split}" / "{batch}.log"),
    benchmark:
        str(BENCH / "detect_faces" / "{split}" / "{batch}.tsv")
    conda:
        "../../envs/faces.yaml"
    resources:
        mem_mb=6000,
        runtime=120,
    script:
        "../scripts/detect_faces.py"
