"""MELDTransEncoder: learned positions + post-LN BERT-style layers (audio: 5 layers, vision: 2).

    encoder = MELDTransEncoder(args, n_layers, max_len, hidden)
    out = encoder(x, additive_mask)     # x (B, L, H); additive_mask (B, 1, 1, L) = (1 - mask) * -10000

TF-style LayerNorm (eps inside the square root), erf GELU; state-dict names are the reference's
(`position_embeddings`, `layer.{i}.transformer_self_attention.{selfatt,dense_norm}`, `intermediate`, `output`).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from .config import MarioArgs


def additive_padding_mask(mask: torch.Tensor) -> torch.Tensor:
    """(B, L) 1 = valid -> (B, 1, 1, L) additive mask, 0 where valid and -10000 at padding."""
    return (1.0 - mask.unsqueeze(1).unsqueeze(2)) * -10000.0


class TFLayerNorm(nn.Module):
    def __init__(self, hidden: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden))
        self.bias = nn.Parameter(torch.zeros(hidden))
        self.variance_epsilon = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(-1, keepdim=True)
        var = (x - mean).pow(2).mean(-1, keepdim=True)
        return self.weight * ((x - mean) / torch.sqrt(var + self.variance_epsilon)) + self.bias


class SelfAttention(nn.Module):
    def __init__(self, args: MarioArgs):
        super().__init__()
        if args.hidden_size % args.num_attention_heads:
            raise ValueError(f"hidden_size {args.hidden_size} is not a multiple of num_attention_heads "
                             f"{args.num_attention_heads}")
        self.heads = args.num_attention_heads
        self.head_dim = args.hidden_size // args.num_attention_heads
        self.query = nn.Linear(args.hidden_size, args.hidden_size)
        self.key = nn.Linear(args.hidden_size, args.hidden_size)
        self.value = nn.Linear(args.hidden_size, args.hidden_size)
        self.dropout = nn.Dropout(args.attention_probs_dropout_prob)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        # (B, L, H) -> (B, heads, L, H/heads)
        return x.view(*x.shape[:-1], self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)  # (B, heads, L, L)
        probs = self.dropout((scores + additive_mask).softmax(dim=-1))
        context = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()  # (B, L, heads, H/heads)
        return context.view(*context.shape[:-2], -1)


class ResidualNorm(nn.Module):
    """dense -> dropout -> LayerNorm(+ residual): the `dense_norm` and `output` sub-blocks."""

    def __init__(self, in_dim: int, args: MarioArgs):
        super().__init__()
        self.dense = nn.Linear(in_dim, args.hidden_size)
        self.LayerNorm = TFLayerNorm(args.hidden_size, args.layer_norm_eps)
        self.dropout = nn.Dropout(args.hidden_dropout_prob)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, args: MarioArgs):
        super().__init__()
        self.selfatt = SelfAttention(args)
        self.dense_norm = ResidualNorm(args.hidden_size, args)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        return self.dense_norm(self.selfatt(x, additive_mask), x)


def erf_gelu(x: torch.Tensor) -> torch.Tensor:
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


class Intermediate(nn.Module):
    def __init__(self, args: MarioArgs):
        super().__init__()
        self.dense = nn.Linear(args.hidden_size, args.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return erf_gelu(self.dense(x))


class EncoderLayer(nn.Module):
    def __init__(self, args: MarioArgs):
        super().__init__()
        self.transformer_self_attention = MultiHeadSelfAttention(args)
        self.intermediate = Intermediate(args)
        self.output = ResidualNorm(args.intermediate_size, args)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        attended = self.transformer_self_attention(x, additive_mask)
        return self.output(self.intermediate(attended), attended)


class MELDTransEncoder(nn.Module):
    def __init__(self, args: MarioArgs, n_layers: int, max_len: int, hidden: int):
        super().__init__()
        self.position_embeddings = nn.Embedding(max_len, hidden)
        layer = EncoderLayer(args)
        # deep copies of one layer: identical at initialisation, as in the reference
        self.layer = nn.ModuleList(copy.deepcopy(layer) for _ in range(n_layers))

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        # x (B, L, H), L <= max_len -> (B, L, H)
        positions = torch.arange(x.shape[1], dtype=torch.long, device=x.device)
        x = x + self.position_embeddings(positions).unsqueeze(0).repeat(x.shape[0], 1, 1)
        for layer in self.layer:
            x = layer(x, additive_mask)
        return x
