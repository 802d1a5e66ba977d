"""`ActiveSpeakerDetector`: one loaded TalkNet or Light-ASD checkpoint plus the reference scoring."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .light_asd import LightASD
from .scoring import (DURATIONS, align_lengths, batched_per_duration, combine_durations,
                      reference_per_duration, smooth_scores)
from .talknet import TalkNet

BACKENDS = {"talknet": TalkNet, "light_asd": LightASD}


@dataclass
class TrackScores:
    """Scores of one face track. N = aligned frames (<= T), T = the track's frames.

    final:        (N,) float64, the reference's per-frame score: float32 mean over durations rounded to
                  0.1. A raw class-1 logit scale; speaking means >= 0.
    smoothed:     (T,) float64, the reference's 5-frame smoothing of `final` over all T track frames.
                  NaN where the reference averages an empty window: frames more than 2 past the last
                  scored one (audio shorter than the track) and tracks of < 3 frames.
    mean:         (N,) float32, the unrounded mean over durations.
    per_duration: (len(durations), N) float32, one row per chunk duration (seconds).
    """

    final: np.ndarray
    smoothed: np.ndarray
    mean: np.ndarray
    per_duration: np.ndarray
    durations: tuple[int, ...]
    length_s: float
    n_audio_used: int
    n_video_used: int

    @property
    def speaking(self) -> np.ndarray:
        """(T,) bool: smoothed score >= 0 (the demo's green box)."""
        with np.errstate(invalid="ignore"):
            return self.smoothed >= 0


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class ActiveSpeakerDetector:
    def __init__(self, net: torch.nn.Module, backend: str, device: torch.device):
        self.net = net.eval()
        self.backend = backend
        self.device = device

    def score_track(self, video_gray112: np.ndarray, mfcc: np.ndarray, n_track_frames: int | None = None,
                    batched: bool = True) -> TrackScores:
        """Score one face track with the reference multi-duration procedure.

        video_gray112: (T, 112, 112) uint8 face crops at 25 fps (see `crop_track_gray112`).
        mfcc:          (Ta, 13) float MFCCs at 100 Hz of the track's audio (see `mfcc_16k`).
        n_track_frames: frames the smoothing runs over; default T.
        batched=False runs the literal reference loop (slow; same numbers to ~1e-5).
        """
        video = np.asarray(video_gray112)
        mfcc = np.asarray(mfcc)
        if video.ndim != 3 or video.shape[1:] != (112, 112):
            raise ValueError(f"video must be (T, 112, 112), got {video.shape}")
        if mfcc.ndim != 2 or mfcc.shape[1] != 13:
            raise ValueError(f"mfcc must be (Ta, 13), got {mfcc.shape}")
        n_track = len(video) if n_track_frames is None else int(n_track_frames)
        length, n_a, n_v = align_lengths(len(mfcc), len(video), self.backend)
        if n_v == 0:
            empty = np.zeros(0)
            return TrackScores(empty, np.full(n_track, np.nan), empty.astype(np.float32),
                               np.zeros((len(DURATIONS), 0), np.float32), DURATIONS, length, n_a, n_v)
        run = batched_per_duration if batched else reference_per_duration
        per_duration = run(self.net, video[:n_v], mfcc[:n_a], DURATIONS, device=self.device)
        mean, final = combine_durations(per_duration)
        return TrackScores(final, smooth_scores(final, n_track), mean, per_duration, DURATIONS, length, n_a, n_v)


def load_detector(backend: str, weights: str | Path, device: str = "auto") -> ActiveSpeakerDetector:
    """Build `backend` ("talknet" or "light_asd") and load an official checkpoint, unchanged.

    The checkpoint is the flat state_dict written by the official code (`model.*`, `lossAV.*`, ...);
    it is read with torch.load(map_location=device), so CUDA-saved files load on CPU.
    Parity was verified on CPU. On CUDA, PyTorch's default TF32 convolutions can move scores by ~1e-3;
    set torch.backends.cudnn.allow_tf32 = False where fp32 parity matters.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown ASD backend {backend!r}; choose from {sorted(BACKENDS)}")
    dev = resolve_device(device)
    net = BACKENDS[backend]()
    state = torch.load(Path(weights), map_location=dev)
    net.load_state_dict(state, strict=True)
    net.to(dev).eval()
    return ActiveSpeakerDetector(net, backend, dev)
