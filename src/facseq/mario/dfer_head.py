"""SwinForAffwildClassification: the DFER branch (Swin -> 512 -> ReLU(64) -> 7 logits).

    model = SwinForAffwildClassification(args, SwinConfig())       # args: MarioArgs (num_labels, tau)
    logits = model(images)                                          # (N, 7), images (N, 3, 224, 224)
    distribution = model(images, is_trg_task=True)                  # Gumbel-softmax distribution (N, 7)
    loss = model(images, False, labels, nn.CrossEntropyLoss())      # auxiliary (Aff-Wild2) loss

`model.noise_source` (None = fresh torch draws) injects recorded Gumbel noise for parity runs.
Attribute names are the reference's (state-dict keys `swin.*`, `linear.*`, `classifier.*`).
"""

from __future__ import annotations

import torch
from torch import nn

from .config import MarioArgs, SwinConfig
from .emotion_distribution import NoiseSource, gumbel_softmax
from .swin import SwinTransformer
from .swin.backbone import EMBEDDING_DIM

HEAD_HIDDEN = 64


class SwinForAffwildClassification(nn.Module):
    def __init__(self, args: MarioArgs, swin_cfg: SwinConfig | None = None):
        super().__init__()
        self.num_labels = args.num_labels
        self.tau = args.tau
        self.swin = SwinTransformer(swin_cfg or SwinConfig())
        self.linear = nn.Linear(EMBEDDING_DIM, HEAD_HIDDEN)
        self.nonlinear = nn.ReLU()
        self.classifier = nn.Linear(HEAD_HIDDEN, args.num_labels)
        self.noise_source: NoiseSource | None = None

    def forward(self, images: torch.Tensor, is_trg_task: bool = False, labels: torch.Tensor | None = None,
                criterion: nn.Module | None = None) -> torch.Tensor:
        # images (N, 3, 224, 224) -> logits (N, K), or the distribution, or a scalar loss
        logits = self.classifier(self.nonlinear(self.linear(self.swin(images))))
        if is_trg_task:
            noise = self.noise_source(logits.shape) if self.noise_source is not None else None
            logits = gumbel_softmax(logits, self.tau, noise)
        if labels is not None:
            return criterion(logits, labels)
        return logits
