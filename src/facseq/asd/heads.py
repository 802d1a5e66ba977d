"""Linear classification heads (the reference calls them lossAV / lossA / lossV).

Only the `FC` layer matters at inference. The speaking score is the raw class-1 logit FC(x)[:, 1],
not a softmax probability; "speaking" means score >= 0.
"""

from __future__ import annotations

import torch
from torch import nn


class ScoreHead(nn.Module):
    def __init__(self, in_dim: int):
        super().__init__()
        self.FC = nn.Linear(in_dim, 2)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        # x: (..., in_dim) -> (..., 2)
        return self.FC(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (..., in_dim) -> (...,) class-1 logit
        return self.FC(x)[..., 1]
