"""Light-ASD audio encoder: three split (MFCC-axis, time-axis) conv blocks with max-pooling over time.

Input (B, 1, 13, Ta) MFCC map (axis 2 = MFCC bins "m", axis 3 = time "t"); output (B, Ta/4, 128).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS, BN_MOMENTUM = 0.001, 0.01


def _bn(ch: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(ch, momentum=BN_MOMENTUM, eps=BN_EPS)


class AudioBlock(nn.Module):
    """Two parallel branches (kernel 3 and kernel 5), each MFCC-axis conv then time-axis conv; sum; 1x1."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.m_3 = nn.Conv2d(in_ch, out_ch, kernel_size=(3, 1), padding=(1, 0), bias=False)
        self.bn_m_3 = _bn(out_ch)
        self.t_3 = nn.Conv2d(out_ch, out_ch, kernel_size=(1, 3), padding=(0, 1), bias=False)
        self.bn_t_3 = _bn(out_ch)
        self.m_5 = nn.Conv2d(in_ch, out_ch, kernel_size=(5, 1), padding=(2, 0), bias=False)
        self.bn_m_5 = _bn(out_ch)
        self.t_5 = nn.Conv2d(out_ch, out_ch, kernel_size=(1, 5), padding=(0, 2), bias=False)
        self.bn_t_5 = _bn(out_ch)
        self.last = nn.Conv2d(out_ch, out_ch, kernel_size=1, bias=False)
        self.bn_last = _bn(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, Cin, 13, T) -> (B, Cout, 13, T)
        x3 = torch.relu(self.bn_m_3(self.m_3(x)))
        x3 = torch.relu(self.bn_t_3(self.t_3(x3)))
        x5 = torch.relu(self.bn_m_5(self.m_5(x)))
        x5 = torch.relu(self.bn_t_5(self.t_5(x5)))
        return torch.relu(self.bn_last(self.last(x3 + x5)))


def _pool_time(x: torch.Tensor) -> torch.Tensor:
    # The reference applies MaxPool3d((1,1,3), (1,1,2), (0,0,1)) to this 4-D tensor, which PyTorch
    # reads as an unbatched volume: a max-pool along time only (k3, s2, p1). T -> ceil(T/2).
    # x: (B, C, 13, T) -> (B, C, 13, ceil(T/2))
    return F.max_pool2d(x, kernel_size=(1, 3), stride=(1, 2), padding=(0, 1))


class AudioEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = AudioBlock(1, 32)
        self.block2 = AudioBlock(32, 64)
        self.block3 = AudioBlock(64, 128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 1, 13, Ta)
        x = _pool_time(self.block1(x))  # (B, 32, 13, Ta/2)
        x = _pool_time(self.block2(x))  # (B, 64, 13, Ta/4)
        x = self.block3(x)  # (B, 128, 13, Ta/4)
        return x.mean(dim=2).transpose(1, 2)  # average over MFCC bins -> (B, Ta/4, 128)
