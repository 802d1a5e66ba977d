"""TalkNet attention layers: cross-attention (A->V, V->A) and audio-visual self-attention.

The parameter layout equals torch.nn.MultiheadAttention (packed `in_proj_weight`/`in_proj_bias`,
`out_proj`), so the official checkpoint loads unchanged. Dropout (0.1 in training) is omitted: the
detector only runs in eval mode.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MultiheadAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        assert d_model % n_heads == 0
        self.d_model = d_model
        self.n_heads = n_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))  # rows: [q; k; v]
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model))
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, query: torch.Tensor, key_value: torch.Tensor) -> torch.Tensor:
        # query: (B, Tq, D), key_value: (B, Tk, D) -> (B, Tq, D)
        d, h = self.d_model, self.n_heads
        w_q, w_k, w_v = self.in_proj_weight.split(d, dim=0)
        b_q, b_k, b_v = self.in_proj_bias.split(d, dim=0)
        b, tq, _ = query.shape
        tk = key_value.shape[1]
        q = F.linear(query, w_q, b_q).view(b, tq, h, d // h).transpose(1, 2)  # (B, H, Tq, Dh)
        k = F.linear(key_value, w_k, b_k).view(b, tk, h, d // h).transpose(1, 2)  # (B, H, Tk, Dh)
        v = F.linear(key_value, w_v, b_v).view(b, tk, h, d // h).transpose(1, 2)  # (B, H, Tk, Dh)
        att = (q / math.sqrt(d // h)) @ k.transpose(-2, -1)  # (B, H, Tq, Tk)
        out = att.softmax(dim=-1) @ v  # (B, H, Tq, Dh)
        out = out.transpose(1, 2).reshape(b, tq, d)  # (B, Tq, D)
        return self.out_proj(out)


class AttentionLayer(nn.Module):
    """Post-norm transformer layer whose attention query comes from another stream.

    forward(src, tar) = norm2(x + FFN(x)) with x = norm1(src + attn(q=tar, k=v=src)).
    The residual is `src`; the output has `tar`'s length, so src and tar must be equally long.
    """

    def __init__(self, d_model: int, n_heads: int = 8):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, n_heads)
        self.linear1 = nn.Linear(d_model, 4 * d_model)
        self.linear2 = nn.Linear(4 * d_model, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, src: torch.Tensor, tar: torch.Tensor) -> torch.Tensor:
        # src, tar: (B, T, D) -> (B, T, D)
        x = self.norm1(src + self.self_attn(tar, src))
        return self.norm2(x + self.linear2(torch.relu(self.linear1(x))))
