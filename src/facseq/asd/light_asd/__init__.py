"""Light-ASD (Liao et al., CVPR 2023), re-implemented block by block; loads the official checkpoints."""

from .model import LightASD, LightASDModel

__all__ = ["LightASD", "LightASDModel"]
