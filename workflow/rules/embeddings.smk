rule embed_library:
    """Embed the face library once (one array of embeddings per leading role)."""
    input:
        face_library_dir,
        images=face_library_images,
    output:
        embeddings=str(WORK / "library" / "{backend}.npz"),
        listing=report(
            str(WORK / "library" / "{backend}.tsv"),
            category="Face library",
            caption="../report/library.rst",
        ),
    log:
        str(LOGS / "embed_library" / "{backend}.log"),
    benchmark:
        str(BENCH / "embed_library" / "{backend}.tsv")
    conda:
        "../../envs/embeddings.yaml"
    threads: 1  # small convnets: a second torch thread costs more than it gives (see faces.smk)
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        detection=config["detection"],
        weights=config["embedding"]["weights"],
        device=config["embedding"]["device"],
        library_digest=face_library_digest,
    script:
        "../scripts/embed_library.py"


rule embed_faces:
    """Face embedding of every tracked face (backend: `embedding.backend`)."""
    input:
        faces=batch_dir("faces"),
        audio=batch_dir("audio"),
    output:
        directory(batch_dir("embeddings")),
    log:
        str(LOGS / "embed_faces" / "{split}" / "{batch}.log"),
    benchmark:
        str(BENCH / "embed_faces" / "{split}" / "{batch}.tsv")
    conda:
        "../../envs/embeddings.yaml"
    threads: 1  # small convnets: a second torch thread costs more than it gives (see faces.smk)
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        batch=batch_items,
        backend=config["embedding"]["backend"],
        weights=config["embedding"]["weights"],
        device=config["embedding"]["device"],
        crop_margin=config["detection"]["crop_margin"],
        max_per_track=config["embedding"]["max_faces_per_track"],
    script:
        "../scripts/embed_faces.py"
