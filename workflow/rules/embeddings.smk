rule embed_library:
    """Embed the face library once (one array of embeddings per leading role)."""
    input:
        config["face_library"],
    output:
        embeddings=str(WORK / "library" / "{backend}.npz"),
        listing=report(
            str(WORK / "library" / "{backend}.tsv"),
            category="Face library",
            caption="../report/library.rst",
        ),
    params:
        detection=config["detection"],
        weights=config["embedding"]["weights"],
        device=config["embedding"]["device"],
    threads: 2
    log:
        str(LOGS / "embed_library" / "{backend}.log"),
    benchmark:
        str(BENCH / "embed_library" / "{backend}.tsv")
    conda:
        "../../envs/embeddings.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/embed_library.py"


rule embed_faces:
    """Face embedding of every tracked face (backend: `embedding.backend`)."""
    input:
        faces=batch_dir("faces"),
        audio=batch_dir("audio"),
    output:
        directory(batch_dir("embeddings")),
    params:
        batch=batch_items,
        backend=config["embedding"]["backend"],
        weights=config["embedding"]["weights"],
        device=config["embedding"]["device"],
        crop_margin=config["detection"]["crop_margin"],
        max_per_track=config["embedding"]["max_faces_per_track"],
    threads: 2
    log:
        str(LOGS / "embed_faces" / "{split}" / "{batch}.log"),
    benchmark:
        str(BENCH / "embed_faces" / "{split}" / "{batch}.tsv")
    conda:
        "../../envs/embeddings.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/embed_faces.py"
