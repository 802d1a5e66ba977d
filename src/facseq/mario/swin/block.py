"""One Swin block: (shifted) window attention and an MLP, each pre-normed with a residual."""

from __future__ import annotations

import torch
from torch import nn

from .window_attention import WindowAttention
from .windows import shifted_window_mask, window_partition, window_reverse


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop the whole residual branch per sample, rescale the kept ones."""
    if rate == 0.0 or not training:
        return x
    keep = 1.0 - rate
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    return x.div(keep) * x.new_empty(shape).bernoulli_(keep)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class SwinBlock(nn.Module):
    def __init__(self, dim: int, resolution: tuple[int, int], num_heads: int, window: int, shift: int,
                 mlp_ratio: float = 4.0, drop: float = 0.0, drop_path_rate: float = 0.0):
        super().__init__()
        self.resolution = resolution
        if min(resolution) <= window:  # the map fits in one window: no partition, no shift
            shift, window = 0, min(resolution)
        self.window, self.shift = window, shift
        self.drop_path_rate = drop_path_rate
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, num_heads, proj_drop=drop)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)
        mask = shifted_window_mask(*resolution, window, shift) if shift > 0 else None
        self.register_buffer("attn_mask", mask)  # a None buffer is not in the state dict (unshifted blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, H*W, C)
        height, width = self.resolution
        batch, _, channels = x.shape
        h = self.norm1(x).view(batch, height, width, channels)
        if self.shift > 0:
            h = torch.roll(h, shifts=(-self.shift, -self.shift), dims=(1, 2))
        windows = window_partition(h, self.window).view(-1, self.window * self.window, channels)
        windows = self.attn(windows, mask=self.attn_mask).view(-1, self.window, self.window, channels)
        h = window_reverse(windows, self.window, height, width)
        if self.shift > 0:
            h = torch.roll(h, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + drop_path(h.view(batch, height * width, channels), self.drop_path_rate, self.training)
        return x + drop_path(self.mlp(self.norm2(x)), self.drop_path_rate, self.training)
