"""fairseq's sinusoidal positions as the cross-modal encoders use them (padding index 0).

A row whose first feature is exactly 0 counts as padding and gets the zero vector; every other row gets
the embedding of its index + 1. The table is computed in float32 (as the reference does) and cast.
"""

from __future__ import annotations

import math

import torch


def sinusoidal_table(num_positions: int, dim: int) -> torch.Tensor:
    """(num_positions, dim) float32 table, [sin | cos] halves, row 0 (padding) zero."""
    half = dim // 2
    rate = math.log(10000) / (half - 1)
    freqs = torch.exp(torch.arange(half, dtype=torch.float) * -rate)
    angles = torch.arange(num_positions, dtype=torch.float).unsqueeze(1) * freqs.unsqueeze(0)
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1).view(num_positions, -1)
    if dim % 2 == 1:
        table = torch.cat([table, torch.zeros(num_positions, 1)], dim=1)
    table[0, :] = 0
    return table


def sinusoidal_positions(x: torch.Tensor) -> torch.Tensor:
    """x (L, B, H) sequence-first -> (L, B, H) position embeddings (zero where x[..., 0] == 0)."""
    length, _, dim = x.shape
    not_padding = x[..., 0].ne(0)  # (L, B)
    index = torch.arange(1, length + 1, device=x.device).unsqueeze(1) * not_padding  # 0 = padding
    table = sinusoidal_table(length + 1, dim).to(device=x.device, dtype=x.dtype)
    return table[index].detach()
