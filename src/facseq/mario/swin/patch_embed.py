"""Image -> patch tokens: a stride-p convolution, then LayerNorm."""

from __future__ import annotations

import torch
from torch import nn


class PatchEmbed(nn.Module):
    def __init__(self, img_size: int, patch_size: int, in_chans: int, embed_dim: int):
        super().__init__()
        self.img_size = img_size
        self.resolution = (img_size // patch_size, img_size // patch_size)
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # images: (B, 3, S, S) -> (B, (S/p)^2, C)
        if images.shape[-2:] != (self.img_size, self.img_size):
            raise ValueError(f"Swin expects {self.img_size}x{self.img_size} images, got {tuple(images.shape[-2:])}")
        return self.norm(self.proj(images).flatten(2).transpose(1, 2))
