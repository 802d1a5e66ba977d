"""Light-ASD visual encoder: three (2D spatial + 1D temporal) conv blocks, max-pooled per frame.

Input (B, 1, T, 112, 112) normalised gray frames; output (B, T, 128).
Each block mixes +-2 frames (temporal kernel 5), so an output frame sees +-6 input frames.
"""

from __future__ import annotations

import torch
from torch import nn

BN_EPS, BN_MOMENTUM = 0.001, 0.01


def _bn(ch: int) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(ch, momentum=BN_MOMENTUM, eps=BN_EPS)


class VisualBlock(nn.Module):
    """Two parallel branches (k3 and k5): spatial conv (1,k,k) then temporal conv (k,1,1); sum; 1x1x1."""

    def __init__(self, in_ch: int, out_ch: int, is_down: bool = False):
        super().__init__()
        s = (1, 2, 2) if is_down else (1, 1, 1)
        self.s_3 = nn.Conv3d(in_ch, out_ch, kernel_size=(1, 3, 3), stride=s, padding=(0, 1, 1), bias=False)
        self.bn_s_3 = _bn(out_ch)
        self.t_3 = nn.Conv3d(out_ch, out_ch, kernel_size=(3, 1, 1), padding=(1, 0, 0), bias=False)
        self.bn_t_3 = _bn(out_ch)
        self.s_5 = nn.Conv3d(in_ch, out_ch, kernel_size=(1, 5, 5), stride=s, padding=(0, 2, 2), bias=False)
        self.bn_s_5 = _bn(out_ch)
        self.t_5 = nn.Conv3d(out_ch, out_ch, kernel_size=(5, 1, 1), padding=(2, 0, 0), bias=False)
        self.bn_t_5 = _bn(out_ch)
        self.last = nn.Conv3d(out_ch, out_ch, kernel_size=1, bias=False)
        self.bn_last = _bn(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, Cin, T, H, W) -> (B, Cout, T, H', W')
        x3 = torch.relu(self.bn_s_3(self.s_3(x)))
        x3 = torch.relu(self.bn_t_3(self.t_3(x3)))
        x5 = torch.relu(self.bn_s_5(self.s_5(x)))
        x5 = torch.relu(self.bn_t_5(self.t_5(x5)))
        return torch.relu(self.bn_last(self.last(x3 + x5)))


class VisualEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = VisualBlock(1, 32, is_down=True)
        self.pool1 = nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.block2 = VisualBlock(32, 64)
        self.pool2 = nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.block3 = VisualBlock(64, 128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 1, T, 112, 112)
        x = self.pool1(self.block1(x))  # (B, 32, T, 28, 28)
        x = self.pool2(self.block2(x))  # (B, 64, T, 14, 14)
        x = self.block3(x)  # (B, 128, T, 14, 14)
        return x.amax(dim=(3, 4)).transpose(1, 2)  # per-frame global max -> (B, T, 128)
