"""facseq.media on tiny clips made with the ffmpeg CLI: probing, in-memory frame decoding, 16 kHz mono audio,
and a MediaError naming the file for every unusable input."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from facseq.media import (AUDIO_RATE, ClipInfo, MediaError, decode_frames, extract_audio, extract_audios, frame_times,
                          probe_clip, read_wav)

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="the ffmpeg CLI is not installed")

NTSC = 24000 / 1001  # MELD's frame rate


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    out = {name: folder / name for name in
           ("av.mp4", "silent.mp4", "audio_only.m4a", "empty.mp4", "garbage.mp4", "stereo44k.mp4")}
    video = ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=24000/1001:duration=1"]
    h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    ffmpeg(*video, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1",
           *h264, "-c:a", "aac", "-shortest", str(out["av.mp4"]))
    ffmpeg(*video, *h264, str(out["silent.mp4"]))
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=1", "-c:a", "aac", str(out["audio_only.m4a"]))
    # 2 s: 1 s of tone then 1 s of silence, stereo 44.1 kHz
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=2",
           "-f", "lavfi", "-i", "aevalsrc=if(lt(t\\,1)\\,0.5*sin(2*PI*500*t)\\,0)|if(lt(t\\,1)\\,0.5*sin(2*PI*500*t)\\,0):s=44100:d=2",
           *h264, "-c:a", "aac", "-shortest", str(out["stereo44k.mp4"]))
    out["empty.mp4"].write_bytes(b"")
    out["garbage.mp4"].write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    out["missing"] = folder / "nowhere" / "dia1_utt1.mp4"
    return out


# ------------------------------------------------------------------------------ probe_clip
def test_probe_clip_with_audio(clips):
    info = probe_clip(clips["av.mp4"])
    assert info.path == str(clips["av.mp4"])
    assert (info.width, info.height) == (160, 120)
    assert info.fps == pytest.approx(NTSC, abs=1e-3)
    assert info.duration_s == pytest.approx(1.0, abs=0.1)
    assert info.has_audio is True


def test_probe_clip_without_audio(clips):
    info = probe_clip(clips["silent.mp4"])
    assert info.has_audio is False
    assert info.fps == pytest.approx(NTSC, abs=1e-3)
    assert info.duration_s == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("name,words", [
    ("missing", "not found"),
    ("empty.mp4", "empty"),
    ("garbage.mp4", "unreadable"),
    ("audio_only.m4a", "no video"),
])
def test_probe_bad_inputs_name_the_file(clips, name, words):
    with pytest.raises(MediaError) as info:
        probe_clip(clips[name])
    assert str(clips[name]) in str(info.value)
    assert words in str(info.value)


# ------------------------------------------------------------------------------ decode_frames
@pytest.mark.parametrize("fps", [25.0, None])
def test_decode_frames_count_shape_and_promised_count(clips, fps):
    info = probe_clip(clips["av.mp4"])
    frames = decode_frames(info, fps)
    assert frames.dtype == np.uint8 and frames.shape[1:] == (120, 160, 3)
    assert len(frames) == info.frames_at(fps)  # what extract_media records, without decoding
    assert abs(len(frames) - (fps or info.fps) * info.duration_s) <= 1


def test_decode_frames_native_rate_keeps_every_frame(clips):
    # 1 s of 23.976 fps video holds 24 frames
    info = probe_clip(clips["silent.mp4"])
    assert info.n_source_frames == 24 and len(decode_frames(info, None)) == 24
    assert len(decode_frames(info, 10)) in (10, 11)


def test_decode_frames_exact_count_caps_and_pads(clips):
    info = probe_clip(clips["av.mp4"])
    frames = decode_frames(info, 25.0)
    assert np.array_equal(decode_frames(info, 25.0, 10), frames[:10])
    padded = decode_frames(info, 25.0, len(frames) + 2)  # a short decode repeats its last frame
    assert len(padded) == len(frames) + 2 and np.array_equal(padded[-1], frames[-1])


@pytest.mark.parametrize("fps,n_frames", [(25.0, None), (25.0, 30), (None, None), (10.0, 12)])
def test_decode_frames_bit_identical_to_the_cli(clips, fps, n_frames):
    # the pipe is read into a preallocated array: the frames must be exactly the CLI's rawvideo bytes
    info = probe_clip(clips["av.mp4"])
    args = ["-i", str(clips["av.mp4"])] + (["-vf", f"fps=fps={fps}"] if fps else []) + ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"]
    raw = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", *args], check=True, capture_output=True).stdout
    expected = np.frombuffer(raw, np.uint8).reshape(-1, 120, 160, 3)
    frames = decode_frames(info, fps, n_frames)
    if n_frames:
        expected = np.concatenate([expected, np.repeat(expected[-1:], max(0, n_frames - len(expected)), axis=0)])[:n_frames]
    assert frames.shape == expected.shape and np.array_equal(frames, expected)


def test_decode_frames_without_a_count_takes_every_frame_whatever_the_probe_said(clips):
    # no frame count promised and a probe that undercounts: the array grows until the stream ends
    good = probe_clip(clips["av.mp4"])
    undercounted = ClipInfo(good.path, good.width, good.height, good.fps, good.duration_s, good.has_audio, 1)
    assert np.array_equal(decode_frames(undercounted, 25.0), decode_frames(good, 25.0))


def test_decode_frames_follow_time(clips):
    # testsrc2 frames all differ: resampled frames at 25 fps must be in order, none duplicated twice in a row
    # more often than the 25/23.976 rate change allows (one duplicate per second)
    images = decode_frames(probe_clip(clips["av.mp4"]), 25).astype(np.int16)
    repeats = sum(np.abs(a - b).mean() < 1.0 for a, b in zip(images, images[1:]))
    assert repeats <= 2


def test_decode_frames_bad_input_names_the_file(clips):
    # probing catches most bad clips (test_probe_bad_inputs_name_the_file); a clip that probes but does not
    # decode (here: a garbage file behind a good probe) still gets a MediaError naming it
    good = probe_clip(clips["av.mp4"])
    broken = type(good)(str(clips["garbage.mp4"]), good.width, good.height, good.fps, good.duration_s, False, 24)
    with pytest.raises(MediaError) as info:
        decode_frames(broken, 25)
    assert str(clips["garbage.mp4"]) in str(info.value)


# ------------------------------------------------------------------------------ extract_audio / read_wav
def test_extract_audio_16k_mono(clips, tmp_path):
    wav_path = tmp_path / "a.wav"
    extract_audio(clips["av.mp4"], wav_path)
    with wave.open(str(wav_path), "rb") as handle:
        assert handle.getnchannels() == 1
        assert handle.getframerate() == AUDIO_RATE == 16_000
        assert handle.getsampwidth() == 2
    samples, rate = read_wav(wav_path)
    assert rate == 16_000
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert len(samples) / rate == pytest.approx(1.0, abs=0.06)
    assert np.abs(samples).max() <= 1.0
    assert np.sqrt(np.mean(samples**2)) > 0.01  # the tone is there
    # its pitch survived: 440 Hz dominates the spectrum
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()] == pytest.approx(440, abs=3)


def test_extract_audio_downmixes_and_keeps_timing(clips, tmp_path):
    wav_path = tmp_path / "s.wav"
    extract_audio(clips["stereo44k.mp4"], wav_path, rate=16_000)
    samples, rate = read_wav(wav_path)
    assert rate == 16_000
    assert len(samples) / rate == pytest.approx(2.0, abs=0.06)
    first, second = samples[int(0.1 * rate) : int(0.9 * rate)], samples[int(1.1 * rate) : int(1.9 * rate)]
    assert np.sqrt(np.mean(first**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)  # tone kept at level
    assert np.sqrt(np.mean(second**2)) < 0.01  # silence kept in place


@pytest.mark.parametrize("name", ["missing", "empty.mp4", "garbage.mp4", "silent.mp4"])
def test_extract_audio_bad_inputs_name_the_file(clips, tmp_path, name):
    with pytest.raises(MediaError) as info:
        extract_audio(clips[name], tmp_path / "a.wav")
    assert str(clips[name]) in str(info.value)
    assert "audio extraction failed" in str(info.value)


def test_extract_audios_writes_what_extract_audio_writes(clips, tmp_path):
    sources = [clips["av.mp4"], clips["stereo44k.mp4"], clips["av.mp4"]]
    jobs = [(clip, tmp_path / f"batch{k}.wav") for k, clip in enumerate(sources)]
    assert extract_audios(jobs, per_call=2) == {}  # two ffmpeg runs: 2 clips, then 1
    for k, clip in enumerate(sources):
        extract_audio(clip, tmp_path / f"alone{k}.wav")
        assert (tmp_path / f"batch{k}.wav").read_bytes() == (tmp_path / f"alone{k}.wav").read_bytes()


def test_extract_audios_a_broken_clip_fails_alone(clips, tmp_path):
    jobs = [(clips["av.mp4"], tmp_path / "a.wav"), (clips["silent.mp4"], tmp_path / "s.wav"),
            (clips["garbage.mp4"], tmp_path / "g.wav"), (clips["stereo44k.mp4"], tmp_path / "b.wav")]
    failed = extract_audios(jobs)
    assert set(failed) == {tmp_path / "s.wav", tmp_path / "g.wav"}
    for wav, clip in ((tmp_path / "s.wav", "silent.mp4"), (tmp_path / "g.wav", "garbage.mp4")):
        assert isinstance(failed[wav], MediaError) and str(clips[clip]) in str(failed[wav])
    assert read_wav(tmp_path / "a.wav")[1] == read_wav(tmp_path / "b.wav")[1] == AUDIO_RATE
    assert extract_audios([]) == {}


def test_read_wav_stereo_and_sample_width(tmp_path):
    stereo = tmp_path / "stereo.wav"
    with wave.open(str(stereo), "wb") as handle:
        handle.setnchannels(2)
        handle.setsampwidth(2)
        handle.setframerate(8000)
        handle.writeframes(np.array([[16384, 0], [-32768, -32768], [100, 300]], dtype="<i2").tobytes())
    samples, rate = read_wav(stereo)
    assert rate == 8000
    np.testing.assert_allclose(samples, [0.25, -1.0, 200 / 32768])
    eight = tmp_path / "u8.wav"
    with wave.open(str(eight), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(1)
        handle.setframerate(8000)
        handle.writeframes(bytes([128, 129, 127]))
    with pytest.raises(MediaError, match="16-bit"):
        read_wav(eight)


def test_frame_times():
    np.testing.assert_allclose(frame_times(4, 25.0), [0.0, 0.04, 0.08, 0.12])
    assert frame_times(0, 25.0).shape == (0,)
