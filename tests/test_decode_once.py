"""The media and faces stages on the shared real footage at the workflow's default detection settings:
each clip is decoded once (ffmpeg invocations counted through a logging wrapper on PATH), no full frame
reaches the disk, and the tracked boxes (MTCNN every `detection.stride` frames, the face mesh between)
keep IoU >= 0.5 with the ground-truth speaker box on at least 95 % of the frames."""

from __future__ import annotations

import os
import shutil
import stat
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from conftest import REPO, require_shared
from facseq.evaluate import load_labels
from facseq.faces import DetectorSettings
from facseq.stages.common import BatchItem
from facseq.stages.faces import load_detections
from facseq.stages.media import extract_media
from facseq.tables import PENDING, read_status, read_tsv
from facseq.track import box_iou

pytestmark = [pytest.mark.shared, pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")]


def schema_defaults(section: str) -> dict:
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    return {key: spec["default"] for key, spec in schema["properties"][section]["properties"].items() if "default" in spec}


def logging_wrappers(folder: Path, log: Path) -> None:
    """`ffmpeg` and `ffprobe` on PATH that append their arguments to `log`, then run the real tools."""
    folder.mkdir()
    for tool in ("ffmpeg", "ffprobe"):
        script = folder / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\nexec "{shutil.which(tool)}" "$@"\n')
        script.chmod(script.stat().st_mode | stat.S_IEXEC)


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    from facseq.stages.faces import detect_faces

    fixture = require_shared("fixtures", "speaker")
    work = tmp_path_factory.mktemp("decode_once")
    calls = work / "calls.log"
    logging_wrappers(work / "bin", calls)
    items = [BatchItem(p.stem, "Alex", str(p)) for p in sorted((fixture / "dev_splits_complete").glob("*.mp4"))]
    settings = DetectorSettings(**{k: v for k, v in schema_defaults("detection").items()
                                   if k in DetectorSettings.__dataclass_fields__})
    path = os.environ["PATH"]
    os.environ["PATH"] = f"{work / 'bin'}{os.pathsep}{path}"
    try:
        extract_media(items, work / "audio", 25)
        media_calls = calls.read_text().splitlines()
        calls.unlink()
        detect_faces(items, work / "audio", work / "faces", settings, schema_defaults("tracking"))
        faces_calls = calls.read_text().splitlines() if calls.exists() else []
    finally:
        os.environ["PATH"] = path
    return {"items": items, "work": work, "fixture": fixture, "settings": settings,
            "media_calls": media_calls, "faces_calls": faces_calls}


def clip_calls(calls: list[str], tool: str, clip: str) -> list[str]:
    return [c for c in calls if c.startswith(tool + " ") and clip in c]


def test_each_clip_is_decoded_once(stages):
    assert read_status(stages["work"] / "faces" / "status.tsv")["dia0_utt0"][0] == PENDING
    assert sum(c.startswith("ffmpeg ") for c in stages["media_calls"]) == 1  # the batch's audio: one run
    for item in stages["items"]:
        # extract_media: a probe (headers and packet count, no decoding) and one ffmpeg run for the audio of
        # the whole batch (audio tracks only, never the video)
        audio = clip_calls(stages["media_calls"], "ffmpeg", item.clip)
        assert len(audio) == 1 and "0:a" in audio[0] and "0:v" not in audio[0] and ".wav" in audio[0]
        assert len(clip_calls(stages["media_calls"], "ffprobe", item.clip)) == 1
        # detect_faces: one decode of the video, into memory; nothing else opens the clip
        video = clip_calls(stages["faces_calls"], "ffmpeg", item.clip)
        assert len(video) == 1 and "pipe:" in video[0], video
        assert not clip_calls(stages["faces_calls"], "ffprobe", item.clip)


def test_no_full_frame_is_written(stages):
    images = [p for p in stages["work"].rglob("*") if p.suffix.lower() in (".jpg", ".png", ".npy", ".npz")]
    assert images, "the faces stage wrote nothing"
    for path in images:
        if path.suffix == ".jpg":
            assert cv2.imread(str(path)).shape[:2] == (160, 160), path  # face crops only
        elif path.suffix == ".npy":
            assert 720 not in np.load(path).shape[-3:-1], path
    assert not list(stages["work"].rglob("frames"))


def test_tracked_boxes_match_the_ground_truth_at_the_default_stride(stages):
    assert stages["settings"].stride > 1, "the default is detection on a subset of frames"
    rows, labels = load_labels(stages["fixture"])
    source_fps = {f"dia{r['dialogue_id']}_utt{r['utterance_id']}": float(Fraction(r["fps"])) for r in rows}
    media = {r["utterance"]: r for r in read_tsv(stages["work"] / "audio" / "media.tsv")}
    matched = total = tracked = 0
    for item in stages["items"]:
        detections = [d for d in load_detections(stages["work"] / "faces", item.name) if d["track"] >= 0]
        tracked += sum(d["source"] == "tracked" for d in detections)
        for frame in range(int(media[item.name]["n_frames"])):
            truth = labels.get(item.name, {}).get(int(round(frame / 25 * source_fps[item.name])), [])
            speaker = [box for box, is_speaker in truth if is_speaker]
            if not speaker:
                continue
            boxes = np.array([[d["x1"], d["y1"], d["x2"], d["y2"]] for d in detections if d["frame"] == frame])
            total += 1
            matched += bool(len(boxes)) and box_iou(speaker[0], boxes).max() >= 0.5
    assert tracked >= 0.5 * total, "most boxes come from the face mesh between detections"
    assert matched >= 0.95 * total, f"{matched}/{total} speaker frames with a box of IoU >= 0.5"


def test_keep_frames_writes_the_decoded_frames(tmp_path):
    """The one case where full frames reach the disk: `keep_frames`, written from the same decode."""
    import subprocess

    from facseq.stages.faces import detect_faces

    clip = tmp_path / "dia0_utt0.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=0.4",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(clip)], check=True)
    items = [BatchItem("dia0_utt0", "Joey", str(clip))]
    extract_media(items, tmp_path / "audio", 25)
    detect_faces(items, tmp_path / "audio", tmp_path / "faces", DetectorSettings(), {}, keep_frames=True)
    frames = sorted((tmp_path / "faces" / "dia0_utt0" / "frames").glob("*.jpg"))
    assert [p.name for p in frames] == [f"{k:06d}.jpg" for k in range(10)]
    assert cv2.imread(str(frames[0])).shape == (64, 96, 3)
