"""Face crops -> Swin input tensors, exactly as FacialMMT's `from_image_to_embedding_no_IncepRes`.

    images = load_face_batch(paths)                 # (N, 3, 224, 224) float32 in [-1, 1]
    images = load_face_batch(paths, train=True)     # + the reference's ColorJitter (stochastic)

Reference behaviour kept on purpose (the released weights were trained with it):
* crops are decoded by OpenCV (BGR) and the array is then taken as RGB, so channel 0 is BLUE;
* the resize is decided by the HEIGHT only: > 224 INTER_AREA, < 224 INTER_CUBIC, == 224 untouched (a
  non-square crop of height 224 stays non-square and fails; other sizes are squashed to 224x224);
* ToTensor + Normalize(0.5, 0.5).
A crop that cannot be read raises `FaceImageError` naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

SWIN_IMG_SIZE = 224


class FaceImageError(ValueError):
    pass


def read_face_bgr(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 BGR, as cv2.imread gives it."""
    image = cv2.imread(str(path))
    if image is None:
        raise FaceImageError(f"{path}: cannot read the face crop (missing or not an image)")
    return image


def resize_like_reference(image: np.ndarray, size: int = SWIN_IMG_SIZE) -> np.ndarray:
    if image.shape[0] > size:
        image = cv2.resize(image, dsize=(size, size), interpolation=cv2.INTER_AREA)
    elif image.shape[0] < size:
        image = cv2.resize(image, dsize=(size, size), interpolation=cv2.INTER_CUBIC)
    return image


def color_jitter():
    """The reference's train-split augmentation (applied to the BGR-as-RGB image)."""
    from torchvision import transforms

    return transforms.ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5, hue=0.5)


def to_normalised_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32, (x / 255 - 0.5) / 0.5 (ToTensor + Normalize(0.5, 0.5))."""
    tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div(255)
    return (tensor - 0.5) / 0.5


def load_face_image(path: str | Path, train: bool = False, jitter=None) -> torch.Tensor:
    image = resize_like_reference(read_face_bgr(path))
    if image.shape[:2] != (SWIN_IMG_SIZE, SWIN_IMG_SIZE):
        raise FaceImageError(f"{path}: crop of height {SWIN_IMG_SIZE} but width {image.shape[1]} "
                             f"(the reference resizes by height only)")
    if train:
        from PIL import Image

        jittered = (jitter or color_jitter())(Image.fromarray(image, mode="RGB"))
        image = np.asarray(jittered)
    return to_normalised_tensor(image)


def load_face_batch(paths: Sequence[str | Path], train: bool = False) -> torch.Tensor:
    """(N, 3, 224, 224) float32 for N crop paths (N may be 0)."""
    jitter = color_jitter() if train else None
    images = [load_face_image(p, train, jitter) for p in paths]
    if not images:
        return torch.zeros((0, 3, SWIN_IMG_SIZE, SWIN_IMG_SIZE))
    return torch.stack(images)
