"""Swin Transformer backbone of FacialMMT's DFER branch, one block per file."""

from .backbone import SwinTransformer

__all__ = ["SwinTransformer"]
