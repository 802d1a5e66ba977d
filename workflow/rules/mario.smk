rule train_mario:
    """MARIO (paper App. A.2): each epoch one DFER pass over Aff-Wild2 (when given), then one MERMC pass
    over the training split; the epoch with the best weighted F1 on the dev split is kept.
    """
    input:
        unpack(mario_train_inputs),
    output:
        swin=str(MARIO / "checkpoints" / "best_swin.pt"),
        multimodal=str(MARIO / "checkpoints" / "best_multimodal.pt"),
        last=str(MARIO / "checkpoints" / "last.pt"),
        run=str(MARIO / "run.json"),
        metrics=report(
            str(MARIO / "metrics.tsv"),
            category="Stage Two",
            subcategory="training",
            caption="../report/mario_metrics.rst",
        ),
        steps=str(MARIO / "steps.tsv"),
    log:
        str(LOGS / "train_mario" / "train.log"),
    benchmark:
        str(BENCH / "train_mario" / "train.tsv")
    conda:
        "../../envs/mario.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=32000,
        runtime=720,
    params:
        data_root=str(FACIALMMT_DATA),
        train_name=lambda wildcards: stage_two_name(
            STAGE_TWO["train_split"], "train_split"
        ),
        dev_name=lambda wildcards: stage_two_name(STAGE_TWO["dev_split"], "dev_split"),
        stage_two=STAGE_TWO,
    script:
        "../scripts/train_mario.py"


rule evaluate_mario:
    """Weighted and per-class F1 of the trained MARIO on every split of stage_two.eval_splits."""
    input:
        unpack(mario_evaluate_inputs),
    output:
        f1=report(
            str(MARIO / "evaluation" / "f1.tsv"),
            category="Stage Two",
            subcategory="evaluation",
            caption="../report/mario_f1.rst",
        ),
        predictions=str(MARIO / "evaluation" / "predictions.tsv"),
        confusion=report(
            directory(str(MARIO / "evaluation" / "confusion")),
            patterns=["{name}.png"],
            category="Stage Two",
            subcategory="evaluation",
            labels={"split": "{name}", "figure": "confusion matrix"},
            caption="../report/mario_confusion.rst",
        ),
        learning_curve=report(
            str(MARIO / "evaluation" / "learning_curve.png"),
            category="Stage Two",
            subcategory="training",
            caption="../report/mario_learning_curve.rst",
        ),
    log:
        str(LOGS / "evaluate_mario" / "evaluate.log"),
    benchmark:
        str(BENCH / "evaluate_mario" / "evaluate.tsv")
    conda:
        "../../envs/mario.yaml"
    threads: 2
    resources:
        mem_mb=16000,
        runtime=120,
    params:
        data_root=str(FACIALMMT_DATA),
        names=lambda wildcards: mario_eval_names(),
        device=STAGE_TWO["device"],
    script:
        "../scripts/evaluate_mario.py"
