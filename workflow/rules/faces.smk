rule detect_faces:
    """Decode each clip once, into memory; MTCNN faces (every `detection.stride` frames and shot start, the
    face mesh tracking between), mediapipe face-mesh landmarks, shots (PySceneDetect), tracks (FaceIDs)
    cut where the identity changes, 160x160 crops (and the ASD's track crops when it runs).
    """
    input:
        audio=batch_dir("audio"),  # the clips come through extract_media: a changed clip re-runs both
    output:
        directory(batch_dir("faces")),
    log:
        str(LOGS / "detect_faces" / "{split}" / "{batch}.log"),
    benchmark:
        str(BENCH / "detect_faces" / "{split}" / "{batch}.tsv")
    conda:
        "../../envs/faces.yaml"
    # one torch thread: MTCNN's many tiny resizes lose time in a second thread's barrier (up to 20x on a
    # loaded machine); the next clip decodes in a background thread, and batches give Snakemake parallelism
    threads: 1
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
        keep_frames=config["keep_frames"],
        asd_crops=ASD_MODE is not None,
    script:
        "../scripts/detect_faces.py"
