"""The face chips dlib's `compute_face_descriptor(image, shape)` feeds its network.

dlib maps the 5-point (or 68-point) shape onto its template with `get_face_chip_details(shape, 150,
padding=0.25)` and cuts the chip with `extract_image_chips` (bilinear, with an image pyramid for
large faces); python's `dlib.get_face_chip` is the same pair of calls, so the chips are identical.
"""

from __future__ import annotations

import numpy as np
import torch

DESCRIPTOR_PADDING = 0.25  # compute_face_descriptor's default


def face_chips(images: list[np.ndarray], shapes: list, size: int) -> np.ndarray:
    """images: RGB uint8 (H, W, 3); shapes: dlib full_object_detection per image -> (B, size, size, 3) uint8."""
    import dlib

    return np.stack([dlib.get_face_chip(np.ascontiguousarray(image), shape, size=size, padding=DESCRIPTOR_PADDING)
                     for image, shape in zip(images, shapes)])


def chips_to_tensor(chips: np.ndarray) -> torch.Tensor:
    """(B, S, S, 3) uint8 RGB -> (B, 3, S, S) float32 pixels 0-255 (the network normalises)."""
    return torch.from_numpy(np.ascontiguousarray(chips)).permute(0, 3, 1, 2).float()
