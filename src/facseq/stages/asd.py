"""Stage 3b (rules/asd.smk: active_speaker): per-frame active speaker scores of every face track."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facseq.media import read_wav
from facseq.stages.common import BatchItem, _pending, _stage_start, log
from facseq.stages.faces import load_detections
from facseq.tables import failure_reason, write_status, write_tsv

ASD_COLUMNS = ["track", "frame", "time_s", "asd_final", "asd_smoothed"]


def interpolate_track(frames: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every frame from the track's first to its last, with boxes linearly interpolated over gaps."""
    order = np.argsort(frames)
    frames, boxes = np.asarray(frames)[order], np.asarray(boxes, dtype=np.float64)[order]
    full = np.arange(frames[0], frames[-1] + 1)
    return full, np.stack([np.interp(full, frames, boxes[:, k]) for k in range(4)], axis=1)


def active_speaker(items: list[BatchItem], frames_dir: Path, faces_dir: Path, audio_dir: Path, out_dir: Path,
                   backend: str, weights: str, device: str) -> dict:
    """`out_dir/{utt}.tsv`: per track and frame, the ASD's final and smoothed score (reference procedure:
    25 fps grey 112x112 track crops, 13 MFCCs at 100 Hz of the track's audio, multi-duration averaging)."""
    from facseq.asd import crop_track_gray112, load_detector, mfcc_16k
    from facseq.asd.preprocess import MIN_TRACK_FRAMES

    out_dir, status, media = _stage_start(out_dir, Path(faces_dir) / "status.tsv", audio_dir)
    detector = load_detector(backend, weights, device)
    for item in items:
        if not _pending(status, item.name):
            continue
        try:
            fps = float(media[item.name]["fps"])
            rows = load_detections(faces_dir, item.name)
            wav = Path(audio_dir) / f"{item.name}.wav"
            samples, rate = read_wav(wav) if wav.is_file() else (np.zeros(0, dtype=np.float32), 16000)
            frame_paths = sorted((Path(frames_dir) / item.name).glob("*.jpg"))
            cache: dict[int, np.ndarray] = {}
            out_rows = []
            for track in sorted({r["track"] for r in rows if r["track"] >= 0}):
                members = [r for r in rows if r["track"] == track]
                frames, boxes = interpolate_track(
                    np.array([r["frame"] for r in members]), np.array([[r[k] for k in ("x1", "y1", "x2", "y2")] for r in members])
                )
                final = smoothed = np.full(len(frames), np.nan)
                if len(frames) >= MIN_TRACK_FRAMES and len(samples):
                    for f in frames:  # decode each frame once, however many tracks it holds
                        if int(f) not in cache:
                            cache[int(f)] = cv2.imread(str(frame_paths[f]))  # BGR, as the reference crops
                    images = [cache[int(f)] for f in frames]
                    start, stop = int(round(frames[0] / fps * rate)), int(round((frames[-1] + 1) / fps * rate))
                    scores = detector.score_track(crop_track_gray112(images, boxes, color="bgr"), mfcc_16k(samples[start:stop], rate))
                    final = np.full(len(frames), np.nan)
                    final[: len(scores.final)] = scores.final
                    smoothed = scores.smoothed
                for k, frame in enumerate(frames):
                    out_rows.append({"track": track, "frame": int(frame), "time_s": round(frame / fps, 4),
                                     "asd_final": float(final[k]), "asd_smoothed": float(smoothed[k])})
            write_tsv(out_dir / f"{item.name}.tsv", out_rows, ASD_COLUMNS)
        except Exception as err:  # noqa: BLE001 - the rules still decide this utterance
            log.exception("%s: active speaker detection failed", item.name)
            write_tsv(out_dir / f"{item.name}.tsv", [], ASD_COLUMNS)
            (out_dir / f"{item.name}.error").write_text(failure_reason(err) + "\n")
    write_status(out_dir / "status.tsv", status)
    return status

