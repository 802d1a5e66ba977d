"""Stage Two in the workflow: the demo -> Stage One -> features -> FacialMMT's data files -> train_mario ->
evaluate_mario -> report, on CPU, with tiny random text / audio / vision / Swin models built here (nothing is
downloaded) and a tiny Aff-Wild2-layout folder so that DFER and MERMC epochs alternate."""

from __future__ import annotations

import csv
import json
import pickle

import numpy as np
import pytest
import yaml

from conftest import load_benchmark, run_snakemake
from facseq.demo import build_demo
from facseq.features import EMOTIONS
from contract import read_tsv

EPOCHS = 3
MAX_FACES = 4
AFFWILD2_HEADER = "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other"


def make_affwild2(root, crops):
    """Two 'videos' of face crops in the ABAW layout, labels 0-7 with an Other and an unannotated frame."""
    from PIL import Image

    labels = {"video_a": [0, 1, 2, 7, 3, -1], "video_b": [4, 5, 6, 0, 1, 2]}
    for video, values in labels.items():
        frames = root / "cropped_aligned" / video
        frames.mkdir(parents=True)
        for k, _ in enumerate(values):
            Image.open(crops[k % len(crops)]).save(frames / f"{k + 1:05d}.jpg")
        annotations = root / "Annotations" / "EXPR_Classification_Challenge" / "Train_Set"
        annotations.mkdir(parents=True, exist_ok=True)
        (annotations / f"{video}.txt").write_text("\n".join([AFFWILD2_HEADER, *map(str, values)]) + "\n")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The whole chain, once for the slow tests of this module."""
    root = tmp_path_factory.mktemp("mario_flow")
    build_demo(root / "data")
    meld = root / "data" / "meld"
    with open(meld / "dev_sent_emo.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    models = load_benchmark("mario_throughput").build_tiny_models(root / "models", [r["Utterance"] for r in rows] * 5)
    tiny = load_benchmark("mario_throughput")
    config = {
        "meld_root": str(meld), "annotations": str(meld), "splits": ["dev"],
        "face_library": str(root / "data" / "face_library"), "results": str(root / "results"),
        "stage_two": {
            **models, "affwild2": str(root / "affwild2"), "device": "cpu",
            "train_split": "dev", "dev_split": "dev", "eval_splits": ["dev"],
            "max_lengths": {"vision": MAX_FACES},  # the demo's ~60 faces per clip, cut for CPU time
            "training": {"num_epochs": EPOCHS, "trg_lr": 2e-3, "aux_lr": 1e-3, "trg_accumulation_steps": 1,
                         "aux_batch_size": 4},
            "model": tiny.TINY_MODEL, "swin": tiny.TINY_SWIN,
        },
    }
    # Aff-Wild2 stand-in: face crops of the demo are not there before Stage One, so use library images
    library_images = sorted((root / "data" / "face_library").rglob("*.jpg"))[:4]
    make_affwild2(root / "affwild2", library_images)
    config_file = root / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    result = run_snakemake("--cores", "2", "--configfile", str(config_file), "--", "mario")
    report = root / "report.html"
    run_snakemake("--report", str(report), "--configfile", str(config_file), "--", "mario")
    return {"results": root / "results", "rows": rows, "report": report, "log": result.stderr}


@pytest.mark.slow
def test_facialmmt_data_files(run):
    data = run["results"] / "facialmmt" / "preprocess_data"
    lengths = json.loads((run["results"] / "facialmmt" / "max_lengths.json").read_text())
    l_v, l_a = lengths["vision"]["length"], lengths["audio"]["length"]
    with open(data / "T+A+V" / "meld_val_vision_utt.pkl", "rb") as f:
        vision = pickle.load(f)["val"]
    with open(data / "T+A+V" / "meld_val_audio_utt.pkl", "rb") as f:
        audio = pickle.load(f)["val"]
    profile = json.loads((data / "T+A+V" / "val_utt_profile.json").read_text())
    sequences = json.loads((data / "T+A+V" / "val_facseqs_160_paths_final.json").read_text())
    stage_one = json.loads((run["results"] / "facseqs" / "val_facseqs_160_paths_final.json").read_text())
    n = len(run["rows"])
    assert vision["vision"].shape == (n, l_v, 512) and audio["audio"].shape == (n, l_a, 16)  # tiny wav2vec2
    assert vision["labels"].tolist() == [EMOTIONS.index(r["Emotion"]) for r in run["rows"]]
    for row, csv_row in enumerate(run["rows"]):
        name = profile[str(row)][0]
        assert name == f"dia{csv_row['Dialogue_ID']}_utt{csv_row['Utterance_ID']}"
        # the images FacialMMT loads are the first L_v crops of Stage One's sequence, one per vision row
        assert sequences[name] == stage_one[name][:l_v]
        assert vision["vision_utt_mask"][row].sum() == len(sequences[name])
    faces = [len(s) for s in stage_one.values() if s]
    # a fixed L_v: only the crops the files keep are embedded
    assert l_v == MAX_FACES and lengths["vision"]["override"] and lengths["vision"]["max"] == min(max(faces), l_v)
    assert not lengths["audio"]["override"] and lengths["audio"]["length"] <= lengths["audio"]["max"]
    assert (data / "V" / "meld_val_vision_utt.pkl").is_file() and (data / "T+A+V" / "val_text.json").is_file()
    no_audio = [r for r, c in enumerate(run["rows"]) if "microphone is off" in c["Utterance"]]
    assert no_audio and audio["audio_utt_mask"][no_audio[0]].sum() == 0


@pytest.mark.slow
def test_training_alternates_tasks_and_the_loss_falls(run):
    mario = run["results"] / "mario"
    metrics = read_tsv(mario / "metrics.tsv")
    assert [int(r["epoch"]) for r in metrics] == list(range(1, EPOCHS + 1))
    assert all(r["tasks"] == "DFER + MERMC" for r in metrics)
    steps = read_tsv(mario / "steps.tsv")
    dfer = [r for r in steps if r["task"] == "DFER"]
    mermc = [r for r in steps if r["task"] == "MERMC"]
    n = len(run["rows"])
    assert len(mermc) == EPOCHS * n and len(dfer) == EPOCHS * 3  # 10 annotated non-Other frames / 4 per batch
    # per epoch: the DFER batches come first, then the MERMC ones (paper App. A.2)
    for epoch in range(1, EPOCHS + 1):
        tasks = [r["task"] for r in steps if int(r["epoch"]) == epoch]
        assert tasks == ["DFER"] * 3 + ["MERMC"] * n
    losses = np.array([float(r["loss"]) for r in mermc]).reshape(EPOCHS, n).mean(axis=1)
    assert losses[-1] < 0.8 * losses[0], f"MERMC loss per epoch does not fall: {losses}"
    assert float(metrics[-1]["dev_loss"]) < float(metrics[0]["dev_loss"])
    assert [r["optimizer_step"] for r in mermc] == ["yes"] * len(mermc)  # accumulation 1
    import torch

    for name in ("best_swin.pt", "best_multimodal.pt", "last.pt"):
        assert torch.load(mario / "checkpoints" / name, weights_only=True)
    assert "DFER task on 10 Aff-Wild2 frames" in (run["results"] / "logs" / "train_mario" / "train.log").read_text()


@pytest.mark.slow
def test_evaluation_tables_plots_and_report(run):
    evaluation = run["results"] / "mario" / "evaluation"
    f1 = read_tsv(evaluation / "f1.tsv")
    assert [r["emotion"] for r in f1] == [*EMOTIONS, "weighted"]
    weighted = f1[-1]
    assert 0 <= float(weighted["f1"]) <= 1 and int(weighted["support"]) == len(run["rows"])
    predictions = read_tsv(evaluation / "predictions.tsv")
    assert [p["emotion"] for p in predictions] == [r["Emotion"] for r in run["rows"]]
    accuracy = np.mean([p["emotion"] == p["predicted"] for p in predictions])
    assert abs(accuracy - float(weighted["accuracy"])) < 1e-6
    for png in (evaluation / "confusion" / "val.png", evaluation / "learning_curve.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = run["report"].read_text(errors="replace")
    for name in ("learning_curve.png", "val.png", "f1.tsv", "metrics.tsv", "max_lengths.json"):
        assert name in html, name


# ------------------------------------------------------------------------------ dry runs: config checks
@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("mario_dry")
    (root / "dev_sent_emo.csv").write_text(
        "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"
        '1,Hi.,Joey,neutral,neutral,0,0,1,1,"00:00:01,000","00:00:02,000"\n')
    (root / "library" / "Joey").mkdir(parents=True)
    from PIL import Image

    Image.new("RGB", (160, 160)).save(root / "library" / "Joey" / "joey.jpg")
    (root / "model.pt").write_bytes(b"")
    (root / "roberta-large").mkdir()
    return root


def dry_run(root, stage_two: dict, *targets: str):
    config = {"meld_root": str(root), "annotations": str(root), "splits": ["dev"],
              "face_library": str(root / "library"), "results": str(root / "results"), "stage_two": stage_two}
    config_file = root / "dry.yaml"
    config_file.write_text(yaml.safe_dump(config))
    result = run_snakemake("-n", "--quiet", "rules", "--configfile", str(config_file), "--", *targets, check=False)
    return result.returncode, result.stdout + result.stderr


def test_stage_two_is_opt_in(tiny_dataset):
    paths = {"vision_weights": str(tiny_dataset / "model.pt"), "audio_model": str(tiny_dataset),
             "text_model": str(tiny_dataset / "roberta-large"), "train_split": "dev", "eval_splits": ["dev"]}
    rc, output = dry_run(tiny_dataset, {})
    assert rc == 0 and "collect_split" in output and "train_mario" not in output, output[-3000:]
    rc, output = dry_run(tiny_dataset, {**paths, "enabled": True})
    assert rc == 0, output[-3000:]
    for rule in ("vision_features", "audio_features", "facialmmt_lengths", "facialmmt_data", "train_mario",
                 "evaluate_mario"):
        assert rule in output, rule


@pytest.mark.parametrize("stage_two, message", [
    ({"text_model": None}, "Stage Two needs stage_two.text_model"),
    ({"vision_weights": "/nonexistent/casia.pt"}, "stage_two.vision_weights: /nonexistent/casia.pt not found"),
    ({"eval_splits": ["test"]}, "stage_two.eval_splits: test is not among splits ['dev']"),
    ({"training": {"trg_lr": -1}}, "trg_lr"),
])
def test_stage_two_config_errors_name_the_key(tiny_dataset, stage_two, message):
    paths = {"vision_weights": str(tiny_dataset / "model.pt"), "audio_model": str(tiny_dataset),
             "text_model": str(tiny_dataset / "roberta-large"), "train_split": "dev", "dev_split": "dev",
             "eval_splits": ["dev"]}
    rc, output = dry_run(tiny_dataset, {**paths, **stage_two}, "mario")
    assert rc != 0 and message in output, output[-3000:]
