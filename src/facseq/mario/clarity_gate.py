"""Emotion-clarity gate (paper Sec. 3.2): keep faces whose emotion distribution is peaked, re-pack them.

    gate = clarity_gate(P, vision_inputs, vision_mask, vis_num_imgs, threshold=0.2, packing="per_utterance")
    gate.vision_inputs_concat, gate.vision_mask        # what the multimodal model gets

P (n, K) holds the distributions of all faces of the batch, utterance after utterance (`vis_num_imgs` each).
Clarity = diag(P P^T) = sum_k p_k^2; a face passes when clarity > threshold. Passing faces are compacted to
the front of their utterance (feature row and distribution), the mask marks them. Fall-back: when no face
passes, every face is kept (original features and mask) with its distribution.

`packing="reference"` reproduces FacialMMT's loops exactly, including for batches > 1 where its `margin`
arithmetic is wrong (from the 2nd utterance on the last passing face is dropped and the feature row is
shifted by one per preceding utterance; the fall-back only applies when no face of the whole BATCH passes).
`packing="per_utterance"` (default) does it right: each utterance is gated on its own faces. At batch size 1
(the paper's setting) both are identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class GateResult:
    clarity: torch.Tensor  # (n,) diag(P P^T)
    passed: torch.Tensor  # (n,) bool, clarity > threshold
    vision_inputs: torch.Tensor  # (B, Lv, Dv) re-packed features (original ones where the fall-back applies)
    emotions: torch.Tensor  # (B, Lv, K) distributions placed beside their features
    vision_mask: torch.Tensor  # (B, Lv)
    branches: list[str]  # per utterance: "filter" or "fallback"

    @property
    def vision_inputs_concat(self) -> torch.Tensor:  # (B, Lv, Dv + K)
        return torch.cat((self.vision_inputs, self.emotions), dim=-1)

    @property
    def kept_index(self) -> torch.Tensor:  # (k,) indices into P of the passing faces
        return torch.nonzero(self.passed).squeeze(1)


def clarity_scores(distributions: torch.Tensor) -> torch.Tensor:
    """(n, K) -> (n,) sum of squared probabilities (computed as the reference does, diag of P P^T)."""
    return torch.diagonal(torch.mm(distributions, distributions.t()))


def _fallback_rows(vision_mask_row: torch.Tensor, n_faces: int) -> int:
    """Number of leading valid frames (the reference walks the mask until its first 0), at most n_faces."""
    valid = 0
    while valid < len(vision_mask_row) and vision_mask_row[valid] == 1:
        valid += 1
    return min(valid, n_faces)


def clarity_gate(distributions: torch.Tensor, vision_inputs: torch.Tensor, vision_mask: torch.Tensor,
                 vis_num_imgs, threshold: float, packing: str = "per_utterance") -> GateResult:
    if packing not in ("per_utterance", "reference"):
        raise ValueError(f"packing must be 'per_utterance' or 'reference', not {packing!r}")
    counts = [int(c) for c in vis_num_imgs]
    if distributions.shape[0] != sum(counts):
        raise ValueError(f"{distributions.shape[0]} face distributions for {sum(counts)} faces (vis_num_imgs)")
    clarity = clarity_scores(distributions)
    passed = clarity.gt(threshold)
    pack = _pack_reference if packing == "reference" else _pack_per_utterance
    new_inputs, emotions, new_mask, branches = pack(distributions, passed, vision_inputs, vision_mask, counts)
    return GateResult(clarity, passed, new_inputs, emotions, new_mask, branches)


def _pack_per_utterance(P, passed, vision_inputs, vision_mask, counts):
    batch, frames, _ = vision_inputs.shape
    new_inputs = torch.zeros_like(vision_inputs)
    emotions = vision_inputs.new_zeros((batch, frames, P.shape[1]))
    new_mask = torch.zeros_like(vision_mask)
    branches = []
    start = 0
    for u, n in enumerate(counts):
        kept = torch.nonzero(passed[start:start + n]).squeeze(1)
        if len(kept) > 0:
            k = len(kept)
            new_inputs[u, :k] = vision_inputs[u, kept]
            emotions[u, :k] = P[start + kept]
            new_mask[u, :k] = 1
            branches.append("filter")
        else:
            rows = _fallback_rows(vision_mask[u], n)
            new_inputs[u] = vision_inputs[u]
            emotions[u, :rows] = P[start:start + rows]
            new_mask[u] = vision_mask[u]
            branches.append("fallback")
        start += n
    return new_inputs, emotions, new_mask, branches


def _pack_reference(P, passed, vision_inputs, vision_mask, counts):
    batch, frames, _ = vision_inputs.shape
    emotions = vision_inputs.new_zeros((batch, frames, P.shape[1]))
    kept = torch.nonzero(passed).squeeze(1).tolist()
    if not kept:  # fall-back for the whole batch: P consumed in order along each row's valid frames
        used = 0
        for u, n in enumerate(counts):
            rows = _fallback_rows(vision_mask[u], len(P) - used)
            emotions[u, :rows] = P[used:used + rows]
            used += rows
        return vision_inputs, emotions, vision_mask, ["fallback"] * batch
    new_mask = torch.zeros_like(vision_mask)
    remaining, margin = kept, 0
    for u, n in enumerate(counts):
        taken = 0
        for face in remaining:
            if face >= n + margin:
                break
            new_mask[u, taken] = 1
            taken += 1
        margin += n - 1  # the reference's arithmetic (should be + n)
        remaining = remaining[taken:]
    new_inputs = torch.zeros_like(vision_inputs)
    cursor, margin = 0, 0
    for u, n in enumerate(counts):
        for frame in range(frames):
            if new_mask[u, frame] == 0:
                break
            emotions[u, frame] = P[kept[cursor]]
            new_inputs[u, frame] = vision_inputs[u, kept[cursor] - margin]
            cursor += 1
        margin += n - 1
    return new_inputs, emotions, new_mask, ["filter"] * batch
