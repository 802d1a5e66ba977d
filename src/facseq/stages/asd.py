"""Stage 3b (rules/asd.smk: active_speaker): per-frame active speaker scores of every face track.

The track crops come from the faces stage (`asd_crops.npz`, cut from the single in-memory decode): this
stage never reads the clip or a frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facseq.media import read_wav
from facseq.stages.common import BatchItem, _pending, _stage_start, log
from facseq.tables import failure_reason, write_status, write_tsv

ASD_COLUMNS = ["track", "frame", "time_s", "asd_final", "asd_smoothed"]


def active_speaker(items: list[BatchItem], faces_dir: Path, audio_dir: Path, out_dir: Path,
                   backend: str, weights: str, device: str) -> dict:
    """`out_dir/{utt}.tsv`: per track and frame, the ASD's final and smoothed score (reference procedure:
    25 fps grey 112x112 track crops, 13 MFCCs at 100 Hz of the track's audio, multi-duration averaging);
    every frame of a track too short for the ASD gets NaN."""
    from facseq.asd import load_detector, mfcc_16k

    out_dir, status, media = _stage_start(out_dir, Path(faces_dir) / "status.tsv", audio_dir)
    detector = load_detector(backend, weights, device)
    for item in items:
        if not _pending(status, item.name):
            continue
        try:
            fps = float(media[item.name]["fps"])
            wav = Path(audio_dir) / f"{item.name}.wav"
            samples, rate = read_wav(wav) if wav.is_file() else (np.zeros(0, dtype=np.float32), 16000)
            out_rows = []
            for track, frames, crops in read_track_crops(Path(faces_dir) / item.name):
                final = smoothed = np.full(len(frames), np.nan)
                if crops is not None and len(samples):
                    start, stop = int(round(frames[0] / fps * rate)), int(round((frames[-1] + 1) / fps * rate))
                    scores = detector.score_track(crops, mfcc_16k(samples[start:stop], rate))
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



def read_track_crops(utt_faces_dir: Path):
    """(track, frames, crops) for every track of `detections.tsv` in track order: the faces stage's
    `asd_crops.npz` crops and their frames, or (every frame of the track, None) for a track too short
    for the ASD (the faces stage cut no crops for it)."""
    from facseq.asd.preprocess import interpolate_track
    from facseq.stages.faces import load_detections

    rows = load_detections(utt_faces_dir.parent, utt_faces_dir.name)
    with np.load(utt_faces_dir / "asd_crops.npz") as saved:
        crops = {key: saved[key] for key in saved.files}
    for track in sorted({r["track"] for r in rows if r["track"] >= 0}):
        if f"crops_{track}" in crops:
            yield track, crops[f"frames_{track}"], crops[f"crops_{track}"]
        else:
            members = [r for r in rows if r["track"] == track]
            frames, _ = interpolate_track(np.array([r["frame"] for r in members]), np.zeros((len(members), 4)))
            yield track, frames, None
