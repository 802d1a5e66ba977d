rule detect_faces:
    """MTCNN faces, mediapipe face-mesh landmarks, tracks (FaceIDs) and 160x160 crops."""
    input:
        frames=batch_dir("frames"),
        audio=batch_dir("audio"),
    output:
        directory(batch_dir("faces")),
    log:
        str(LOGS / "detect_faces" / "{split}" / "{batch}.log"),
    benchmark:
        str(BENCH / "detect_faces" / "{split}" / "{batch}.tsv")
    conda:
        "../../envs/faces.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=120,
    params:
        batch=batch_items,
        detection=config["detection"],
        tracking=config["tracking"],
    script:
        "../scripts/detect_faces.py"
