"""TalkNet visual temporal network: V-TCN (5 depthwise-separable residual blocks) and Conv1D head.

Layout is channels-first over time: (B, C, T).
"""

from __future__ import annotations

import torch
from torch import nn


class GlobalLayerNorm(nn.Module):
    """Normalise each sample over channels *and* time together: var + 1e-8, affine (1, C, 1)."""

    def __init__(self, channels: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(1, channels, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        # y: (B, C, T); statistics are per sample, so batch items must not be padded
        mean = y.mean(dim=1, keepdim=True).mean(dim=2, keepdim=True)  # (B, 1, 1)
        var = (y - mean).pow(2).mean(dim=1, keepdim=True).mean(dim=2, keepdim=True)
        return self.gamma * (y - mean) / torch.sqrt(var + 1e-8) + self.beta


class DSConv1d(nn.Module):
    def __init__(self, channels: int = 512):
        super().__init__()
        # Sequential indices are checkpoint keys: net.1 BN, net.2 depthwise, net.3 PReLU,
        # net.4 gLN, net.5 pointwise (net.0 is the parameter-free ReLU).
        self.net = nn.Sequential(
            nn.ReLU(),
            nn.BatchNorm1d(channels),
            nn.Conv1d(channels, channels, 3, stride=1, padding=1, groups=channels, bias=False),
            nn.PReLU(),
            GlobalLayerNorm(channels),
            nn.Conv1d(channels, channels, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 512, T)
        return x + self.net(x)


class VisualTCN(nn.Module):
    def __init__(self, channels: int = 512, n_blocks: int = 5):
        super().__init__()
        self.net = nn.Sequential(*[DSConv1d(channels) for _ in range(n_blocks)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 512, T) -> (B, 512, T)
        return self.net(x)


class VisualConv1D(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(512, 256, 5, stride=1, padding=2),
            nn.BatchNorm1d(256),
            nn.ReLU(),
            nn.Conv1d(256, 128, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 512, T) -> (B, 128, T)
        return self.net(x)
