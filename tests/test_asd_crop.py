"""Preprocessing parity (crop, MFCC) and the whole project path on the Light-ASD fixture's source clip.

Fixtures: ../shared/fixtures/asd/light_asd (or $FACSEQ_SHARED/fixtures/asd/light_asd). Skips when absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from facseq.asd import crop_track_gray112, load_detector, mfcc_16k  # noqa: E402


def _asd_fixtures() -> Path:
    env = os.environ.get("FACSEQ_SHARED")
    shared = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared"
    return shared / "fixtures" / "asd"


LA = _asd_fixtures() / "light_asd"
CLIP = LA / "source" / "WDA_AlexandriaOcasioCortez_000.mp4"

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not LA.is_dir(), reason=f"Light-ASD fixtures not found at {LA} (set FACSEQ_SHARED)"),
]


def _read_bgr_frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


@pytest.fixture(scope="module")
def clip_frames():
    if not CLIP.is_file():
        pytest.skip(f"source clip {CLIP} missing")
    frames = _read_bgr_frames(CLIP)
    assert len(frames) == 200
    return frames


def test_crop_from_fixture_boxes(clip_frames):
    """The fixture's own track boxes through our crop give the fixture's model input."""
    boxes = np.load(LA / "face_track.npz")["track_box_xyxy"]
    got = crop_track_gray112(clip_frames, boxes)
    want = np.load(LA / "video_gray112.npy")
    assert got.shape == want.shape == (200, 112, 112) and got.dtype == np.uint8
    if cv2.__version__.startswith("5.0.0"):  # the fixture's OpenCV build: bit exact
        np.testing.assert_array_equal(got, want)
    else:  # another decoder / resize build may differ in the last bit
        assert np.abs(got.astype(int) - want).mean() < 1.0


@pytest.mark.parametrize("cond", ["matched", "mismatched"])
def test_mfcc_matches_fixture(cond):
    from scipy.io import wavfile

    sr, audio = wavfile.read(LA / f"audio_{cond}_16k_mono.wav")
    assert sr == 16000 and audio.dtype == np.int16
    got = mfcc_16k(audio)
    want = np.load(LA / f"audio_mfcc_{cond}.npy")  # float64 reference
    assert got.shape == want.shape == (799, 13)
    np.testing.assert_array_equal(got, want.astype(np.float32))


def _detect_track(frames: list[np.ndarray]) -> np.ndarray:
    """Highest-probability MTCNN box per frame (as the fixture did), gaps filled linearly."""
    torch = pytest.importorskip("torch")
    facenet = pytest.importorskip("facenet_pytorch")
    torch.manual_seed(0)
    mtcnn = facenet.MTCNN(keep_all=True, device="cpu")
    boxes = np.full((len(frames), 4), np.nan)
    for i in range(0, len(frames), 50):
        rgb = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames[i:i + 50]]
        det, prob = mtcnn.detect(rgb)
        for j, (b, p) in enumerate(zip(det, prob)):
            if b is not None and np.max(p) >= 0.9:
                boxes[i + j] = b[int(np.argmax(p))]
    ok = ~np.isnan(boxes[:, 0])
    assert ok.sum() >= 0.9 * len(frames)
    idx = np.arange(len(frames))
    return np.stack([np.interp(idx, idx[ok], boxes[ok, k]) for k in range(4)], axis=1)


def _audio_16k(tmp_path: Path) -> np.ndarray:
    from scipy.io import wavfile

    wav = LA / "audio_matched_16k_mono.wav"
    if shutil.which("ffmpeg"):  # the demo's own extraction command
        wav = tmp_path / "clip.wav"
        subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(CLIP), "-async", "1", "-ac", "1", "-vn",
                        "-acodec", "pcm_s16le", "-ar", "16000", "-threads", "1", "-ss", "0.000", "-to", "8.000",
                        str(wav)], check=True)
    sr, audio = wavfile.read(wav)
    assert sr == 16000
    return audio


@pytest.mark.slow
def test_project_path_on_source_clip(clip_frames, tmp_path):
    """Detector -> crop -> MFCC -> Light-ASD on the raw clip lands on the fixture's scores."""
    boxes = _detect_track(clip_frames)
    video = crop_track_gray112(clip_frames, boxes)
    assert np.abs(video.astype(int) - np.load(LA / "video_gray112.npy")).mean() < 2.0

    det = load_detector("light_asd", LA / "finetuning_TalkSet.model", device="cpu")
    res = det.score_track(video, mfcc_16k(_audio_16k(tmp_path)))
    want = np.load(LA / "expected_matched_final_rounded.npy")
    assert res.final.shape == want.shape
    assert np.abs(res.final - want).mean() < 0.1
    assert np.mean((res.final >= 0) == (want >= 0)) >= 0.95
    want_sm = np.load(LA / "expected_matched_smoothed.npy")
    assert np.mean(res.speaking == (want_sm >= 0)) >= 0.95
