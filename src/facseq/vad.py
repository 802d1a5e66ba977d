"""Neural voice-activity detection: Silero VAD's speech probability at every video frame.

The paper's third speaking rule (App. A.1, after Zhao et al. 2022a) asks which frames *have speech* and
whether the lips move with it. Raw audio energy cannot say that: laughter, music and noise are loud too.
Silero VAD scores 32 ms chunks (512 samples at 16 kHz) of the clip's 16 kHz mono audio. Its ONNX model
ships inside the `silero-vad` wheel (nothing is downloaded) and runs on onnxruntime: the wheel's Python
code imports torch (1.3-1.6 s per job) only to wrap the same network; probabilities agree with its
TorchScript model to within 3e-6.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

VAD_RATE = 16000  # the model's rate, and the media stage's
CHUNK_SAMPLES = 512  # one model step at 16 kHz (32 ms)
CONTEXT_SAMPLES = 64  # each step also sees the previous chunk's last 64 samples (silero's OnnxWrapper)
STATE_SHAPE = (2, 1, 128)  # the recurrent state carried from chunk to chunk


def silero_onnx_path() -> Path:
    """`silero_vad.onnx` inside the installed wheel, found without importing the package (which imports torch)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the silero-vad package is not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: Silero VAD's ONNX model is missing from the silero-vad package")
    return path


class SpeechDetector:
    """Silero VAD loaded once (per batch job); `speech_at_frames` scores one clip."""

    def __init__(self, threads: int | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(silero_onnx_path()), sess_options=options,
                                                    providers=["CPUExecutionProvider"])

    def chunk_probabilities(self, samples: np.ndarray, rate: int) -> np.ndarray:
        """(S,) mono samples in [-1, 1] at 16 kHz -> (ceil(S / 512),) speech probability per 32 ms chunk."""
        if rate != VAD_RATE:
            raise ValueError(f"Silero VAD needs {VAD_RATE} Hz audio, got {rate} Hz")
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        n_chunks = -(-len(samples) // CHUNK_SAMPLES)
        padded = np.zeros(CONTEXT_SAMPLES + n_chunks * CHUNK_SAMPLES, dtype=np.float32)  # zero context, zero tail
        padded[CONTEXT_SAMPLES:CONTEXT_SAMPLES + len(samples)] = samples
        state, rate_input = np.zeros(STATE_SHAPE, dtype=np.float32), np.array(VAD_RATE, dtype=np.int64)
        probs = np.zeros(n_chunks, dtype=np.float32)
        for k in range(n_chunks):  # (1, 64 + 512): the previous chunk's tail, then this chunk
            window = padded[None, k * CHUNK_SAMPLES:(k + 1) * CHUNK_SAMPLES + CONTEXT_SAMPLES]
            out, state = self.session.run(None, {"input": window, "state": state, "sr": rate_input})
            probs[k] = out[0, 0]
        return probs

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
