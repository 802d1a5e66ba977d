"""dlib's `input_rgb_image_sized<150>`: RGB pixels to the network's input tensor."""

from __future__ import annotations

import torch
from torch import nn


class InputRGB(nn.Module):
    """(B, 3, H, W) float RGB in 0-255 -> (B, 3, H, W): (pixel - channel mean) / 256, as dlib's to_tensor."""

    def __init__(self, mean_rgb: tuple[float, float, float]):
        super().__init__()
        self.register_buffer("mean_rgb", torch.tensor(mean_rgb, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return (pixels - self.mean_rgb) / 256.0
