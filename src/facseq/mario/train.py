"""MARIO's training loop (rules/mario.smk: train_mario), on FacialMMT's data files written by Stage Two.

    settings = RunSettings(data_root=".../facialmmt/preprocess_data", train_name="train", dev_name="val",
                           text_model=".../roberta-large", affwild2=None, training={"num_epochs": 5})
    result = train_mario(settings, out_dir)      # checkpoints/, run.json, metrics.tsv, steps.tsv

Paper App. A.2: every epoch runs one DFER pass over Aff-Wild2 (Swin only, `steps.dfer_train_step`) and then
one MERMC pass over the training split (`steps.mermc_train_step`: Swin distributions -> clarity gate ->
multimodal model; only the multimodal model is stepped). Without Aff-Wild2 the run is MERMC-only, which the
log and every metrics row say. After each epoch the dev split is scored (`evaluate.predict`); the epoch
with the best weighted F1 is kept as `best_swin.pt` / `best_multimodal.pt` (state dicts).

The reference's choices, kept: transformers-4.24 AdamW (`optim.AdamW424`, eps 1e-6), lr 5e-5 (DFER, no
weight decay: the reference passes none) and 7e-6 (MERMC, weight decay 0.01), linear warm-up over 10 % of
the optimiser steps (the first step has lr 0), gradient clip 0.8, MERMC accumulation 4, batch 1. Gradients
accumulated at the end of an epoch that do not fill an accumulation group are dropped, as the reference's
zero_grad at the start of the next pass does. Where the reference is wrong the steps do it right (see
`facseq.mario.steps`): re-packing for batch > 1 per utterance, and under mixed precision (GPU, fp16
autocast + GradScaler) the gradients are unscaled before clipping.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from facseq.mario.checkpoints import CheckpointMismatch, load_checkpoint
from facseq.mario.config import MarioArgs, SwinConfig
from facseq.mario.data import DferDataset, MermcDataset, affwild2_samples, collate_utterances
from facseq.mario.dfer_head import SwinForAffwildClassification
from facseq.mario.evaluate import predict, scores
from facseq.mario.multimodal import MultiModalTransformerForClassification
from facseq.mario.optim import AdamW424, linear_warmup_schedule
from facseq.mario.steps import dfer_train_step, mermc_train_step
from facseq.mario.text import load_tokenizer
from facseq.tables import write_tsv

log = logging.getLogger("facseq")

# config `stage_two.training` keys (main.py names) and their defaults: the reference's
TRAINING_KEYS = ("num_epochs", "aux_lr", "trg_lr", "weight_decay", "warm_up", "clip", "trg_batch_size",
                 "trg_accumulation_steps", "aux_batch_size", "aux_accumulation_steps", "seed")
# sizes taken from the data files, never from the config
DATA_SIZES = ("get_audio_utt_max_lens", "get_vision_utt_max_lens", "audio_featExtr_dim", "vision_featExtr_dim")
METRIC_COLUMNS = ["epoch", "tasks", "dfer_loss", "dfer_steps", "mermc_loss", "mermc_steps", "aux_lr", "trg_lr",
                  "dev_loss", "dev_weighted_f1", "dev_accuracy", "best", "seconds"]
STEP_COLUMNS = ["step", "epoch", "task", "batch", "loss", "optimizer_step", "grad_norm", "lr"]
MERMC_ONLY = "MERMC only (no Aff-Wild2: stage_two.affwild2 not set)"


class MarioConfigError(ValueError):
    """A Stage-Two setting that cannot be used; the message names the config key."""


@dataclass
class RunSettings:
    """What train_mario needs; mirrors the `stage_two` config section (paths, model and training keys)."""

    data_root: str
    train_name: str
    dev_name: str
    text_model: str
    swin_weights: str | None = None  # Swin initialisation (FacialMMT's Swin_tiny_Ms-Celeb-1M.pt)
    init_swin: str | None = None  # a trained DFER branch (state dict or FacialMMT checkpoint)
    init_multimodal: str | None = None  # a trained multimodal model
    affwild2: str | None = None
    model: dict = field(default_factory=dict)  # MarioArgs names
    swin: dict = field(default_factory=dict)  # SwinConfig names
    training: dict = field(default_factory=dict)  # TRAINING_KEYS
    device: str = "auto"
    amp: bool = True
    loader_workers: int = 0

    @classmethod
    def from_config(cls, stage_two: dict, data_root: str, train_name: str, dev_name: str, **extra) -> "RunSettings":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(data_root=data_root, train_name=train_name, dev_name=dev_name,
                   **{k: v for k, v in stage_two.items() if k in names}, **extra)


def mario_args(settings: RunSettings, dataset: MermcDataset) -> MarioArgs:
    """main.py's namespace: the reference defaults, `stage_two.model` and `stage_two.training` on top, the
    padded lengths and feature widths from the data files."""
    known = {f.name for f in dataclasses.fields(MarioArgs)} - {"extra"}
    for section, keys in (("model", known - set(TRAINING_KEYS) - set(DATA_SIZES)), ("training", TRAINING_KEYS)):
        unknown = sorted(set(getattr(settings, section)) - set(keys))
        if unknown:
            raise MarioConfigError(f"stage_two.{section}: unknown key(s) {unknown} (allowed: {sorted(keys)})")
    args = MarioArgs.from_mapping({**settings.model, **settings.training})
    args.get_vision_utt_max_lens, args.vision_featExtr_dim = dataset.vision.shape[1:]
    args.get_audio_utt_max_lens, args.audio_featExtr_dim = dataset.audio.shape[1:]
    args.pretrainedtextmodel_path = settings.text_model
    return args


def swin_config(settings: RunSettings) -> SwinConfig:
    try:
        return SwinConfig.from_mapping(settings.swin)
    except (TypeError, ValueError) as err:
        raise MarioConfigError(f"stage_two.swin: {err}") from err


def load_weights(module: nn.Module, path: str | Path, key: str, msceleb_backbone: bool = False) -> None:
    """A checkpoint (ours, a plain state dict or FacialMMT's released pickled module) into `module`, strictly;
    `msceleb_backbone`: FacialMMT's Swin_tiny_Ms-Celeb-1M.pt into the backbone only (`facseq.mario.checkpoints`).
    A missing file or a mismatch is an error naming the config key."""
    if not Path(path).is_file():
        raise MarioConfigError(f"stage_two.{key}: {path} not found")
    try:
        load_checkpoint(module, path, msceleb_backbone=msceleb_backbone)
    except CheckpointMismatch as err:
        raise MarioConfigError(f"stage_two.{key}: {err}\n(check stage_two.model / stage_two.swin sizes)") from err


def build_models(args: MarioArgs, swin_cfg: SwinConfig, settings: RunSettings) -> tuple[nn.Module, nn.Module]:
    swin = SwinForAffwildClassification(args, swin_cfg)
    if settings.init_swin:
        load_weights(swin, settings.init_swin, "init_swin")
    elif settings.swin_weights:
        load_weights(swin, settings.swin_weights, "swin_weights", msceleb_backbone=True)
    else:
        log.warning("Swin randomly initialised (stage_two.swin_weights not set; the paper starts from "
                    "Swin_tiny_Ms-Celeb-1M.pt)")
    model = MultiModalTransformerForClassification(args)
    if settings.init_multimodal:
        load_weights(model, settings.init_multimodal, "init_multimodal")
    return swin, model


def pick_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def optimiser_and_schedule(parameters, lr: float, weight_decay: float, batches_per_epoch: int, args: MarioArgs,
                           accumulation: int):
    """AdamW424 and the linear warm-up over the run's optimiser steps, as the reference sizes them."""
    total = batches_per_epoch * args.num_epochs / accumulation
    optimizer = AdamW424(parameters, lr=lr, weight_decay=weight_decay)
    return optimizer, linear_warmup_schedule(optimizer, int(total * args.warm_up), total)


def train_mario(settings: RunSettings, out_dir: str | Path) -> dict:
    """Train, write `checkpoints/{best_swin,best_multimodal,last}.pt`, `metrics.tsv` (per epoch),
    `steps.tsv` (per batch) and `run.json` (everything evaluate_mario needs to rebuild the models)."""
    out_dir = Path(out_dir)
    (out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    device = pick_device(settings.device)
    tokenizer = load_tokenizer(settings.text_model)
    train_set = MermcDataset(settings.data_root, settings.train_name, tokenizer, train=True)
    dev_set = MermcDataset(settings.data_root, settings.dev_name, tokenizer, train=False)
    args = mario_args(settings, train_set)
    swin_cfg = swin_config(settings)
    generator = seed_everything(args.seed)
    swin, model = build_models(args, swin_cfg, settings)
    swin.to(device)
    model.to(device)
    amp = settings.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda") if amp else None
    autocast_dtype = torch.float16 if amp else None
    criterion = nn.CrossEntropyLoss()

    workers = settings.loader_workers if device.type == "cuda" else 0  # on CPU, loader processes only compete
    train_loader = DataLoader(train_set, batch_size=args.trg_batch_size, shuffle=True, generator=generator,
                              collate_fn=collate_utterances, num_workers=workers)
    dfer_loader = None
    if settings.affwild2:
        dfer_set = DferDataset(affwild2_samples(settings.affwild2), train=True)
        dfer_loader = DataLoader(dfer_set, batch_size=args.aux_batch_size, shuffle=True, generator=generator,
                                 num_workers=workers)
        tasks = "DFER + MERMC"
        log.info("DFER task on %d Aff-Wild2 frames (%s)", len(dfer_set), settings.affwild2)
    else:
        tasks = MERMC_ONLY
        log.warning("training runs %s", MERMC_ONLY)
    optimizer, scheduler = optimiser_and_schedule(model.parameters(), args.trg_lr, args.weight_decay,
                                                  len(train_loader), args, args.trg_accumulation_steps)
    if dfer_loader is not None:  # the reference's DFER optimiser: AdamW without weight decay
        dfer_optimizer, dfer_scheduler = optimiser_and_schedule(swin.parameters(), args.aux_lr, 0.0, len(dfer_loader),
                                                                args, args.aux_accumulation_steps)
    log.info("training on %s (%d utterances), picking the epoch on %s (%d); device %s, mixed precision %s; "
             "L_v %d, L_a %d", settings.train_name, len(train_set), settings.dev_name, len(dev_set), device, amp,
             args.get_vision_utt_max_lens, args.get_audio_utt_max_lens)

    step_rows, metric_rows, best_f1, step = [], [], -1.0, 0
    for epoch in range(1, args.num_epochs + 1):
        start = time.perf_counter()
        dfer_losses, mermc_losses, dfer_steps, mermc_steps = [], [], 0, 0
        if dfer_loader is not None:
            dfer_optimizer.zero_grad()
            for i, (images, labels) in enumerate(dfer_loader):
                result = dfer_train_step(swin, images.to(device), labels.to(device), criterion, dfer_optimizer,
                                         dfer_scheduler, clip=args.clip, accumulation_steps=args.aux_accumulation_steps,
                                         batch_index=i, scaler=scaler, autocast_dtype=autocast_dtype)
                step += 1
                dfer_losses.append(result.loss)
                dfer_steps += result.stepped
                step_rows.append(_step_row(step, epoch, "DFER", i, result, dfer_scheduler))
        optimizer.zero_grad()
        for i, batch in enumerate(train_loader):
            result = mermc_train_step(swin, model, batch.to(device), criterion, optimizer, scheduler,
                                      threshold=args.FacialEmoImpor_threshold, clip=args.clip,
                                      accumulation_steps=args.trg_accumulation_steps, batch_index=i, scaler=scaler,
                                      autocast_dtype=autocast_dtype)
            step += 1
            mermc_losses.append(result.loss)
            mermc_steps += result.stepped
            step_rows.append(_step_row(step, epoch, "MERMC", i, result, scheduler))
        optimizer.zero_grad()  # an unfinished accumulation group is dropped, as in the reference
        dev_loss, dev_logits, dev_truths = predict(swin, model, dev_set, device, args, workers)
        dev_scores = scores(dev_truths, dev_logits.argmax(1))
        best = dev_scores["weighted_f1"] > best_f1
        if best:
            best_f1 = dev_scores["weighted_f1"]
            torch.save(swin.state_dict(), out_dir / "checkpoints" / "best_swin.pt")
            torch.save(model.state_dict(), out_dir / "checkpoints" / "best_multimodal.pt")
        metric_rows.append({
            "epoch": epoch, "tasks": tasks, "dfer_loss": _mean(dfer_losses), "dfer_steps": dfer_steps,
            "mermc_loss": _mean(mermc_losses), "mermc_steps": mermc_steps,
            "aux_lr": dfer_scheduler.get_last_lr()[0] if dfer_loader is not None else None,
            "trg_lr": scheduler.get_last_lr()[0], "dev_loss": dev_loss, "dev_weighted_f1": dev_scores["weighted_f1"],
            "dev_accuracy": dev_scores["accuracy"], "best": best, "seconds": time.perf_counter() - start,
        })
        log.info("epoch %d (%s): MERMC loss %.4f, dev loss %.4f, dev weighted F1 %.4f%s", epoch, tasks,
                 metric_rows[-1]["mermc_loss"], dev_loss, dev_scores["weighted_f1"], " (best)" if best else "")
        write_tsv(out_dir / "metrics.tsv", metric_rows, METRIC_COLUMNS)
        write_tsv(out_dir / "steps.tsv", step_rows, STEP_COLUMNS)
    if not metric_rows:  # num_epochs 0: the given checkpoints are evaluated as they are
        log.warning("num_epochs is 0: no training; the initial models are the kept checkpoints")
        torch.save(swin.state_dict(), out_dir / "checkpoints" / "best_swin.pt")
        torch.save(model.state_dict(), out_dir / "checkpoints" / "best_multimodal.pt")
        write_tsv(out_dir / "metrics.tsv", [], METRIC_COLUMNS)
        write_tsv(out_dir / "steps.tsv", [], STEP_COLUMNS)
    torch.save({"epoch": args.num_epochs, "swin": swin.state_dict(), "multimodal": model.state_dict(),
                "optimizer": optimizer.state_dict()}, out_dir / "checkpoints" / "last.pt")
    run = {"settings": dataclasses.asdict(settings), "args": _jsonable(dataclasses.asdict(args)),
           "swin": dataclasses.asdict(swin_cfg), "tasks": tasks, "best_dev_weighted_f1": best_f1,
           "optimizer_steps": sum(r["mermc_steps"] for r in metric_rows), "device": str(device), "amp": amp}
    (out_dir / "run.json").write_text(json.dumps(run, indent=1) + "\n")
    return run


def _step_row(step: int, epoch: int, task: str, batch: int, result, scheduler) -> dict:
    return {"step": step, "epoch": epoch, "task": task, "batch": batch, "loss": result.loss,
            "optimizer_step": result.stepped, "grad_norm": result.grad_norm, "lr": scheduler.get_last_lr()[0]}


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _jsonable(values: dict) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items()
            if not (isinstance(v, float) and math.isnan(v))}
