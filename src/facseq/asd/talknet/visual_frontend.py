"""TalkNet visual front end: a 3D conv stem, then a per-frame 2D ResNet18 (deep_avsr layout).

Input (B, 1, T, 112, 112) normalised gray frames; output (B, T, 512).

The only temporal mixing is the stem's Conv3d with a 5-frame kernel (zero padded by 2 at both ends of
the sequence). Everything after it is per frame. Batch items are independent here; the official code
instead folds B*T into one long sequence, which equals this for B = 1 (the only case it uses).
"""

from __future__ import annotations

import torch
from torch import nn

BN_EPS = 0.001  # the visual front end (only) uses eps=1e-3


class ResNetLayer(nn.Module):
    """Two pre-activation-ish residual units, as in deep_avsr's ResNetLayer.

    `downsample` exists in every layer (so the checkpoint loads) but is used only when stride != 1.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.stride = stride
        self.conv1a = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1a = nn.BatchNorm2d(out_ch, momentum=0.01, eps=BN_EPS)
        self.conv2a = nn.Conv2d(out_ch, out_ch, 3, stride=1, padding=1, bias=False)
        self.downsample = nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False)
        self.outbna = nn.BatchNorm2d(out_ch, momentum=0.01, eps=BN_EPS)
        self.conv1b = nn.Conv2d(out_ch, out_ch, 3, stride=1, padding=1, bias=False)
        self.bn1b = nn.BatchNorm2d(out_ch, momentum=0.01, eps=BN_EPS)
        self.conv2b = nn.Conv2d(out_ch, out_ch, 3, stride=1, padding=1, bias=False)
        self.outbnb = nn.BatchNorm2d(out_ch, momentum=0.01, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (N, Cin, H, W) -> (N, Cout, H/stride, W/stride)
        y = torch.relu(self.bn1a(self.conv1a(x)))
        y = self.conv2a(y)
        skip = x if self.stride == 1 else self.downsample(x)
        mid = y + skip  # second unit's residual is this pre-BN sum
        y = torch.relu(self.outbna(mid))
        y = torch.relu(self.bn1b(self.conv1b(y)))
        y = self.conv2b(y)
        return torch.relu(self.outbnb(y + mid))


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = ResNetLayer(64, 64, stride=1)
        self.layer2 = ResNetLayer(64, 128, stride=2)
        self.layer3 = ResNetLayer(128, 256, stride=2)
        self.layer4 = ResNetLayer(256, 512, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (N, 64, 28, 28)
        x = self.layer1(x)  # (N, 64, 28, 28)
        x = self.layer2(x)  # (N, 128, 14, 14)
        x = self.layer3(x)  # (N, 256, 7, 7)
        x = self.layer4(x)  # (N, 512, 4, 4)
        return x.mean(dim=(2, 3))  # AvgPool 4x4, stride 1 -> (N, 512)


class VisualFrontend(nn.Module):
    def __init__(self):
        super().__init__()
        # index names 0/1 are checkpoint keys (frontend3D.0.weight, frontend3D.1.*)
        self.frontend3D = nn.Sequential(
            nn.Conv3d(1, 64, kernel_size=(5, 7, 7), stride=(1, 2, 2), padding=(2, 3, 3), bias=False),
            nn.BatchNorm3d(64, momentum=0.01, eps=BN_EPS),
            nn.ReLU(),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        )
        self.resnet = ResNet()

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 1, T, 112, 112) -> (B, 64, T, 28, 28); the only op that mixes frames
        return self.frontend3D(x)

    def per_frame(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 64, T, 28, 28) -> (B, T, 512)
        b, c, t, h, w = x.shape
        x = x.transpose(1, 2).reshape(b * t, c, h, w)
        return self.resnet(x).view(b, t, 512)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 1, T, 112, 112) -> (B, T, 512)
        return self.per_frame(self.stem(x))
