"""dlib's `ares` / `ares_down` residual blocks (examples/dnn_face_recognition_ex.cpp).

    block     = affine(con 3x3/1 (relu(affine(con 3x3/s (x)))))
    ares      = relu(block(x) + x)                          s = 1
    ares_down = relu(block(x) (+) avg_pool 2x2/2 (x))       s = 2, no padding

dlib's add_prev adds tensors of different shapes by zero-padding both to the larger one, aligned at
channel 0 and the top-left pixel: the shortcut has the input's (fewer) channels, and on an even plane
the unpadded stride-2 convolution gives one row/column fewer than the pool (8 -> 3 vs 4; 4 -> 1 vs 2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def zero_padded_add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B, Ca, Ha, Wa) + (B, Cb, Hb, Wb) -> (B, max C, max H, max W), each zero beyond its own extent."""
    if a.shape == b.shape:
        return a + b
    c, h, w = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def pad(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1]))

    return pad(a) + pad(b)


class ResidualBlock(nn.Module):
    def __init__(self, conv1: nn.Conv2d, conv2: nn.Conv2d, shortcut_pool: tuple[int, int] | None):
        super().__init__()
        self.conv1, self.conv2 = conv1, conv2  # affine layers folded in
        self.shortcut_pool = shortcut_pool  # (window, stride) of the downsampling shortcut, or None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, H, W)
        y = self.conv2(F.relu(self.conv1(x)))  # (B, C, H', W'); H' = H, or (H - 3) // 2 + 1 when down
        if self.shortcut_pool is None:
            return F.relu(y + x)
        window, stride = self.shortcut_pool
        shortcut = F.avg_pool2d(x, window, stride)  # (B, Cin, (H - 2) // 2 + 1, ...)
        return F.relu(zero_padded_add(shortcut, y))  # (B, C, max, max)
