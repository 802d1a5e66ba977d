"""FFmpeg I/O (ffmpeg-python): probing clips, sampling frames, 16 kHz mono audio."""

from __future__ import annotations

import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import ffmpeg
import numpy as np

AUDIO_RATE = 16_000


class MediaError(RuntimeError):
    """A clip that cannot be used (missing, empty, unreadable, no video); the message names the file."""


@dataclass(frozen=True)
class ClipInfo:
    path: str
    width: int
    height: int
    fps: float
    duration_s: float
    has_audio: bool


def probe_clip(path: str | Path) -> ClipInfo:
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: clip not found")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: clip is an empty file")
    try:
        meta = ffmpeg.probe(str(path))
    except ffmpeg.Error as err:
        detail = (err.stderr or b"").decode(errors="replace").strip().splitlines()
        raise MediaError(f"{path}: unreadable clip ({detail[-1] if detail else 'ffprobe failed'})") from err
    video = next((s for s in meta.get("streams", []) if s.get("codec_type") == "video"), None)
    if video is None:
        raise MediaError(f"{path}: no video stream")
    has_audio = any(s.get("codec_type") == "audio" for s in meta["streams"])
    rate = video.get("avg_frame_rate") or video.get("r_frame_rate") or "0/1"
    fps = float(Fraction(rate)) if rate not in ("0/0", "") else 0.0
    duration = float(meta.get("format", {}).get("duration") or video.get("duration") or 0.0)
    return ClipInfo(str(path), int(video["width"]), int(video["height"]), fps, duration, has_audio)


def extract_frames(path: str | Path, out_dir: str | Path, fps: float | None, quality: int = 2) -> int:
    """Decode once and write frames as `out_dir/%06d.jpg` (0-based); `fps=None` keeps the clip's rate.

    Frame k is at time k / fps (the fps filter samples the nearest source frame to each tick).
    Returns the number of frames written; raises MediaError when nothing can be decoded.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stream = ffmpeg.input(str(path))
    video = stream.video
    if fps:
        video = video.filter("fps", fps=fps)
    _run(ffmpeg.output(video, str(out_dir / "%06d.jpg"), start_number=0, **{"q:v": quality}), path, "frame decoding")
    count = len(list(out_dir.glob("*.jpg")))
    if count == 0:
        raise MediaError(f"{path}: no frame could be decoded")
    return count


def extract_audio(path: str | Path, wav_path: str | Path, rate: int = AUDIO_RATE) -> None:
    """Write the clip's audio as 16-bit mono PCM WAV at `rate` Hz (the clip must have an audio stream)."""
    _run(ffmpeg.input(str(path)).audio.output(str(wav_path), ac=1, ar=rate, acodec="pcm_s16le"), path, "audio extraction")


def _run(output, path, what: str) -> None:
    """Run an ffmpeg-python output quietly; a failure becomes a MediaError naming the clip."""
    try:
        output.global_args("-nostdin", "-loglevel", "error").overwrite_output().run(capture_stdout=True, capture_stderr=True)
    except ffmpeg.Error as err:
        detail = (err.stderr or b"").decode(errors="replace").strip().splitlines()
        raise MediaError(f"{path}: {what} failed ({detail[-1] if detail else 'ffmpeg failed'})") from err


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and the sample rate."""
    with wave.open(str(path), "rb") as handle:
        if handle.getsampwidth() != 2:
            raise MediaError(f"{path}: expected 16-bit PCM")
        rate, channels = handle.getframerate(), handle.getnchannels()
        samples = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2").astype(np.float32)
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return samples / 32768.0, rate


def frame_times(n_frames: int, fps: float) -> np.ndarray:
    return np.arange(n_frames, dtype=np.float64) / fps
