"""Public ASD API: downloader, length alignment, chunking, smoothing, input checks. No fixtures needed."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from facseq.asd import CHECKPOINTS, download_model, load_detector, mfcc_16k, sha256_file
from facseq.asd.detector import ActiveSpeakerDetector
from facseq.asd.light_asd import LightASD
from facseq.asd.preprocess import crop_track_gray112
from facseq.asd.scoring import (DURATIONS, align_lengths, batched_per_duration, chunk_bounds,
                                combine_durations, reference_per_duration, smooth_scores)
from facseq.asd.talknet import TalkNet


# ------------------------------------------------------------------------------- download_model
def test_download_model_file_url(tmp_path):
    payload = b"not really a checkpoint\x00" * 1000
    src = tmp_path / "src.bin"
    src.write_bytes(payload)
    good = hashlib.sha256(payload).hexdigest()
    dest = tmp_path / "models" / "w.model"

    assert download_model(src.as_uri(), dest, good) == dest
    assert dest.read_bytes() == payload and sha256_file(dest) == good

    # an existing, verified file is kept (the source is not read again)
    src.unlink()
    assert download_model(src.as_uri(), dest, good.upper()) == dest


def test_download_model_bad_sha_writes_nothing(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"abc" * 100)
    dest = tmp_path / "w.model"
    with pytest.raises(ValueError, match="sha256 mismatch"):
        download_model(src.as_uri(), dest, "0" * 64)
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == [src]  # no temporary file left behind


def test_download_model_replaces_corrupt_file_and_refuses_html(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"weights")
    dest = tmp_path / "w.model"
    dest.write_bytes(b"truncated")
    download_model(src.as_uri(), dest, hashlib.sha256(b"weights").hexdigest())
    assert dest.read_bytes() == b"weights"

    page = tmp_path / "page.html"
    page.write_bytes(b"<!DOCTYPE html><html>confirm download</html>")
    with pytest.raises(ValueError, match="HTML"):
        download_model(page.as_uri(), tmp_path / "x.model", None)
    assert not (tmp_path / "x.model").exists()


def test_checkpoint_table():
    assert {c.backend for c in CHECKPOINTS.values()} == {"talknet", "light_asd"}
    for c in CHECKPOINTS.values():
        assert c.url.startswith("https://") and c.file_name.endswith(".model")
        assert c.sha256 is None or len(c.sha256) == 64


# -------------------------------------------------------------------------- scoring procedure
def test_align_lengths():
    assert align_lengths(551, 137, "talknet") == (5.48, 548, 137)
    assert align_lengths(799, 200, "light_asd") == (7.96, 796, 199)
    assert align_lengths(799, 200, "talknet") == (7.96, 796, 199)
    # video shorter than audio: TalkNet cuts the audio; Light-ASD's reference would break, we fall back
    assert align_lengths(1000, 100, "talknet") == (4.0, 400, 100)
    assert align_lengths(1000, 100, "light_asd") == (4.0, 400, 100)
    assert align_lengths(3, 10, "talknet")[1:] == (0, 0)
    with pytest.raises(ValueError):
        align_lengths(10, 10, "nope")


def test_chunk_bounds():
    assert chunk_bounds(5.48, 2, 548, 137) == [(0, 200, 0, 50), (200, 400, 50, 100), (400, 548, 100, 137)]
    assert chunk_bounds(6.0, 3, 600, 150) == [(0, 300, 0, 75), (300, 600, 75, 150)]
    assert DURATIONS == (1, 2, 3, 4, 5, 6)


def test_combine_and_smooth():
    per = np.array([[0.04, 0.16, -0.26, 1.0]] * 6, dtype=np.float32)
    mean, final = combine_durations(per)
    assert mean.dtype == np.float32 and final.dtype == np.float64
    np.testing.assert_allclose(final, [0.0, 0.2, -0.3, 1.0], atol=1e-6)
    # upper bound len-1: the last score is never used; windows run over the track's frames
    sm = smooth_scores(np.array([1.0, 2.0, 3.0, 100.0]), 5)
    np.testing.assert_allclose(sm, [2.0, 2.0, 2.0, 2.5, 3.0])
    assert np.isnan(smooth_scores(np.array([1.0]), 2)).all()


# ----------------------------------------------------------------------- models without weights
@pytest.mark.parametrize("cls", [TalkNet, LightASD])
def test_random_model_batched_equals_loop(cls):
    torch.manual_seed(0)
    net = cls().eval()
    for m in net.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (31, 112, 112), dtype=np.uint8)  # d=1: chunks of 25 + 5 frames
    mfcc = rng.normal(0, 8, (126, 13)).astype(np.float32)
    backend = "talknet" if cls is TalkNet else "light_asd"
    _, n_a, n_v = align_lengths(len(mfcc), len(video), backend)
    ref = reference_per_duration(net, video[:n_v], mfcc[:n_a])
    got = batched_per_duration(net, video[:n_v], mfcc[:n_a], tile=8, max_frames=20)
    np.testing.assert_allclose(got, ref, atol=1e-4)

    det = ActiveSpeakerDetector(net, backend, torch.device("cpu"))
    res = det.score_track(video[:14], mfcc[:57])
    assert res.final.shape == (14,) and res.smoothed.shape == (14,) and res.per_duration.shape == (6, 14)
    empty = det.score_track(video[:3], mfcc[:2])
    assert empty.final.shape == (0,) and np.isnan(empty.smoothed).all()


def test_input_checks(tmp_path):
    with pytest.raises(ValueError, match="unknown ASD backend"):
        load_detector("syncnet", tmp_path / "x.model")
    det = ActiveSpeakerDetector(LightASD(), "light_asd", torch.device("cpu"))
    with pytest.raises(ValueError):
        det.score_track(np.zeros((10, 64, 64), np.uint8), np.zeros((40, 13), np.float32))
    with pytest.raises(ValueError):
        det.score_track(np.zeros((10, 112, 112), np.uint8), np.zeros((40, 12), np.float32))
    with pytest.raises(ValueError):
        mfcc_16k(np.zeros((2, 16000), np.int16))
    with pytest.raises(ValueError):
        mfcc_16k(np.zeros(16000, np.int16), sample_rate=8000)
    frames = [np.zeros((64, 64, 3), np.uint8)] * 5
    with pytest.raises(ValueError, match="too short"):
        crop_track_gray112(frames, np.tile([10, 10, 40, 40], (5, 1)))


def test_mfcc_shapes_and_float_input():
    rng = np.random.default_rng(1)
    audio = (rng.normal(0, 3000, 16000)).astype(np.int16)
    m = mfcc_16k(audio)
    assert m.shape == (99, 13) and m.dtype == np.float32  # 1 + ceil((16000 - 400) / 160)
    np.testing.assert_array_equal(mfcc_16k(audio / 32768.0), m)


def test_crop_track_synthetic():
    frames = np.full((12, 240, 320, 3), 200, np.uint8)
    boxes = np.tile([100.0, 60.0, 180.0, 160.0], (12, 1))
    out = crop_track_gray112(frames, boxes)
    assert out.shape == (12, 112, 112) and out.dtype == np.uint8
    rgb = crop_track_gray112(frames[..., ::-1], boxes, color="rgb")
    np.testing.assert_array_equal(out, rgb)
