"""dlib's face-recognition ResNet (`anet_type` of examples/dnn_face_recognition_ex.cpp) as a torch module.

    input_rgb_image_sized<150>                       (B, 3, 150, 150) pixels 0-255
    stem: con 7x7/2 32, affine, relu, max_pool 3/2   (B, 32, 35, 35)
    level 32:  3 ares                                (B, 32, 35, 35)
    level 64:  ares_down + 3 ares                    (B, 64, 17, 17)
    level 128: ares_down + 2 ares                    (B, 128, 8, 8)
    level 256: ares_down + 2 ares                    (B, 256, 4, 4)
    level 256: ares_down                             (B, 256, 2, 2)
    avg_pool_everything                              (B, 256)
    fc_no_bias 128                                   (B, 128), not normalised (loss_metric)
"""

from __future__ import annotations

import torch
from torch import nn

from .input import InputRGB
from .residual import ResidualBlock
from .stem import Stem


class DlibFaceResNet(nn.Module):
    def __init__(self, input_layer: InputRGB, stem: Stem, blocks: list[ResidualBlock], fc: nn.Linear, chip_size: int):
        super().__init__()
        self.input_layer, self.stem, self.blocks, self.fc = input_layer, stem, nn.Sequential(*blocks), fc
        self.chip_size = chip_size  # the input side dlib's network was built for (150)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:  # (B, 3, S, S) float RGB 0-255
        x = self.blocks(self.stem(self.input_layer(pixels)))  # (B, 256, 2, 2)
        return self.fc(x.mean(dim=(2, 3)))  # (B, 128)
