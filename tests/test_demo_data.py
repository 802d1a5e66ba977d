"""Verify the synthetic MELD-layout demo data set (facseq.demo).

The data set is generated once per module into a temporary directory; the
checks then use independent tools on the *encoded* clips: ffprobe (streams),
facenet-pytorch MTCNN (faces and boxes), mediapipe face mesh (inner-lip gap
follows the planned envelope), dlib 128-d descriptors (identity) and the
decoded AAC track (envelope recovery).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from facseq import demo

# thresholds (see the brief): talking faces must follow their envelope, still
# faces must not move; identities separate at dlib's customary 0.6
MIN_LIP_CORR = 0.6
MAX_CROSS_CORR = 0.3  # a talking face vs. an envelope it does *not* follow
MAX_STILL_STD = 0.01  # std of (lip gap / eye distance) for a still face
MIN_IOU = 0.5
SAME_PERSON = 0.6

VIDEO_CLIPS = ["dia0_utt0", "dia0_utt1", "dia0_utt2", "dia0_utt3", "dia1_utt0",
               "dia1_utt1", "dia1_utt2"]
BROKEN_CLIPS = {"dia2_utt0": "missing", "dia2_utt1": "empty", "dia2_utt2": "corrupt"}


# --------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo") / "data"
    t0 = time.perf_counter()
    gt = demo.build_demo(root, seed=0)
    return root, gt, time.perf_counter() - t0


def clip_path(root: Path, cid: str) -> Path:
    return root / "meld" / "dev_splits_complete" / f"{cid}.mp4"


def ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json",
                          "-show_streams", "-show_format", str(path)],
                         capture_output=True, text=True)
    return json.loads(out.stdout) if out.returncode == 0 else {"error": out.stderr}


def decode_frames(path: Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "pipe:1"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, demo.HEIGHT, demo.WIDTH, 3)


def decode_audio(path: Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vn", "-f", "f32le",
                          "-ac", "1", "-ar", str(demo.SAMPLE_RATE), "pipe:1"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.float32)


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def pearson(a, b) -> float:
    return float(np.corrcoef(np.asarray(a, float), np.asarray(b, float))[0, 1])


def model_path(name: str) -> str:
    """face_recognition_models model file, by its documented accessor.

    face_recognition_models imports pkg_resources, which setuptools >= 81 no
    longer ships; fall back to the package directory in that case.
    """
    try:
        import face_recognition_models as frm

        return getattr(frm, name)()
    except ImportError:
        files = {"pose_predictor_five_point_model_location": "shape_predictor_5_face_landmarks.dat",
                 "face_recognition_model_location": "dlib_face_recognition_resnet_model_v1.dat"}
        spec = importlib.util.find_spec("face_recognition_models")
        return os.path.join(spec.submodule_search_locations[0], "models", files[name])


@pytest.fixture(scope="module")
def frames(built):
    root, gt, _ = built
    return {cid: decode_frames(clip_path(root, cid)) for cid in VIDEO_CLIPS}


@pytest.fixture(scope="module")
def mtcnn():
    import torch
    from facenet_pytorch import MTCNN

    torch.set_num_threads(2)
    return MTCNN(keep_all=True, device="cpu")


@pytest.fixture(scope="module")
def face_mesh():
    import mediapipe as mp

    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                         refine_landmarks=False,
                                         min_detection_confidence=0.3) as fm:
        yield fm


def lip_ratio(face_mesh, frame: np.ndarray, box) -> float:
    """Inner-lip gap (landmarks 13-14) over eye-corner distance (33-263),
    face mesh on a square crop around the box (1.8x, scaled to 256 px)."""
    import cv2

    x1, y1, x2, y2 = box
    side = 1.8 * max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    s = 256.0 / side
    m = np.array([[s, 0, 128 - cx * s], [0, s, 128 - cy * s]], np.float32)
    crop = cv2.warpAffine(frame, m, (256, 256), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)
    res = face_mesh.process(crop)
    if not res.multi_face_landmarks:
        return float("nan")
    p = np.array([[q.x, q.y] for q in res.multi_face_landmarks[0].landmark])
    return float(np.linalg.norm(p[13] - p[14]) / np.linalg.norm(p[33] - p[263]))


@pytest.fixture(scope="module")
def lip_series(built, frames, face_mesh):
    """{(clip, face index): per-frame lip ratio} for every face of every clip."""
    _, gt, _ = built
    out = {}
    for cid in VIDEO_CLIPS:
        for k, face in enumerate(gt["utterances"][cid]["faces"]):
            out[cid, k] = np.array([lip_ratio(face_mesh, fr, face["boxes"][i])
                                    for i, fr in enumerate(frames[cid])])
    return out


# --------------------------------------------------------------------------
# pure functions
# --------------------------------------------------------------------------

def test_envelope_shape_and_determinism():
    n = 54 * demo.SAMPLES_PER_FRAME
    a = demo.syllable_envelope(n, np.random.default_rng(1))
    b = demo.syllable_envelope(n, np.random.default_rng(1))
    assert np.array_equal(a, b)
    assert a.min() >= 0 and a.max() == pytest.approx(1.0)
    fe = demo.frame_envelope(a)
    assert len(fe) == 54
    # syllabic rhythm: the frame envelope has several peaks (3-5 Hz over 2.25 s)
    peaks = np.sum((fe[1:-1] > fe[:-2]) & (fe[1:-1] >= fe[2:]) & (fe[1:-1] > 0.2))
    assert 4 <= peaks <= 14


def test_speech_envelope_recovery_pure():
    n = 54 * demo.SAMPLES_PER_FRAME
    env = demo.syllable_envelope(n, np.random.default_rng(7))
    x = demo.synthesize_speech(env, np.random.default_rng(8), f0_hz=180.0)
    assert x.dtype == np.float32 and len(x) == n and np.abs(x).max() <= 1.0
    r = pearson(demo.envelope_from_audio(x), demo.frame_envelope(env))
    assert r >= 0.98, r
    # voiced: autocorrelation pitch of loud frames stays near the requested f0
    est = []
    for i in np.where(demo.frame_envelope(env) > 0.5)[0]:
        b = x[i * demo.SAMPLES_PER_FRAME:(i + 1) * demo.SAMPLES_PER_FRAME].astype(float)
        ac = np.correlate(b, b, "full")[len(b) - 1:]
        lo, hi = demo.SAMPLE_RATE // 240, demo.SAMPLE_RATE // 100
        est.append(demo.SAMPLE_RATE / (lo + np.argmax(ac[lo:hi])))
    assert len(est) >= 5
    assert 150 <= np.median(est) <= 210 and 115 <= min(est) and max(est) <= 225, est


def test_open_mouth_is_pure_and_monotonic():
    photos = demo.load_photos()
    img = photos["GRACE"]
    lm = demo.face_mesh_landmarks(img)
    assert np.array_equal(demo.open_mouth(img, lm, 0.0), img)
    g = demo.mouth_geometry(lm)
    x0, x1 = int(g["cx"] - g["mouth_half"]), int(g["cx"] + g["mouth_half"])
    y0 = int(g["y_mouth"] - 5)
    y1 = int(g["y_mouth"] + demo.max_jaw_drop(lm) + 5)
    dark = []
    for a in (0.0, 0.25, 0.5, 1.0):
        out = demo.open_mouth(img, lm, a)
        assert out.shape == img.shape and out.dtype == np.uint8
        dark.append(int((out[y0:y1, x0:x1].mean(axis=2) < 60).sum()))
    assert np.all(np.diff(dark) > 0), dark
    # the upper face is untouched
    top = int(g["y_mouth"] - g["mouth_half"])
    assert np.array_equal(demo.open_mouth(img, lm, 1.0)[:top], img[:top])


# --------------------------------------------------------------------------
# layout, CSV, library, idempotence
# --------------------------------------------------------------------------

def test_build_time_and_layout(built):
    root, gt, seconds = built
    print(f"\nbuild time {seconds:.1f} s")
    assert seconds < 90
    assert gt["generator_version"] == demo.GENERATOR_VERSION
    assert (root / "ground_truth.json").is_file()
    assert not any(p.name.startswith(".") for p in root.parent.iterdir() if p != root)
    for cid, u in gt["utterances"].items():
        p = clip_path(root, cid)
        kind = BROKEN_CLIPS.get(cid)
        if kind == "missing":
            assert not p.exists()
        elif kind == "empty":
            assert p.stat().st_size == 0
        else:
            assert p.stat().st_size > 1000
        assert u["expected_status"] in {"ok", "speaker_offscreen", "no_face", "no_video"}
        assert u["expected_identity"] in {"EILEEN", "GRACE", "NONE"}
        for f in u["faces"]:
            assert len(f["boxes"]) == u["n_frames"] == len(f["mouth_envelope"])
            if f["still"]:
                assert all(b == f["box"] for b in f["boxes"])


def test_scenarios(built):
    _, gt, _ = built
    u = gt["utterances"]
    got = {cid: (x["speaker"], x["expected_status"], x["expected_identity"],
                 len(x["faces"]), x["has_audio"]) for cid, x in u.items()}
    assert got == {
        "dia0_utt0": ("Eileen", "ok", "EILEEN", 1, True),
        "dia0_utt1": ("Eileen", "ok", "EILEEN", 2, True),
        "dia0_utt2": ("Grace", "ok", "GRACE", 2, True),
        "dia0_utt3": ("Grace", "ok", "GRACE", 2, True),
        "dia1_utt0": ("Eileen", "speaker_offscreen", "NONE", 1, True),
        "dia1_utt1": ("Grace", "no_face", "NONE", 0, True),
        "dia1_utt2": ("Eileen", "ok", "EILEEN", 1, False),
        "dia2_utt0": ("Eileen", "no_video", "NONE", 0, False),
        "dia2_utt1": ("Grace", "no_video", "NONE", 0, False),
        "dia2_utt2": ("Eileen", "no_video", "NONE", 0, False),
    }
    # the speaker face (if any) is the one whose mouth follows the audio
    for cid, x in u.items():
        for f in x["faces"]:
            if f["is_speaker"]:
                assert f["mouth_follows_audio"] and f["identity"] == x["expected_identity"]
                if x["has_audio"]:
                    assert f["mouth_envelope"] == x["audio_envelope"]


def test_csv_matches_meld(built):
    root, gt, _ = built
    with open(root / "meld" / "dev_sent_emo.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == demo.CSV_COLUMNS
    assert len(rows) == 1 + len(gt["utterances"])
    stamp = re.compile(r"^\d\d:\d\d:\d\d,\d{3}$")
    for r in rows[1:]:
        rec = dict(zip(rows[0], r))
        cid = f"dia{rec['Dialogue_ID']}_utt{rec['Utterance_ID']}"
        assert gt["utterances"][cid]["speaker"] == rec["Speaker"]
        assert stamp.match(rec["StartTime"]) and stamp.match(rec["EndTime"])
        assert rec["StartTime"] < rec["EndTime"]
    assert len({r[5] for r in rows[1:]}) == 3  # three dialogues


def test_face_library(built):
    from PIL import Image

    root, gt, _ = built
    files = sorted((root / "face_library" / "Eileen").iterdir())
    assert len(files) == demo.LIBRARY_SIZE == len(gt["library"]["Eileen"])
    assert sorted(os.listdir(root / "face_library")) == ["Eileen"]
    arrays = []
    for p in files:
        with Image.open(p) as im:
            assert im.format == "JPEG" and im.mode == "RGB" and im.size == (160, 160)
            arrays.append(np.asarray(im, np.float32))
    # augmented: no two library images are (nearly) the same
    diffs = [np.abs(arrays[i] - arrays[j]).mean()
             for i in range(len(arrays)) for j in range(i)]
    assert min(diffs) > 3.0


def _snapshot(root: Path) -> dict:
    import hashlib

    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_rebuild_replaces_stale_and_is_deterministic(built, tmp_path):
    root, gt, _ = built
    other = tmp_path / "data"
    other.mkdir()
    (other / "stale.txt").write_text("left over")
    (other / "ground_truth.json").write_text(json.dumps({"generator_version": "old"}))
    again = demo.build_demo(other, seed=0)
    assert not (other / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no temp dirs left
    assert again == gt
    assert _snapshot(other) == _snapshot(root)  # byte-identical, clips included


def test_idempotent(built):
    root, gt, _ = built
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    inode = root.stat().st_ino
    t0 = time.perf_counter()
    again = demo.build_demo(root, seed=0)
    assert time.perf_counter() - t0 < 2.0
    assert again == gt
    assert root.stat().st_ino == inode
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == before


# --------------------------------------------------------------------------
# encoded clips
# --------------------------------------------------------------------------

@pytest.mark.parametrize("cid", VIDEO_CLIPS + list(BROKEN_CLIPS))
def test_ffprobe_streams(built, cid):
    root, gt, _ = built
    u = gt["utterances"][cid]
    info = ffprobe(clip_path(root, cid))
    if not u["has_video"]:
        assert "error" in info or not info.get("streams")
        return
    streams = {s["codec_type"]: s for s in info["streams"]}
    v = streams["video"]
    assert v["codec_name"] == "h264" and v["pix_fmt"] == "yuv420p"
    assert (v["width"], v["height"]) == (640, 360)
    assert v["r_frame_rate"] == "24000/1001" == v["avg_frame_rate"]
    assert int(v["nb_frames"]) == u["n_frames"]
    assert 2.0 <= float(info["format"]["duration"]) <= 2.5
    if u["has_audio"]:
        a = streams["audio"]
        assert a["codec_name"] == "aac" and int(a["sample_rate"]) == 48000
        assert a["channels"] == 2
    else:
        assert "audio" not in streams


@pytest.mark.parametrize("cid", [c for c in VIDEO_CLIPS if c != "dia1_utt2"])
def test_audio_envelope_recovered_from_clip(built, cid):
    root, gt, _ = built
    u = gt["utterances"][cid]
    env = np.array(u["audio_envelope"])
    rec = demo.envelope_from_audio(decode_audio(clip_path(root, cid)))[: len(env)]
    assert len(rec) >= len(env) - 1
    r = pearson(rec, env[: len(rec)])
    print(f"\n{cid}: audio RMS vs planned envelope r={r:.3f}")
    assert r >= 0.9


def test_frames_decode(built, frames):
    _, gt, _ = built
    for cid, fr in frames.items():
        assert len(fr) == gt["utterances"][cid]["n_frames"]


def test_mtcnn_finds_planned_faces(built, frames, mtcnn):
    _, gt, _ = built
    report = []
    for cid in VIDEO_CLIPS:
        u = gt["utterances"][cid]
        n = u["n_frames"]
        for i in (0, n // 3, 2 * n // 3, n - 1):
            boxes, _ = mtcnn.detect(frames[cid][i])  # MTCNN's default thresholds
            boxes = [] if boxes is None else list(boxes)
            assert len(boxes) == len(u["faces"]), (cid, i, boxes)
            for f in u["faces"]:
                best = max(iou(b, f["boxes"][i]) for b in boxes)
                report.append(best)
                assert best >= MIN_IOU, (cid, i, f["identity"], best)
    print(f"\nMTCNN vs ground-truth IoU: min {min(report):.2f} mean {np.mean(report):.2f}")


def test_lips_follow_envelope(built, lip_series):
    _, gt, _ = built
    lines = []
    for cid in VIDEO_CLIPS:
        u = gt["utterances"][cid]
        for k, f in enumerate(u["faces"]):
            series = lip_series[cid, k]
            assert np.isnan(series).mean() < 0.1, (cid, k)
            ok = ~np.isnan(series)
            if f["mouth_moves"]:
                r = pearson(series[ok], np.array(f["mouth_envelope"])[ok])
                lines.append(f"{cid} {f['identity']}: r(own)={r:.2f}")
                assert r >= MIN_LIP_CORR, (cid, f["identity"], r)
                if u["has_audio"] and not f["mouth_follows_audio"]:
                    r_audio = pearson(series[ok], np.array(u["audio_envelope"])[ok])
                    lines.append(f"{cid} {f['identity']}: r(audio)={r_audio:.2f}")
                    assert abs(r_audio) < MAX_CROSS_CORR, (cid, f["identity"], r_audio)
            else:
                sd = float(np.nanstd(series))
                lines.append(f"{cid} {f['identity']}: still std={sd:.4f}")
                assert sd < MAX_STILL_STD, (cid, f["identity"], sd)
    print("\n" + "\n".join(lines))


def test_dlib_identities(built, frames, mtcnn):
    import dlib
    from PIL import Image

    root, gt, _ = built
    sp = dlib.shape_predictor(model_path("pose_predictor_five_point_model_location"))
    rec = dlib.face_recognition_model_v1(model_path("face_recognition_model_location"))

    def descriptor(img, box):
        rect = dlib.rectangle(*[int(round(v)) for v in box])
        return np.array(rec.compute_face_descriptor(img, sp(img, rect)))

    library = []
    for rel in gt["library"]["Eileen"]:
        with Image.open(root / rel) as im:
            img = np.asarray(im.convert("RGB"))
        boxes, probs = mtcnn.detect(img)
        assert boxes is not None, rel  # every library crop holds a detectable face
        library.append(descriptor(img, boxes[int(np.argmax(probs))]))
    library = np.stack(library)

    dist = {"EILEEN": [], "GRACE": []}
    for cid in VIDEO_CLIPS:
        u = gt["utterances"][cid]
        n = u["n_frames"]
        for f in u["faces"]:
            for i in (0, n // 2):
                d = descriptor(frames[cid][i], f["boxes"][i])
                dist[f["identity"]].append(float(np.linalg.norm(library - d, axis=1).min()))
    print(f"\ndlib distance to the Eileen library: EILEEN max {max(dist['EILEEN']):.3f}, "
          f"GRACE min {min(dist['GRACE']):.3f}")
    assert max(dist["EILEEN"]) < SAME_PERSON
    assert min(dist["GRACE"]) > SAME_PERSON
    # library images are mutually consistent too
    inner = np.linalg.norm(library[:, None] - library[None], axis=2)
    assert inner.max() < SAME_PERSON
