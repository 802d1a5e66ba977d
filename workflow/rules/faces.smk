rule detect_faces:
    """MTCNN faces, mediapipe face-mesh landmarks, shots (PySceneDetect), tracks (FaceIDs) cut where the
    identity changes, and 160x160 crops."""
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
        shots=config["shots"],
        identity=config["identity"],
        identity_min_similarity=similarity("identity"),
        # only what the identity check's embeddings depend on: other embedding keys do not re-run detection
        embedding={k: config["embedding"][k] for k in ("backend", "weights", "device")},
    script:
        "../scripts/detect_faces.py"
