"""fairseq-style multi-head attention with one packed `in_proj_weight` (3H, H), sequence-first tensors.

No key-padding mask: the cross-modal encoders attend over padded positions too (as the reference does).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MultiheadAttention(nn.Module):
    def __init__(self, embed_dim: int, num_heads: int, attn_dropout: float = 0.0):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not a multiple of num_heads {num_heads}")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.scaling = self.head_dim ** -0.5
        self.attn_dropout = attn_dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim))
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.xavier_uniform_(self.out_proj.weight)
        nn.init.constant_(self.out_proj.bias, 0.0)

    def _project(self, x: torch.Tensor, part: int) -> torch.Tensor:
        rows = slice(part * self.embed_dim, (part + 1) * self.embed_dim)  # 0 = query, 1 = key, 2 = value
        return F.linear(x, self.in_proj_weight[rows], self.in_proj_bias[rows])

    def _heads(self, x: torch.Tensor, batch: int) -> torch.Tensor:
        # (L, B, H) -> (B*heads, L, H/heads)
        return x.contiguous().view(-1, batch * self.num_heads, self.head_dim).transpose(0, 1)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        # query (Lq, B, H), key/value (Lk, B, H) -> (Lq, B, H)
        length, batch, dim = query.shape
        q = self._heads(self._project(query, 0) * self.scaling, batch)
        k = self._heads(self._project(key, 1), batch)
        v = self._heads(self._project(value, 2), batch)
        weights = torch.bmm(q, k.transpose(1, 2)).float().softmax(dim=-1).type_as(q)  # (B*heads, Lq, Lk)
        weights = F.dropout(weights, p=self.attn_dropout, training=self.training)
        out = torch.bmm(weights, v).transpose(0, 1).contiguous().view(length, batch, dim)
        return self.out_proj(out)
