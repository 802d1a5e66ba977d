"""2x2 neighbouring tokens -> one token of twice the width (Swin's downsampling between stages)."""

from __future__ import annotations

import torch
from torch import nn


class PatchMerging(nn.Module):
    def __init__(self, resolution: tuple[int, int], dim: int):
        super().__init__()
        self.resolution = resolution
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, H*W, C) -> (B, H/2*W/2, 2C)
        height, width = self.resolution
        batch, _, channels = x.shape
        x = x.view(batch, height, width, channels)
        # order (even row, even col), (odd, even), (even, odd), (odd, odd): the weights depend on it
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.view(batch, -1, 4 * channels)))
