"""Light-ASD temporal back end: a "bidirectional" GRU made of two 1-layer unidirectional GRUs.

GRU_fwd -> GELU -> flip time -> GRU_bwd -> flip back -> GELU. (B, T, 128) -> (B, T, 128).
"""

from __future__ import annotations

import torch
from torch import nn


class BGRU(nn.Module):
    def __init__(self, channels: int = 128):
        super().__init__()
        self.gru_forward = nn.GRU(channels, channels, num_layers=1, batch_first=True)
        self.gru_backward = nn.GRU(channels, channels, num_layers=1, batch_first=True)
        self.gelu = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, T, C); hidden state starts at zero for every call (i.e. every scoring chunk)
        x = self.gelu(self.gru_forward(x)[0])
        x = self.gru_backward(x.flip(1))[0].flip(1)
        return self.gelu(x)
