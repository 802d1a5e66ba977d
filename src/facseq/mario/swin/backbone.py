"""FacialMMT's Swin backbone (FaceX-Zoo face-recognition variant): stages, then a 512-d embedding head.

State-dict layout = the reference's (`patch_embed.*`, `layers.{i}.blocks.{j}.*`, `layers.{i}.downsample.*`,
`output_layer.{0,2,3}.*`). The embedding head is LayerNorm -> flatten all final tokens -> Linear -> BatchNorm1d.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import SwinConfig
from .block import SwinBlock
from .patch_embed import PatchEmbed
from .patch_merging import PatchMerging

EMBEDDING_DIM = 512


class SwinStage(nn.Module):
    def __init__(self, dim: int, resolution: tuple[int, int], depth: int, num_heads: int, window: int,
                 mlp_ratio: float, drop: float, drop_path_rates: list[float], downsample: bool):
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinBlock(dim, resolution, num_heads, window, 0 if i % 2 == 0 else window // 2, mlp_ratio, drop,
                      drop_path_rates[i])
            for i in range(depth)
        )
        self.downsample = PatchMerging(resolution, dim) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.downsample(x) if self.downsample is not None else x


class SwinTransformer(nn.Module):
    def __init__(self, cfg: SwinConfig):
        super().__init__()
        n_stages = len(cfg.depths)
        self.num_features = cfg.embed_dim * 2 ** (n_stages - 1)
        self.patch_embed = PatchEmbed(cfg.img_size, cfg.patch_size, cfg.in_chans, cfg.embed_dim)
        self.pos_drop = nn.Dropout(cfg.drop_rate)
        rates = torch.linspace(0, cfg.drop_path_rate, sum(cfg.depths), device="cpu").tolist()  # stochastic depth decay rule
        base = self.patch_embed.resolution
        self.layers = nn.ModuleList()
        for i in range(n_stages):
            resolution = (base[0] // 2**i, base[1] // 2**i)
            start = sum(cfg.depths[:i])
            self.layers.append(
                SwinStage(cfg.embed_dim * 2**i, resolution, cfg.depths[i], cfg.num_heads[i], cfg.window_size,
                          cfg.mlp_ratio, cfg.drop_rate, rates[start:start + cfg.depths[i]], i < n_stages - 1)
            )
        final = base[0] // 2 ** (n_stages - 1)
        final_tokens = final * final  # 49 for 224-pixel images (the reference hard-codes 49*768)
        self.output_layer = nn.Sequential(
            nn.LayerNorm(self.num_features),
            nn.Flatten(),
            nn.Linear(final_tokens * self.num_features, EMBEDDING_DIM),
            nn.BatchNorm1d(EMBEDDING_DIM),
        )

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        x = self.pos_drop(self.patch_embed(images))  # (B, 3136, C) at 224 px
        for stage in self.layers:
            x = stage(x)  # ... -> (B, 49, 8C)
        return self.output_layer(x)  # (B, 512)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # A single image is run as a batch of two copies (the reference does this so that BatchNorm1d has
        # a batch in training; in training it then sees zero variance, see the fixture README quirk 3).
        if len(images) == 1:
            return self.forward_features(torch.cat((images, images), dim=0))[:1]
        return self.forward_features(images)
