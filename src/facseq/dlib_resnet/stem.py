"""The stem: con 7x7/2 -> affine -> relu -> max_pool 3x3/2 (dlib pads neither: stride != 1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Stem(nn.Module):
    def __init__(self, conv: nn.Conv2d, pool_window: tuple[int, int], pool_stride: tuple[int, int]):
        super().__init__()
        self.conv = conv  # the affine layer is folded into its weights and bias
        self.pool_window, self.pool_stride = pool_window, pool_stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, 150, 150)
        x = F.relu(self.conv(x))  # (B, 32, 72, 72)
        return F.max_pool2d(x, self.pool_window, self.pool_stride)  # (B, 32, 35, 35)
