"""The reference's optimiser and schedule.

    optimizer = AdamW424(model.parameters(), lr=7e-6, weight_decay=0.01)
    scheduler = linear_warmup_schedule(optimizer, num_warmup_steps=int(total * 0.1), num_training_steps=total)

`AdamW424` is the maths of transformers 4.24's `AdamW` (what FacialMMT calls), which is NOT
`torch.optim.AdamW`: eps is added to sqrt(v) before the bias correction, which goes into the step size
(lr * sqrt(1 - b2^t) / (1 - b1^t)), and the decoupled decay is applied after the update to the updated
weights. Defaults are 4.24's (eps 1e-6, weight_decay 0). The schedule is `get_linear_schedule_with_warmup`;
its first step has lr 0 (LambdaLR starts at lambda(0) = 0).
"""

from __future__ import annotations

import math
from typing import Iterable

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


class AdamW424(Optimizer):
    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6, weight_decay: float = 0.0, correct_bias: bool = True):
        if lr < 0.0:
            raise ValueError(f"invalid learning rate {lr}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"invalid betas {betas}")
        if eps < 0.0:
            raise ValueError(f"invalid eps {eps}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      correct_bias=correct_bias))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("AdamW424 does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg.mul_(beta1).add_(p.grad, alpha=1.0 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(p.grad, p.grad, value=1.0 - beta2)
                denom = exp_avg_sq.sqrt().add_(group["eps"])
                step_size = group["lr"]
                if group["correct_bias"]:
                    step_size = step_size * math.sqrt(1.0 - beta2 ** state["step"]) / (1.0 - beta1 ** state["step"])
                p.addcdiv_(exp_avg, denom, value=-step_size)
                if group["weight_decay"] > 0.0:
                    p.add_(p, alpha=-group["lr"] * group["weight_decay"])
        return loss


def linear_warmup_factor(step: int, num_warmup_steps: int, num_training_steps: float) -> float:
    """lr multiplier at `step`: linear 0 -> 1 over the warm-up, then linear down to 0 at the end."""
    if step < num_warmup_steps:
        return float(step) / float(max(1, num_warmup_steps))
    return max(0.0, float(num_training_steps - step) / float(max(1, num_training_steps - num_warmup_steps)))


def linear_warmup_schedule(optimizer: Optimizer, num_warmup_steps: int, num_training_steps: float) -> LambdaLR:
    return LambdaLR(optimizer, lambda step: linear_warmup_factor(step, num_warmup_steps, num_training_steps))
