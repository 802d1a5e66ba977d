"""FFmpeg I/O (ffmpeg-python): probing clips, decoding frames into memory, 16 kHz mono audio.

Frames are decoded once per clip, straight into a numpy array (rawvideo pipe): nothing that looks at
pixels reads a frame from disk, and no full frame is written unless asked for.
"""

from __future__ import annotations

import fcntl
import subprocess
import tempfile
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
    n_source_frames: int = 0  # video packets = frames of the stream (counted by demuxing, not decoding)

    def frames_at(self, fps: float | None) -> int:
        """Frames that decoding at `fps` gives (ffmpeg's fps filter: one per tick over the stream's span,
        nearest rounding); the clip's own frames when `fps` is None."""
        if not fps or not self.fps:
            return self.n_source_frames
        return int(round(self.n_source_frames / self.fps * fps))


def probe_clip(path: str | Path) -> ClipInfo:
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: clip not found")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: clip is an empty file")
    try:
        meta = ffmpeg.probe(str(path), count_packets=None)
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
    packets = int(video.get("nb_read_packets") or video.get("nb_frames") or 0)
    return ClipInfo(str(path), int(video["width"]), int(video["height"]), fps, duration, has_audio, packets)


def decode_frames(info: ClipInfo, fps: float | None, n_frames: int | None = None) -> np.ndarray:
    """Decode the clip's video once into memory: (T, H, W, 3) uint8 RGB frames; `fps=None` keeps the
    clip's rate. Frame k is at time k / fps (the fps filter samples the nearest source frame to each tick).

    With `n_frames` (what `info.frames_at(fps)` promised the other stages) exactly that many frames come
    back: decoding stops there, and a short decode repeats its last frame as the fps filter does.
    Raises MediaError naming the clip when nothing can be decoded.

    The pipe is read straight into one preallocated array (no bytes object, no copy of it: a 1280x720 clip
    is ~200 MB), through a pipe buffer larger than the kernel's default 64 KiB.
    """
    video = ffmpeg.input(info.path).video
    if fps:
        video = video.filter("fps", fps=fps)
    options = {"format": "rawvideo", "pix_fmt": "rgb24"}
    if n_frames:
        options["frames:v"] = n_frames
    command = ffmpeg.output(video, "pipe:", **options).global_args("-nostdin", "-loglevel", "error").compile()
    frame_shape = (info.height, info.width, 3)
    frames = np.empty((max(1, n_frames or info.frames_at(fps)), *frame_shape), dtype=np.uint8)
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a chatty ffmpeg cannot block on it
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors)
        with process.stdout:
            _enlarge_pipe(process.stdout)
            filled = _read_into(process.stdout, frames)
            while not n_frames and filled == frames.nbytes:  # no frame count promised: grow as decoded
                frames = np.concatenate([frames, np.empty_like(frames)])
                filled = _read_into(process.stdout, frames, filled)
        process.wait()
        errors.seek(0)
        detail = errors.read().decode(errors="replace").strip().splitlines()
    if process.returncode:
        raise MediaError(f"{info.path}: frame decoding failed ({detail[-1] if detail else 'ffmpeg failed'})")
    frame_bytes = int(np.prod(frame_shape))
    if filled < frame_bytes or filled % frame_bytes:
        raise MediaError(f"{info.path}: no frame could be decoded ({filled} bytes for {info.width}x{info.height} frames)")
    n_decoded = filled // frame_bytes
    if n_frames:
        frames[n_decoded:] = frames[n_decoded - 1]  # a short decode repeats its last frame
        return frames
    return frames[:n_decoded]


def _read_into(stream, array: np.ndarray, start: int = 0) -> int:
    """Read `stream` into `array`'s bytes from byte `start` until the array is full or the stream ends;
    the bytes now filled."""
    view = memoryview(array).cast("B")
    filled = start
    while filled < len(view):
        count = stream.readinto(view[filled:])
        if not count:
            break
        filled += count
    return filled


def _enlarge_pipe(stream, size: int = 1 << 20) -> None:
    """Ask Linux for a larger pipe buffer (fewer reads and context switches); harmless where refused."""
    try:
        fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except OSError:
        pass


def extract_audio(path: str | Path, wav_path: str | Path, rate: int = AUDIO_RATE) -> None:
    """Write the clip's audio as 16-bit mono PCM WAV at `rate` Hz (the clip must have an audio stream)."""
    _run(_audio_output(path, wav_path, rate), path, "audio extraction")


def extract_audios(jobs: list[tuple[str | Path, str | Path]], rate: int = AUDIO_RATE, per_call: int = 32) -> dict:
    """`extract_audio` for many (clip, wav) pairs, `per_call` clips per ffmpeg run (one output per clip,
    the same WAVs as one run each: ffmpeg's start-up, ~0.1 s, is most of the cost of a short clip).
    A run that fails is redone clip by clip, so that only a broken clip fails: {wav path: its exception}
    (a MediaError naming the clip, or whatever else went wrong)."""
    failed = {}
    for start in range(0, len(jobs), per_call):
        chunk = jobs[start:start + per_call]
        try:
            _run(ffmpeg.merge_outputs(*(_audio_output(clip, wav, rate) for clip, wav in chunk)), chunk[0][0],
                 "audio extraction")
        except Exception:  # noqa: BLE001 - which clip broke it is found clip by clip
            for clip, wav in chunk:
                try:
                    extract_audio(clip, wav, rate)
                except Exception as err:  # noqa: BLE001 - returned to the caller, never lost
                    failed[wav] = err
    return failed


def _audio_output(path, wav_path, rate: int):
    return ffmpeg.input(str(path)).audio.output(str(wav_path), ac=1, ar=rate, acodec="pcm_s16le")


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
