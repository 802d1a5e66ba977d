"""One training/evaluation step of FacialMMT's loops (train.py: aux_train, multimodal_train,
multimodal_evaluate) as plain functions; the epoch loop, data loading and logging are the caller's.

    optimizer.zero_grad()                       # once before the epoch, as the reference does
    for i, (images, labels) in enumerate(affwild_batches):
        r = dfer_train_step(swin, images, labels, criterion, swin_opt, swin_sched, clip=0.8, batch_index=i)
    for i, batch in enumerate(meld_batches):    # batch: MermcBatch (MermcBatch.from_reference(tuple))
        r = mermc_train_step(swin, model, batch, criterion, opt, sched, threshold=0.2, clip=0.8,
                             accumulation_steps=4, batch_index=i)
    loss, logits, gate = mermc_evaluate_batch(swin, model, batch, criterion, threshold=0.2)

Every step reproduces the reference at batch size 1 in float32 (checked by `facseq.mario.parity`). Where
the reference is wrong we do it right and say so:
* batch > 1 re-packing: `packing="per_utterance"` (default) gates each utterance on its own faces; the
  reference's `margin` arithmetic is available as `packing="reference"` (see `clarity_gate`).
* mixed precision: pass a `torch.amp.GradScaler` as `scaler`; gradients are UNSCALED before clipping (the
  reference, under LightningLite precision=16, clips the scaled gradients, i.e. at ~0.8 / 65536).
* the multimodal loss does not back-propagate into the Swin: the reference computes those gradients and
  throws them away (the next aux_train zeroes them), so the Swin runs under no_grad here (same numbers,
  less memory). Its train-mode BatchNorm statistics are still updated, as in the reference.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, fields
from typing import Callable

import torch
from torch import nn

from .clarity_gate import GateResult, clarity_gate


@dataclass
class MermcBatch:
    """One collated MELD batch, fields in the order of the reference dataset's __getitem__."""

    text_input_ids: torch.Tensor  # (B, 512) the utterance's whole dialogue
    text_input_mask: torch.Tensor  # (B, 512)
    text_sep_mask: torch.Tensor  # (B, 512)
    audio_inputs: torch.Tensor  # (B, La, Da)
    audio_mask: torch.Tensor  # (B, La)
    vision_inputs: torch.Tensor  # (B, Lv, Dv) face features
    vision_mask: torch.Tensor  # (B, Lv)
    label_ids: torch.Tensor  # (B,)
    face_images: torch.Tensor  # (B, Lv, 3, 224, 224) face crops, zero-padded
    vis_num_imgs: torch.Tensor  # (B,) faces per utterance
    utt_in_dia_idx: torch.Tensor  # (B,) position of the utterance in its dialogue

    @classmethod
    def from_reference(cls, batch) -> "MermcBatch":
        return cls(*batch)

    def to(self, device) -> "MermcBatch":
        return MermcBatch(*(torch.as_tensor(getattr(self, f.name)).to(device) for f in fields(self)))


@dataclass
class StepResult:
    loss: float  # the batch's loss (before division by accumulation_steps)
    stepped: bool  # the optimizer stepped after this batch
    grad_norm: float | None  # total gradient norm before clipping, when stepped
    logits: torch.Tensor | None = None
    gate: GateResult | None = None


def gather_faces(face_images: torch.Tensor, vis_num_imgs) -> torch.Tensor:
    """(B, Lv, 3, S, S) zero-padded crops -> (n, 3, S, S), each utterance's real faces in order."""
    return torch.cat([face_images[u, :int(n)] for u, n in enumerate(vis_num_imgs)], dim=0)


def face_distributions(swin: nn.Module, batch: MermcBatch) -> torch.Tensor:
    """(n, K) Gumbel-softmax emotion distributions of every face of the batch (no gradient)."""
    faces = gather_faces(batch.face_images, batch.vis_num_imgs)
    if len(faces) == 0:
        return faces.new_zeros((0, swin.num_labels))
    with torch.no_grad():
        return swin(faces, is_trg_task=True)


