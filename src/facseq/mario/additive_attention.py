"""Additive attention pooling over a sequence: score_t = v . tanh(P h_t + Q q), masked softmax, weighted sum."""

from __future__ import annotations

import torch
from torch import nn


class AdditiveAttention(nn.Module):
    def __init__(self, inputs_dim: int, hidden_dim: int):
        super().__init__()
        self.query_vector = nn.Parameter(torch.randn(inputs_dim))
        self.value = nn.Linear(hidden_dim, 1)
        self.P = nn.Linear(inputs_dim, hidden_dim)
        self.Q = nn.Linear(inputs_dim, hidden_dim)

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        # inputs (B, L, H), mask (B, L) 1 = valid -> pooled (B, H), alpha (B, 1, L)
        batch, length, _ = inputs.shape
        if length == 1:
            # one element: its weight is 1 whatever the mask (the reference returns inputs.squeeze() and 1,
            # which also drops the batch axis for B == 1; we keep (B, H))
            return inputs[:, 0], inputs.new_ones(batch, 1, 1)
        scores = self.value(torch.tanh(self.P(inputs) + self.Q(self.query_vector))).squeeze(-1)  # (B, L)
        if mask is not None:
            scores = scores.masked_fill(mask == 0.0, float("-inf"))
        alpha = scores.softmax(dim=-1).view(batch, 1, length)
        return torch.bmm(alpha, inputs).squeeze(1), alpha
