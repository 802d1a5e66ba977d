"""MARIO's evaluation (rules/mario.smk: evaluate_mario): weighted and per-class F1 per split, predictions,
confusion matrices and the learning curve.

    evaluate_mario(run_json, best_swin, best_multimodal, data_root, ["val", "test"], out_dir)
    # out_dir/f1.tsv, predictions.tsv, confusion/{name}.png, learning_curve.png (from metrics/steps TSVs)

Scores use scikit-learn (`f1_score(average="weighted")` is the paper's W-F1). The clarity gate draws fresh
Gumbel noise in evaluation too, as the reference does, so two evaluations of one model can differ slightly;
`predict` seeds torch first (`seed`) to make a rerun repeat its numbers.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from facseq.features import EMOTIONS
from facseq.tables import read_tsv, write_tsv

log = logging.getLogger("facseq")


def scores(truths, predictions) -> dict:
    """Weighted F1 (the paper's metric), accuracy, and per-class F1 / support over the 7 MELD emotions."""
    from sklearn.metrics import accuracy_score, f1_score

    truths, predictions = np.asarray(truths), np.asarray(predictions)
    labels = list(range(len(EMOTIONS)))
    per_class = f1_score(truths, predictions, labels=labels, average=None, zero_division=0)
    return {
        "weighted_f1": float(f1_score(truths, predictions, labels=labels, average="weighted", zero_division=0)),
        "accuracy": float(accuracy_score(truths, predictions)) if len(truths) else 0.0,
        "per_class_f1": {emotion: float(f) for emotion, f in zip(EMOTIONS, per_class)},
        "support": {emotion: int((truths == k).sum()) for k, emotion in enumerate(EMOTIONS)},
    }


def predict(swin: nn.Module, model: nn.Module, dataset, device, args, workers: int = 0,
            seed: int | None = None) -> tuple[float, torch.Tensor, torch.Tensor]:
    """(average loss, logits (n, 7), labels (n,)) over a MermcDataset in its row order, batch trg_batch_size;
    the average loss is the reference's sum(loss * batch size) / n."""
    from facseq.mario.data import collate_utterances
    from facseq.mario.steps import mermc_evaluate_batch

    if seed is not None:
        torch.manual_seed(seed)
    loader = DataLoader(dataset, batch_size=args.trg_batch_size, shuffle=False, collate_fn=collate_utterances,
                        num_workers=workers)
    criterion = nn.CrossEntropyLoss()
    total, logits, truths = 0.0, [], []
    for batch in loader:
        batch = batch.to(device)
        loss, batch_logits, _ = mermc_evaluate_batch(swin, model, batch, criterion,
                                                     threshold=args.FacialEmoImpor_threshold)
        total += loss * len(batch.label_ids)
        logits.append(batch_logits.float().cpu())
        truths.append(batch.label_ids.cpu())
    return total / max(1, len(dataset)), torch.cat(logits), torch.cat(truths)


def f1_rows(name: str, result: dict, n: int, loss: float) -> list[dict]:
    """One row per emotion plus the weighted total, for f1.tsv."""
    rows = [{"split": name, "emotion": e, "f1": result["per_class_f1"][e], "support": result["support"][e]}
            for e in EMOTIONS]
    rows.append({"split": name, "emotion": "weighted", "f1": result["weighted_f1"], "support": n,
                 "accuracy": result["accuracy"], "loss": loss})
    return rows


def plot_confusion(truths, predictions, title: str, path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

    matrix = confusion_matrix(truths, predictions, labels=list(range(len(EMOTIONS))))
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    ConfusionMatrixDisplay(matrix, display_labels=EMOTIONS).plot(ax=ax, colorbar=False, xticks_rotation=45)
    ax.set_title(title)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_learning_curve(metrics_tsv: str | Path, steps_tsv: str | Path, path: str | Path) -> None:
    """Training loss per batch (each task) with its running mean, and the dev loss / weighted F1 per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps, metrics = read_tsv(steps_tsv), read_tsv(metrics_tsv)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for task in ("MERMC", "DFER"):
        rows = [r for r in steps if r["task"] == task]
        if rows:
            x = [int(r["step"]) for r in rows]
            y = np.array([float(r["loss"]) for r in rows])
            window = max(1, len(y) // 10)  # trailing mean over the last `window` batches
            left.plot(x, y, ".", alpha=0.3, label=f"{task} loss per batch")
            left.plot(x[window - 1:], np.convolve(y, np.ones(window) / window, mode="valid"),
                      label=f"{task} mean of {window} batches")
    left.set_xlabel("batch")
    left.set_ylabel("cross-entropy")
    left.legend()
    epochs = [int(r["epoch"]) for r in metrics]
    right.plot(epochs, [float(r["mermc_loss"]) for r in metrics], "o-", label="MERMC train loss")
    right.plot(epochs, [float(r["dev_loss"]) for r in metrics], "o-", label="dev loss")
    right.set_xlabel("epoch")
    right.set_ylabel("cross-entropy")
    twin = right.twinx()
    twin.plot(epochs, [float(r["dev_weighted_f1"]) for r in metrics], "s--", color="green", label="dev weighted F1")
    twin.set_ylabel("weighted F1")
    right.legend(loc="upper left")
    twin.legend(loc="upper right")
    tasks = metrics[0]["tasks"] if metrics else ""
    fig.suptitle(f"MARIO training ({tasks})")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def evaluate_mario(run_json: str | Path, best_swin: str | Path, best_multimodal: str | Path, data_root: str,
                   names: list[str], out_dir: str | Path, device: str = "auto", metrics_tsv: str | Path | None = None,
                   steps_tsv: str | Path | None = None) -> list[dict]:
    """Score the kept checkpoints on each split: f1.tsv, predictions.tsv, confusion/{name}.png and, given
    the training tables, learning_curve.png."""
    from facseq.mario import train
    from facseq.mario.config import MarioArgs, SwinConfig
    from facseq.mario.data import MermcDataset
    from facseq.mario.text import load_tokenizer

    run = json.loads(Path(run_json).read_text())
    args = MarioArgs.from_mapping(run["args"])
    settings = train.RunSettings(**{**run["settings"], "init_swin": str(best_swin),
                                    "init_multimodal": str(best_multimodal)})
    swin, model = train.build_models(args, SwinConfig.from_mapping(run["swin"]), settings)
    device = train.pick_device(device)
    swin.to(device)
    model.to(device)
    tokenizer = load_tokenizer(settings.text_model)
    out_dir = Path(out_dir)
    f1_table, predictions = [], []
    for name in names:
        dataset = MermcDataset(data_root, name, tokenizer, train=False)
        loss, logits, truths = predict(swin, model, dataset, device, args, seed=args.seed)
        predicted = logits.argmax(1)
        result = scores(truths, predicted)
        log.info("%s: weighted F1 %.4f, accuracy %.4f (%d utterances)", name, result["weighted_f1"],
                 result["accuracy"], len(dataset))
        f1_table += f1_rows(name, result, len(dataset), loss)
        probabilities = logits.softmax(1)
        for utt, truth, guess, p in zip(dataset.names, truths.tolist(), predicted.tolist(), probabilities):
            predictions.append({"split": name, "utterance": utt, "emotion": EMOTIONS[truth],
                                "predicted": EMOTIONS[guess], "probability": float(p[guess])})
        plot_confusion(truths, predicted, f"MARIO on {name}: weighted F1 {result['weighted_f1']:.3f}",
                       out_dir / "confusion" / f"{name}.png")
    write_tsv(out_dir / "f1.tsv", f1_table, ["split", "emotion", "f1", "support", "accuracy", "loss"])
    write_tsv(out_dir / "predictions.tsv", predictions, ["split", "utterance", "emotion", "predicted", "probability"])
    if metrics_tsv and steps_tsv:
        plot_learning_curve(metrics_tsv, steps_tsv, out_dir / "learning_curve.png")
    return f1_table
