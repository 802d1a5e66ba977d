"""Facial emotion distribution: Gumbel-softmax over the DFER logits (paper Eq. 1), noise injectable.

`F.gumbel_softmax(logits, tau)` draws G = -log(Exp(1)) and returns softmax((logits + G) / tau). The noise
is drawn at every call, in evaluation too (the reference gate is stochastic at test time). For parity
with recorded runs a `noise` source can be given: a callable `shape -> tensor` (see `NoiseQueue`).
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Iterable

import torch

NoiseSource = Callable[[torch.Size], torch.Tensor]


def gumbel_noise(shape: torch.Size, like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Gumbel(0, 1) noise drawn exactly as torch's gumbel_softmax draws it."""
    return -torch.empty(shape, dtype=like.dtype, device=like.device).exponential_(generator=generator).log()


def gumbel_softmax(logits: torch.Tensor, tau: float = 1.0, noise: torch.Tensor | None = None) -> torch.Tensor:
    """(N, K) logits -> (N, K) probabilities softmax((logits + G) / tau); G drawn when not given."""
    if noise is None:
        noise = gumbel_noise(logits.shape, logits)
    return ((logits + noise.to(logits)) / tau).softmax(dim=-1)


class NoiseQueue:
    """A `NoiseSource` that hands out pre-recorded noise tensors in order (parity with recorded runs)."""

    def __init__(self, tensors: Iterable[torch.Tensor]):
        self._queue = deque(torch.as_tensor(t) for t in tensors)

    def __call__(self, shape: torch.Size) -> torch.Tensor:
        if not self._queue:
            raise RuntimeError("NoiseQueue is empty: more Gumbel draws than recorded")
        noise = self._queue.popleft()
        if tuple(noise.shape) != tuple(shape):
            raise ValueError(f"recorded Gumbel noise has shape {tuple(noise.shape)}, the call needs {tuple(shape)}")
        return noise

    def __len__(self) -> int:
        return len(self._queue)
