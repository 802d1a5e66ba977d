"""TalkNet audio encoder: an SE-ResNet34-style 2D CNN over the MFCC map.

Input is (B, 1, 13, Ta): 13 MFCC bins by Ta audio frames at 100 Hz. The output is (B, Ta/4, 128),
one 128-d vector per video frame at 25 fps.

Block order (official, easy to get wrong): conv1 -> ReLU -> bn1 (ReLU *before* BN), conv2 -> bn2,
squeeze-excitation gate, residual add, ReLU.
"""

from __future__ import annotations

import torch
from torch import nn


class SELayer(nn.Module):
    """Squeeze-and-excitation gate: channel weights from the global mean over (freq, time)."""

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        # fc.0 / fc.2 index names must stay: they are the checkpoint keys.
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction),
            nn.ReLU(),
            nn.Linear(channels // reduction, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, F, T)
        b, c = x.shape[:2]
        gate = self.fc(x.mean(dim=(2, 3)))  # (B, C)
        return x * gate.view(b, c, 1, 1)


class SEBasicBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride=1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)  # eps 1e-5
        self.conv2 = nn.Conv2d(out_ch, out_ch, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.se = SELayer(out_ch, reduction=8)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, Cin, F, T) -> (B, Cout, F', T')
        out = self.bn1(torch.relu(self.conv1(x)))  # ReLU before BN, as in the reference
        out = self.bn2(self.conv2(out))
        out = self.se(out)
        residual = x if self.downsample is None else self.downsample(x)
        return torch.relu(out + residual)


def _make_layer(in_ch: int, out_ch: int, n_blocks: int, stride) -> nn.Sequential:
    downsample = None
    if stride != 1 or in_ch != out_ch:
        downsample = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride, bias=False),
            nn.BatchNorm2d(out_ch),
        )
    blocks = [SEBasicBlock(in_ch, out_ch, stride, downsample)]
    blocks += [SEBasicBlock(out_ch, out_ch) for _ in range(1, n_blocks)]
    return nn.Sequential(*blocks)


class AudioEncoder(nn.Module):
    def __init__(self, layers=(3, 4, 6, 3), filters=(16, 32, 64, 128)):
        super().__init__()
        # stride (2, 1): 2 on the MFCC axis, 1 on time
        self.conv1 = nn.Conv2d(1, filters[0], kernel_size=7, stride=(2, 1), padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(filters[0])
        self.layer1 = _make_layer(filters[0], filters[0], layers[0], stride=1)
        self.layer2 = _make_layer(filters[0], filters[1], layers[1], stride=(2, 2))
        self.layer3 = _make_layer(filters[1], filters[2], layers[2], stride=(2, 2))
        self.layer4 = _make_layer(filters[2], filters[3], layers[3], stride=(1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 1, 13, Ta)
        x = torch.relu(self.bn1(self.conv1(x)))  # (B, 16, 7, Ta)
        x = self.layer1(x)  # (B, 16, 7, Ta)
        x = self.layer2(x)  # (B, 32, 4, ceil(Ta/2))
        x = self.layer3(x)  # (B, 64, 2, ceil(Ta/4))
        x = self.layer4(x)  # (B, 128, 2, ceil(Ta/4))
        x = x.mean(dim=2)  # (B, 128, T): average over the frequency axis
        return x.transpose(1, 2)  # (B, T, 128)
