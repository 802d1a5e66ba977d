rule vision_features:
    """InceptionResnetV1 512-d vector of every face of each utterance's real-speaker sequence."""
    input:
        sequences=split_sequences_json,
        weights=stage_two_file("vision_weights"),
    output:
        directory(batch_dir("vision_features")),
    log:
        str(LOGS / "vision_features" / "{split}" / "{batch}.log"),
    benchmark:
        str(BENCH / "vision_features" / "{split}" / "{batch}.tsv")
    conda:
        "../../envs/mario.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        batch=batch_items,
        device=config["stage_two"]["device"],
        max_faces=config["stage_two"]["max_lengths"]["vision"],
    script:
        "../scripts/vision_features.py"


rule audio_features:
    """wav2vec 2.0 last hidden states (T x hidden) of each utterance's 16 kHz audio."""
    input:
        audio=batch_dir("audio"),
        model=stage_two_file("audio_model"),
    output:
        directory(batch_dir("audio_features")),
    log:
        str(LOGS / "audio_features" / "{split}" / "{batch}.log"),
    benchmark:
        str(BENCH / "audio_features" / "{split}" / "{batch}.tsv")
    conda:
        "../../envs/mario.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
    params:
        batch=batch_items,
        device=config["stage_two"]["device"],
    script:
        "../scripts/audio_features.py"


rule facialmmt_lengths:
    """L_v and L_a (mean + 3 std of the sequence lengths over every configured split, paper 3.3)."""
    input:
        vision=all_feature_batches("vision_features"),
        audio=all_feature_batches("audio_features"),
    output:
        report(
            str(RESULTS / "facialmmt" / "max_lengths.json"),
            category="Stage Two",
            subcategory="data",
            caption="../report/max_lengths.rst",
        ),
    log:
        str(LOGS / "facialmmt_lengths" / "lengths.log"),
    benchmark:
        str(BENCH / "facialmmt_lengths" / "lengths.tsv")
    conda:
        "../../envs/mario.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        overrides=config["stage_two"]["max_lengths"],
    script:
        "../scripts/facialmmt_lengths.py"


rule facialmmt_data:
    """FacialMMT's own data files of one split under {results}/facialmmt/preprocess_data/."""
    input:
        unpack(facialmmt_data_inputs),
    output:
        **facialmmt_outputs("{name}"),
    log:
        str(LOGS / "facialmmt_data" / "{name}.log"),
    benchmark:
        str(BENCH / "facialmmt_data" / "{name}.tsv")
    conda:
        "../../envs/mario.yaml"
    resources:
        # the padded train audio of all of MELD is ~20 GB in float32
        mem_mb=48000,
        runtime=60,
    params:
        split=lambda wildcards: SPLIT_OF_NAME[wildcards.name],
    script:
        "../scripts/facialmmt_data.py"
