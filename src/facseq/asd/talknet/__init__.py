"""TalkNet-ASD (Tao et al. 2021), re-implemented block by block; loads the official checkpoints."""

from .model import TalkNet, TalkNetModel

__all__ = ["TalkNet", "TalkNetModel"]
