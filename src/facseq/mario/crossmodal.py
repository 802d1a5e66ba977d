"""Cross-modal transformer (MulT, Tsai et al. 2019): queries of one modality attend to another's sequence.

    encoder = CrossModalTransformerEncoder(hidden, num_heads, n_layers, attn_dropout)
    out = encoder(x_query, x_key, x_value)    # (Lq, B, H), (Lk, B, H) sequence-first -> (Lq, B, H)

Inputs are scaled by sqrt(H) and get sinusoidal positions; keys/values are layer-normed by each layer's
`layer_norms[0]` and never updated across layers; pre-LN layers, a final LayerNorm. State-dict names are the
reference's (`layers.{i}.self_attn.in_proj_weight`, `fc1`, `fc2`, `layer_norms.{0,1}`, `layer_norm`, plus
the `version` and `embed_positions._float_tensor` buffers its checkpoints carry).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .multihead_attention import MultiheadAttention
from .sinusoidal_positions import sinusoidal_positions


class _PositionsBuffer(nn.Module):
    """Holds the reference's `embed_positions._float_tensor` buffer (value unused) so checkpoints load."""

    def __init__(self):
        super().__init__()
        self.register_buffer("_float_tensor", torch.zeros(1))


class CrossModalLayer(nn.Module):
    def __init__(self, dim: int, num_heads: int, attn_dropout: float = 0.0, relu_dropout: float = 0.0,
                 res_dropout: float = 0.0):
        super().__init__()
        self.self_attn = MultiheadAttention(dim, num_heads, attn_dropout)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)
        self.layer_norms = nn.ModuleList([nn.LayerNorm(dim), nn.LayerNorm(dim)])
        self.relu_dropout, self.res_dropout = relu_dropout, res_dropout
        for linear in (self.fc1, self.fc2):
            nn.init.xavier_uniform_(linear.weight)
            nn.init.constant_(linear.bias, 0.0)

    def forward(self, x: torch.Tensor, x_k: torch.Tensor, x_v: torch.Tensor) -> torch.Tensor:
        # x (Lq, B, H); x_k, x_v (Lk, B, H)
        norm = self.layer_norms[0]
        h = self.self_attn(norm(x), norm(x_k), norm(x_v))
        x = x + F.dropout(h, p=self.res_dropout, training=self.training)
        h = F.gelu(self.fc1(self.layer_norms[1](x)))
        h = self.fc2(F.dropout(h, p=self.relu_dropout, training=self.training))
        return x + F.dropout(h, p=self.res_dropout, training=self.training)


class CrossModalTransformerEncoder(nn.Module):
    def __init__(self, embed_dim: int, num_heads: int, layers: int, attn_dropout: float = 0.0,
                 embed_dropout: float = 0.0):
        super().__init__()
        self.embed_scale = math.sqrt(embed_dim)
        self.embed_dropout = embed_dropout
        self.embed_positions = _PositionsBuffer()
        self.layers = nn.ModuleList(CrossModalLayer(embed_dim, num_heads, attn_dropout) for _ in range(layers))
        self.register_buffer("version", torch.Tensor([2]))
        self.layer_norm = nn.LayerNorm(embed_dim)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed_scale * x + sinusoidal_positions(x)
        return F.dropout(x, p=self.embed_dropout, training=self.training)

    def forward(self, x_in: torch.Tensor, x_in_k: torch.Tensor, x_in_v: torch.Tensor) -> torch.Tensor:
        x, x_k, x_v = self._embed(x_in), self._embed(x_in_k), self._embed(x_in_v)
        for layer in self.layers:
            x = layer(x, x_k, x_v)
        return self.layer_norm(x)