def mermc_forward(swin: nn.Module, model: nn.Module, batch: MermcBatch, threshold: float,
                  packing: str = "per_utterance") -> tuple[torch.Tensor, GateResult]:
    """Swin distributions -> clarity gate -> multimodal logits (B, K). Modes (train/eval) are the caller's."""
    distributions = face_distributions(swin, batch)
    gate = clarity_gate(distributions, batch.vision_inputs, batch.vision_mask, batch.vis_num_imgs, threshold,
                        packing)
    logits = model(batch.text_input_ids, batch.text_input_mask, batch.text_sep_mask, batch.audio_inputs,
                   batch.audio_mask, gate.vision_inputs_concat, gate.vision_mask, batch.utt_in_dia_idx)
    return logits, gate


def _backward_and_maybe_step(loss: torch.Tensor, parameters, optimizer, scheduler, clip: float,
                             accumulation_steps: int, batch_index: int, scaler, before_clip) -> tuple[bool, float | None]:
    scaled = loss / accumulation_steps
    (scaler.scale(scaled) if scaler is not None else scaled).backward()
    if (batch_index + 1) % accumulation_steps:
        return False, None
    if scaler is not None:
        scaler.unscale_(optimizer)  # clip the true gradients, not the loss-scaled ones
    if before_clip is not None:
        before_clip()
    grad_norm = float(torch.nn.utils.clip_grad_norm_(parameters, clip))
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    scheduler.step()
    optimizer.zero_grad()
    return True, grad_norm


def dfer_train_step(swin: nn.Module, images: torch.Tensor, labels: torch.Tensor, criterion: nn.Module,
                    optimizer, scheduler, *, clip: float, accumulation_steps: int = 1, batch_index: int = 0,
                    scaler=None, autocast_dtype: torch.dtype | None = None,
                    before_clip: Callable[[], None] | None = None) -> StepResult:
    """One Aff-Wild2 batch of the auxiliary DFER task: cross-entropy on the Swin logits (no Gumbel)."""
    swin.train()
    with _autocast(images, autocast_dtype):
        loss = swin(images, False, labels.long(), criterion)
    stepped, grad_norm = _backward_and_maybe_step(loss, list(swin.parameters()), optimizer, scheduler, clip,
                                                  accumulation_steps, batch_index, scaler, before_clip)
    return StepResult(loss.item(), stepped, grad_norm)


def mermc_train_step(swin: nn.Module, model: nn.Module, batch: MermcBatch, criterion: nn.Module, optimizer,
                     scheduler, *, threshold: float, clip: float, accumulation_steps: int = 1, batch_index: int = 0,
                     packing: str = "per_utterance", scaler=None, autocast_dtype: torch.dtype | None = None,
                     before_clip: Callable[[], None] | None = None) -> StepResult:
    """One MELD batch of the main task; only the multimodal model's parameters are clipped and stepped."""
    swin.train()
    model.train()
    with _autocast(batch.audio_inputs, autocast_dtype):
        logits, gate = mermc_forward(swin, model, batch, threshold, packing)
        loss = criterion(logits, batch.label_ids)
    stepped, grad_norm = _backward_and_maybe_step(loss, list(model.parameters()), optimizer, scheduler, clip,
                                                  accumulation_steps, batch_index, scaler, before_clip)
    return StepResult(loss.item(), stepped, grad_norm, logits.detach(), gate)


def mermc_evaluate_batch(swin: nn.Module, model: nn.Module, batch: MermcBatch, criterion: nn.Module, *,
                         threshold: float, packing: str = "per_utterance") -> tuple[float, torch.Tensor, GateResult]:
    """Loss and logits (B, K) of one batch in eval mode. The gate stays stochastic (fresh Gumbel noise),
    as in the reference. The reference's avg_loss = sum(loss * trg_batch_size) / number of utterances."""
    swin.eval()
    model.eval()
    with torch.no_grad():
        logits, gate = mermc_forward(swin, model, batch, threshold, packing)
        loss = criterion(logits, batch.label_ids)
    return float(loss), logits, gate


def _autocast(like: torch.Tensor, dtype: torch.dtype | None):
    return torch.autocast(like.device.type, dtype=dtype) if dtype is not None else nullcontext()
