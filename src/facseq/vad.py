"""Neural voice-activity detection: Silero VAD's speech probability at every video frame.

The paper's third speaking rule (App. A.1, after Zhao et al. 2022a) asks which frames *have speech* and
whether the lips move with it. Raw audio energy cannot say that: laughter, music and noise are loud too.
Silero VAD scores 32 ms chunks (512 samples at 16 kHz) of the clip's 16 kHz mono audio; its TorchScript
model ships inside the `silero-vad` wheel, so nothing is downloaded.
"""

from __future__ import annotations

import warnings

import numpy as np

VAD_RATE = 16000  # the model's rate, and the media stage's
CHUNK_SAMPLES = 512  # one model step at 16 kHz (32 ms)


class SpeechDetector:
    """Silero VAD loaded once (per batch job); `speech_at_frames` scores one clip."""

    def __init__(self, threads: int | None = None):
        import torch
        from silero_vad import load_silero_vad

        if threads:
            torch.set_num_threads(threads)
        with warnings.catch_warnings():  # deprecation notices of torch.jit.load and importlib, not ours
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            self.model = load_silero_vad()
        self._torch = torch

    def chunk_probabilities(self, samples: np.ndarray, rate: int) -> np.ndarray:
        """(S,) mono samples in [-1, 1] at 16 kHz -> (ceil(S / 512),) speech probability per 32 ms chunk."""
        if rate != VAD_RATE:
            raise ValueError(f"Silero VAD needs {VAD_RATE} Hz audio, got {rate} Hz")
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if len(samples) == 0:
            return np.zeros(0, dtype=np.float32)
        with self._torch.no_grad():
            probs = self.model.audio_forward(self._torch.from_numpy(samples), VAD_RATE)  # (1, chunks)
        return probs[0].numpy().astype(np.float32)

    def speech_at_frames(self, samples: np.ndarray, rate: int, frame_times: np.ndarray) -> np.ndarray:
        """Speech probability (0..1) at each frame time (seconds), shape (T,)."""
        return probability_at_times(self.chunk_probabilities(samples, rate), CHUNK_SAMPLES / VAD_RATE, frame_times)


def probability_at_times(chunk_probs: np.ndarray, chunk_s: float, times: np.ndarray) -> np.ndarray:
    """Chunk probabilities (chunk i covers [i, i+1) * chunk_s) interpolated at `times` -> (T,).

    Times past the audio's end get 0 (no audio, no speech)."""
    times = np.asarray(times, dtype=np.float64)
    chunk_probs = np.asarray(chunk_probs, dtype=np.float64)
    if len(chunk_probs) == 0:
        return np.zeros(len(times))
    centres = (np.arange(len(chunk_probs)) + 0.5) * chunk_s
    out = np.interp(times, centres, chunk_probs)
    out[times >= len(chunk_probs) * chunk_s] = 0.0
    return out
