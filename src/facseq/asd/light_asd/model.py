"""Light-ASD (Liao et al., CVPR 2023): the full network and the checkpoint wrapper.

`LightASD` mirrors the state_dict layout of the official `ASD` class: `model.*` (the network),
`lossAV.*` (score head, 128-d) and `lossV.*` (auxiliary visual head, training only).

Inputs: video (B, T, 112, 112) gray values 0..255 as float; audio MFCC (B, 4T, 13) float.
"""

from __future__ import annotations

import torch
from torch import nn

from ..heads import ScoreHead
from .audio_encoder import AudioEncoder
from .classifier import BGRU
from .visual_encoder import VisualEncoder

VIDEO_MEAN, VIDEO_STD = 0.4161, 0.1688


def normalise_video(x: torch.Tensor) -> torch.Tensor:
    # x: (B, T, H, W) values 0..255 -> (B, 1, T, H, W) normalised
    return ((x / 255 - VIDEO_MEAN) / VIDEO_STD).unsqueeze(1)


class LightASDModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.visualEncoder = VisualEncoder()
        self.audioEncoder = AudioEncoder()
        self.GRU = BGRU(128)

    def forward_visual_frontend(self, v: torch.Tensor) -> torch.Tensor:
        # v: (B, T, 112, 112) 0..255 -> (B, T, 128)
        return self.visualEncoder(normalise_video(v))

    def forward_audio_frontend(self, a: torch.Tensor) -> torch.Tensor:
        # a: (B, Ta, 13) -> (B, Ta/4, 128)
        return self.audioEncoder(a.unsqueeze(1).transpose(2, 3))  # encoder sees (B, 1, 13, Ta)

    def forward_audio_visual_backend(self, a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        # a, v: (B, T, 128) -> (B, T, 128); fusion is a sum, not a concatenation
        return self.GRU(a + v)


class LightASD(nn.Module):
    """Checkpoint wrapper plus the two entry points the scoring code needs."""

    feature_halo = 6  # video frames of temporal reach of `frame_features` (visual 6, audio 17/4 -> 5)
    frame_dim = 128

    def __init__(self):
        super().__init__()
        self.model = LightASDModel()
        self.lossAV = ScoreHead(128)
        self.lossV = ScoreHead(128)

    # --- single forward pass, exactly the reference call sequence --------------------------------
    def intermediates(self, video: torch.Tensor, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        # video (B, T, 112, 112), audio (B, 4T, 13) -> dict of (B, T, ...) tensors
        m = self.model
        a = m.forward_audio_frontend(audio)
        v = m.forward_visual_frontend(video)
        av = m.forward_audio_visual_backend(a, v)
        return {
            "audio_embed": a,
            "visual_embed": v,
            "av_backend": av,
            "logits_v": self.lossV.logits(v),
            "score": self.lossAV(av),
        }

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        # video (B, T, 112, 112), audio (B, 4T, 13) -> scores (B, T)
        m = self.model
        return self.lossAV(m.forward_audio_visual_backend(m.forward_audio_frontend(audio), m.forward_visual_frontend(video)))

    # --- split entry points for the batched scorer -----------------------------------------------
    # Everything before the BGRU is local in time: an output frame sees +-6 video frames through the
    # visual encoder and +-17 audio frames (< 5 video frames) through the audio encoder. So the fused
    # per-frame features a + v of a chunk equal those of the whole track except near chunk edges.
    def frame_features(self, video: torch.Tensor, audio: torch.Tensor, keep: tuple[int, int]) -> torch.Tensor:
        """Fused per-frame features (audio + visual embedding) of each item as a standalone sequence.

        video (B, L, 112, 112), audio (B, 4L, 13) -> (B, keep[1]-keep[0], 128) for frames keep[0]:keep[1].
        """
        m = self.model
        a = m.forward_audio_frontend(audio)[:, keep[0]:keep[1]]
        v = m.forward_visual_frontend(video)[:, keep[0]:keep[1]]
        return a + v

    def chunk_scores(self, feats: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        # feats (B, L, 128) fused features of one chunk (audio unused here) -> scores (B, L)
        return self.lossAV(self.model.GRU(feats))
