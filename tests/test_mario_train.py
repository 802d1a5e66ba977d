"""MARIO's training/evaluation plumbing (facseq.mario.{data,train,evaluate}) on small synthetic data:
Aff-Wild2 reading, F1 scores, config checks, and a MERMC-only run (no Aff-Wild2) that says so."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import load_benchmark

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from facseq.mario import data, evaluate, train  # noqa: E402

tiny = load_benchmark("mario_throughput")


def test_affwild2_samples_map_labels_and_skip_other(tmp_path):
    frames = tmp_path / "cropped_aligned" / "v1"
    frames.mkdir(parents=True)
    for k in (1, 2, 3, 4, 5):  # frame 6 has a label but no aligned face image
        (frames / f"{k:05d}.jpg").write_bytes(b"")
    labels = tmp_path / "Annotations" / "EXPR_Classification_Challenge" / "Train_Set"
    labels.mkdir(parents=True)
    (labels / "v1.txt").write_text("Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other\n1\n7\n-1\n4\n6\n2\n")
    samples = data.affwild2_samples(tmp_path)
    # Anger -> anger 6, Other and -1 dropped, Happiness -> joy 4, Surprise -> surprise 1, frame 6 has no image
    assert [(p.name, label) for p, label in samples] == [("00001.jpg", 6), ("00004.jpg", 4), ("00005.jpg", 1)]
    with pytest.raises(data.MarioDataError, match="stage_two.affwild2"):
        data.affwild2_samples(tmp_path / "absent")


def test_scores_weighted_and_per_class_f1():
    truths = [0, 0, 0, 1, 1, 6]
    preds = [0, 0, 1, 1, 1, 0]
    result = evaluate.scores(truths, preds)
    # neutral: P 2/3 R 2/3 -> 2/3; surprise: P 2/3 R 1 -> 0.8; anger: 0; weighted by support 3, 2, 1
    assert result["per_class_f1"]["neutral"] == pytest.approx(2 / 3)
    assert result["per_class_f1"]["surprise"] == pytest.approx(0.8)
    assert result["weighted_f1"] == pytest.approx((3 * 2 / 3 + 2 * 0.8) / 6)
    assert result["accuracy"] == pytest.approx(4 / 6)
    assert result["support"]["fear"] == 0 and result["per_class_f1"]["fear"] == 0


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    work = tmp_path_factory.mktemp("mario_train")
    lengths = {"vision": {"length": 5}, "audio": {"length": 12}}
    tiny.synthetic_split(work, "train", 8, lengths, 24, 16, work / "faces")
    text = tiny.build_text_model(work / "models", [" ".join(tiny.WORDS)] * 4)
    settings = train.RunSettings(data_root=str(work / "preprocess_data"), train_name="train", dev_name="train",
                                 text_model=str(text), model=tiny.TINY_MODEL, swin=tiny.TINY_SWIN, device="cpu",
                                 training={"num_epochs": 2, "trg_accumulation_steps": 3})
    return work, settings


def test_config_errors_name_the_key(synthetic):
    from types import SimpleNamespace

    _, settings = synthetic
    shapes = SimpleNamespace(vision=torch.zeros(3, 5, 24), audio=torch.zeros(3, 12, 16))
    args = train.mario_args(settings, shapes)  # sizes come from the data files
    assert (args.get_vision_utt_max_lens, args.vision_featExtr_dim, args.get_audio_utt_max_lens) == (5, 24, 12)
    assert args.trg_accumulation_steps == 3 and args.trg_lr == 7e-6  # config on top of the reference defaults
    for section, values, message in (("model", {"hidden_sise": 8}, r"unknown key\(s\) \['hidden_sise'\]"),
                                     ("model", {"get_vision_utt_max_lens": 8}, "unknown key"),
                                     ("training", {"epochs": 8}, "unknown key")):
        bad = train.RunSettings(**{**settings.__dict__, section: values})
        with pytest.raises(train.MarioConfigError, match=rf"stage_two.{section}: {message}"):
            train.mario_args(bad, shapes)
    with pytest.raises(train.MarioConfigError, match="stage_two.swin"):
        train.swin_config(train.RunSettings(**{**settings.__dict__, "swin": {"embed_dims": 8}}))
    with pytest.raises(train.MarioConfigError, match="stage_two.init_multimodal: .*absent.pt not found"):
        train.load_weights(torch.nn.Linear(2, 2), "/nonexistent/absent.pt", "init_multimodal")
    checkpoint = synthetic[0] / "linear.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), checkpoint)
    with pytest.raises(train.MarioConfigError, match=r"stage_two.init_swin: .*linear.pt: does not fit Linear\n  wrong shape \(2\)"):
        train.load_weights(torch.nn.Linear(3, 3), checkpoint, "init_swin")
    with pytest.raises(train.MarioConfigError, match=r"missing \(2\): 0.bias, 0.weight"):
        train.load_weights(torch.nn.Sequential(torch.nn.Linear(2, 2)), checkpoint, "init_swin")


def test_mermc_only_run_says_so_and_evaluates(synthetic):
    work, settings = synthetic
    out = work / "out"
    run = train.train_mario(settings, out)
    metrics = (out / "metrics.tsv").read_text()
    assert run["tasks"] == train.MERMC_ONLY and metrics.count(train.MERMC_ONLY) == 2
    steps = [line.split("\t") for line in (out / "steps.tsv").read_text().splitlines()[1:]]
    assert {s[2] for s in steps} == {"MERMC"} and len(steps) == 16
    # accumulation 3 over 8 batches: steps after batches 3 and 6; the last two gradients are dropped
    assert [s[5] for s in steps[:8]] == ["no", "no", "yes", "no", "no", "yes", "no", "no"]
    assert run["optimizer_steps"] == 4
    saved = json.loads((out / "run.json").read_text())
    assert saved["args"]["get_vision_utt_max_lens"] == 5 and saved["args"]["audio_featExtr_dim"] == 16
    table = evaluate.evaluate_mario(out / "run.json", out / "checkpoints" / "best_swin.pt",
                                    out / "checkpoints" / "best_multimodal.pt", settings.data_root, ["train"],
                                    out / "evaluation", device="cpu")
    assert table[-1]["emotion"] == "weighted" and table[-1]["support"] == 8
    assert (out / "evaluation" / "confusion" / "train.png").is_file()
    # the kept checkpoint rebuilds the model the dev pass scored: same seed, same predictions
    again = evaluate.evaluate_mario(out / "run.json", out / "checkpoints" / "best_swin.pt",
                                    out / "checkpoints" / "best_multimodal.pt", settings.data_root, ["train"],
                                    out / "evaluation2", device="cpu")
    assert np.isclose(again[-1]["f1"], table[-1]["f1"]) and np.isclose(again[-1]["loss"], table[-1]["loss"])


def test_zero_epochs_keep_the_given_checkpoints(synthetic):
    """num_epochs 0 (evaluating given checkpoints, e.g. FacialMMT's released ones): nothing is trained, the
    initial weights become the kept checkpoints and score as they did."""
    work, settings = synthetic
    trained = work / "out" / "checkpoints"
    if not (trained / "best_multimodal.pt").is_file():
        pytest.skip("needs the MERMC-only run of the previous test")
    given = train.RunSettings(**{**settings.__dict__, "training": {"num_epochs": 0},
                                 "init_swin": str(trained / "best_swin.pt"),
                                 "init_multimodal": str(trained / "best_multimodal.pt")})
    out = work / "zero"
    run = train.train_mario(given, out)
    assert run["optimizer_steps"] == 0 and (out / "metrics.tsv").read_text().count("\n") == 1  # header only
    for name in ("best_swin.pt", "best_multimodal.pt"):
        kept, source = (torch.load(d / name, weights_only=True) for d in (out / "checkpoints", trained))
        assert kept.keys() == source.keys() and all(torch.equal(kept[k], source[k]) for k in kept)


def test_batches_larger_than_one(synthetic):
    """trg_batch_size > 1 (a larger GPU): utterances with different face counts share a batch; the gate
    re-packs each on its own faces (facseq.mario.steps), the dev pass scores every utterance once."""
    work, settings = synthetic
    batched = train.RunSettings(**{**settings.__dict__, "training": {"num_epochs": 1, "trg_batch_size": 3,
                                                                     "trg_accumulation_steps": 1}})
    run = train.train_mario(batched, work / "batched")
    steps = (work / "batched" / "steps.tsv").read_text().splitlines()[1:]
    assert len(steps) == 3 and run["optimizer_steps"] == 3  # 8 utterances: batches of 3, 3, 2
    metrics = (work / "batched" / "metrics.tsv").read_text().splitlines()
    assert len(metrics) == 2 and metrics[1].split("\t")[8] != ""  # the dev loss over all 8 utterances
