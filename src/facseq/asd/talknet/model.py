"""TalkNet (Tao et al., ACM MM 2021): the full network and the checkpoint wrapper.

`TalkNet` mirrors the state_dict layout of the official `talkNet` class: `model.*` (the network),
`lossAV.*` (score head, 256-d), `lossA.*` / `lossV.*` (auxiliary 128-d heads, training only).

Inputs: video (B, T, 112, 112) gray values 0..255 as float; audio MFCC (B, 4T, 13) float.
"""

from __future__ import annotations

import torch
from torch import nn

from ..heads import ScoreHead
from .attention import AttentionLayer
from .audio_encoder import AudioEncoder
from .visual_frontend import VisualFrontend
from .visual_tcn import VisualConv1D, VisualTCN

VIDEO_MEAN, VIDEO_STD = 0.4161, 0.1688


def normalise_video(x: torch.Tensor) -> torch.Tensor:
    # x: (B, T, H, W) values 0..255 -> (B, 1, T, H, W) normalised
    return ((x / 255 - VIDEO_MEAN) / VIDEO_STD).unsqueeze(1)


class TalkNetModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.visualFrontend = VisualFrontend()
        self.visualTCN = VisualTCN()
        self.visualConv1D = VisualConv1D()
        self.audioEncoder = AudioEncoder(layers=(3, 4, 6, 3), filters=(16, 32, 64, 128))
        self.crossA2V = AttentionLayer(d_model=128, n_heads=8)
        self.crossV2A = AttentionLayer(d_model=128, n_heads=8)
        self.selfAV = AttentionLayer(d_model=256, n_heads=8)

    def forward_audio_frontend(self, a: torch.Tensor) -> torch.Tensor:
        # a: (B, Ta, 13) -> (B, Ta/4, 128)
        return self.audioEncoder(a.unsqueeze(1).transpose(2, 3))  # encoder sees (B, 1, 13, Ta)

    def visual_temporal(self, f: torch.Tensor) -> torch.Tensor:
        # f: (B, T, 512) per-frame front-end features -> (B, T, 128)
        x = self.visualTCN(f.transpose(1, 2))  # (B, 512, T)
        return self.visualConv1D(x).transpose(1, 2)  # (B, T, 128)

    def forward_visual_frontend(self, v: torch.Tensor) -> torch.Tensor:
        # v: (B, T, 112, 112) 0..255 -> (B, T, 128)
        return self.visual_temporal(self.visualFrontend(normalise_video(v)))

    def forward_cross_attention(self, a: torch.Tensor, v: torch.Tensor):
        # a, v: (B, T, 128) -> (B, T, 128) each
        a_c = self.crossA2V(src=a, tar=v)  # audio + attn(q=video, k=v=audio)
        v_c = self.crossV2A(src=v, tar=a)  # video + attn(q=audio, k=v=video)
        return a_c, v_c

    def forward_audio_visual_backend(self, a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        # a, v: (B, T, 128) -> (B, T, 256); the reference then flattens to (B*T, 256)
        x = torch.cat((a, v), dim=2)
        return self.selfAV(src=x, tar=x)


class TalkNet(nn.Module):
    """Checkpoint wrapper plus the two entry points the scoring code needs."""

    feature_halo = 2  # video frames of temporal context in `frame_features` (Conv3d k=5)
    frame_dim = 512

    def __init__(self):
        super().__init__()
        self.model = TalkNetModel()
        self.lossAV = ScoreHead(256)
        self.lossA = ScoreHead(128)
        self.lossV = ScoreHead(128)

    # --- single forward pass, exactly the reference call sequence --------------------------------
    def intermediates(self, video: torch.Tensor, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        # video (B, T, 112, 112), audio (B, 4T, 13) -> dict of (B, T, ...) tensors
        m = self.model
        a = m.forward_audio_frontend(audio)
        v = m.forward_visual_frontend(video)
        a_c, v_c = m.forward_cross_attention(a, v)
        av = m.forward_audio_visual_backend(a_c, v_c)
        logits_av = self.lossAV.logits(av)
        return {
            "audio_embed": a,
            "visual_embed": v,
            "audio_cross": a_c,
            "visual_cross": v_c,
            "av_backend": av,
            "logits_av": logits_av,
            "logits_a": self.lossA.logits(a_c),
            "logits_v": self.lossV.logits(v_c),
            "score": logits_av[..., 1],
        }

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        # video (B, T, 112, 112), audio (B, 4T, 13) -> scores (B, T)
        m = self.model
        a_c, v_c = m.forward_cross_attention(m.forward_audio_frontend(audio), m.forward_visual_frontend(video))
        return self.lossAV(m.forward_audio_visual_backend(a_c, v_c))

    # --- split entry points for the batched scorer -----------------------------------------------
    def frame_features(self, video: torch.Tensor, audio: torch.Tensor | None, keep: tuple[int, int],
                       frames_per_batch: int = 64) -> torch.Tensor:
        """Per-frame 512-d visual features of each item as a standalone sequence, frames keep[0]:keep[1].

        video (B, L, 112, 112) -> (B, keep[1]-keep[0], 512). The ResNet runs only on kept frames.
        `audio` is unused: the audio encoder's SE gates pool over the whole chunk, so TalkNet's audio
        path runs per chunk in `chunk_scores`.
        """
        fe = self.model.visualFrontend
        x = fe.stem(normalise_video(video))[:, :, keep[0]:keep[1]]  # (B, 64, K, 28, 28)
        b, c, k, h, w = x.shape
        x = x.transpose(1, 2).reshape(b * k, c, h, w)
        out = torch.cat([fe.resnet(x[i:i + frames_per_batch]) for i in range(0, b * k, frames_per_batch)])
        return out.view(b, k, 512)

    def chunk_scores(self, feats: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        # feats (B, L, 512) front-end features of one chunk, audio (B, 4L, 13) -> scores (B, L)
        m = self.model
        v = m.visual_temporal(feats)
        a_c, v_c = m.forward_cross_attention(m.forward_audio_frontend(audio), v)
        return self.lossAV(m.forward_audio_visual_backend(a_c, v_c))
