"""One function per workflow stage, each over a batch of utterances.

The Snakemake scripts only unpack `snakemake.input/params/output` and call these. Every stage loads its
models once per batch, handles each utterance on its own (one bad clip never stops the others), and
writes a `status.tsv` that the next stage carries forward (see `facseq.tables`).
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facseq import tables
from facseq.media import MediaError, extract_audio, extract_frames, probe_clip, read_wav
from facseq.tables import PENDING, failure_reason, read_status, read_tsv, write_status, write_tsv

log = logging.getLogger("facseq")


@dataclass(frozen=True)
class BatchItem:
    """One utterance as a batch stage sees it."""

    name: str  # dia{D}_utt{U}
    speaker: str
    clip: str


def batch_items(params_batch: list[dict]) -> list[BatchItem]:
    return [BatchItem(**item) for item in params_batch]


def _pending(status: dict[str, tuple[str, str]], name: str) -> bool:
    return status.get(name, (PENDING, ""))[0] == PENDING


def _stage_start(out_dir: Path, previous_status: Path, audio_dir: Path):
    """The output folder (created), the previous stage's statuses and the clips' media facts."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir, read_status(previous_status), media_info(audio_dir)


def _read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise MediaError(f"{path}: unreadable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _write_rgb(path: Path, image: np.ndarray, quality: int = 95) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])


# --------------------------------------------------------------------------------------------- 1. media
def extract_media(items: list[BatchItem], frames_dir: Path, audio_dir: Path, fps: float | None) -> dict:
    """Frames (`frames_dir/{utt}/%06d.jpg`) and 16 kHz mono audio (`audio_dir/{utt}.wav`) per clip;
    `audio_dir/media.tsv` records what each clip holds, `audio_dir/status.tsv` the status."""
    frames_dir, audio_dir = Path(frames_dir), Path(audio_dir)
    frames_dir.mkdir(parents=True, exist_ok=True)
    audio_dir.mkdir(parents=True, exist_ok=True)
    status, media_rows = {}, []
    for item in items:
        row = {"utterance": item.name, "clip": item.clip}
        try:
            info = probe_clip(item.clip)
            rate = fps or info.fps
            if not rate:
                raise MediaError(f"{item.clip}: frame rate unknown")
            n_frames = extract_frames(item.clip, frames_dir / item.name, fps)
            if info.has_audio:
                extract_audio(item.clip, audio_dir / f"{item.name}.wav")
            row.update(width=info.width, height=info.height, source_fps=info.fps, fps=rate,
                       duration_s=info.duration_s, has_audio=info.has_audio, n_frames=n_frames)
            status[item.name] = (PENDING, "")
        except MediaError as err:
            status[item.name] = ("no_video", str(err))
            shutil.rmtree(frames_dir / item.name, ignore_errors=True)
        except Exception as err:  # noqa: BLE001 - recorded, never lost
            log.exception("%s: media extraction failed", item.clip)
            status[item.name] = ("failed", f"media: {failure_reason(err)}")
        media_rows.append(row)
    write_tsv(audio_dir / "media.tsv", media_rows,
              ["utterance", "clip", "width", "height", "source_fps", "fps", "duration_s", "has_audio", "n_frames"])
    write_status(audio_dir / "status.tsv", status)
    return status


def media_info(audio_dir: Path) -> dict[str, dict[str, str]]:
    return {row["utterance"]: row for row in read_tsv(Path(audio_dir) / "media.tsv")}


# --------------------------------------------------------------------------------------------- 2. faces
DETECTION_COLUMNS = ["det", "frame", "time_s", "shot", "track", "x1", "y1", "x2", "y2", "probability", "landmarks", "crop"]


def detect_faces(items: list[BatchItem], frames_dir: Path, audio_dir: Path, out_dir: Path, settings, track_settings: dict) -> dict:
    """Per utterance: `detections.tsv` (every face, with its track = FaceID), `landmarks.npy`
    (N,468,2 face-mesh points in clip pixels, NaN where the mesh failed) and `crops/{det}.jpg` (160x160)."""
    from facseq.faces import FaceDetector, FaceMesh, crop_face
    from facseq.track import link_tracks, shot_starts

    out_dir, status, media = _stage_start(out_dir, Path(audio_dir) / "status.tsv", audio_dir)
    detector, mesh = FaceDetector(settings), FaceMesh(settings)
    try:
        for item in items:
            if not _pending(status, item.name):
                continue
            try:
                fps = float(media[item.name]["fps"])
                paths = sorted((Path(frames_dir) / item.name).glob("*.jpg"))
                frames = [_read_rgb(p) for p in paths]
                found = detector.detect(frames)
                frame_of, boxes, probs = [], [], []
                for index, (frame_boxes, frame_probs) in enumerate(found):
                    frame_of += [index] * len(frame_boxes)
                    boxes += list(frame_boxes)
                    probs += list(frame_probs)
                frame_of = np.array(frame_of, dtype=np.int64)
                boxes = np.array(boxes, dtype=np.float64).reshape(-1, 4)
                cuts = shot_starts(frames, track_settings.get("shot_cut", 0.35))
                link = {k: v for k, v in track_settings.items() if k in ("min_iou", "max_gap", "min_length")}
                tracks = link_tracks(frame_of, boxes, shot_starts=cuts, **link)
                shot_of = np.searchsorted(np.array(sorted(cuts), dtype=np.int64), frame_of, side="right")
                utt_dir = out_dir / item.name
                (utt_dir / "crops").mkdir(parents=True, exist_ok=True)
                landmarks = np.full((len(boxes), 468, 2), np.nan, dtype=np.float32)
                rows = []
                for det, (frame, box) in enumerate(zip(frame_of, boxes)):
                    image = frames[frame]
                    if tracks[det] >= 0:  # faces in no track are never used: skip the mesh for them
                        landmarks[det] = mesh.landmarks(image, box)
                    crop_name = f"{det:05d}.jpg"
                    _write_rgb(utt_dir / "crops" / crop_name, crop_face(image, box, margin=settings.crop_margin))
                    rows.append({
                        "det": det, "frame": int(frame), "time_s": round(frame / fps, 4), "shot": int(shot_of[det]),
                        "track": int(tracks[det]),
                        "x1": round(box[0], 1), "y1": round(box[1], 1), "x2": round(box[2], 1), "y2": round(box[3], 1),
                        "probability": round(float(probs[det]), 4),
                        "landmarks": bool(np.isfinite(landmarks[det]).all()), "crop": crop_name,
                    })
                write_tsv(utt_dir / "detections.tsv", rows, DETECTION_COLUMNS)
                np.save(utt_dir / "landmarks.npy", landmarks)
                if not (tracks >= 0).any():
                    reason = "no face detected" if len(boxes) == 0 else f"{len(boxes)} face detection(s) but no stable track"
                    status[item.name] = ("no_face", reason)
            except Exception as err:  # noqa: BLE001
                log.exception("%s: face detection failed", item.name)
                status[item.name] = ("failed", f"faces: {failure_reason(err)}")
    finally:
        mesh.close()
    write_status(out_dir / "status.tsv", status)
    return status


def load_detections(faces_dir: Path, name: str) -> list[dict]:
    rows = read_tsv(Path(faces_dir) / name / "detections.tsv")
    for row in rows:
        for key in ("det", "frame", "shot", "track"):
            row[key] = int(row[key])
        for key in ("time_s", "x1", "y1", "x2", "y2", "probability"):
            row[key] = float(row[key])
    return rows


# --------------------------------------------------------------------------------------------- 3. embeddings
def sample_per_track(rows: list[dict], max_per_track: int) -> list[dict]:
    """At most `max_per_track` faces of each track, evenly spaced in time (all when 0)."""
    chosen = []
    for track in sorted({r["track"] for r in rows if r["track"] >= 0}):
        members = sorted((r for r in rows if r["track"] == track), key=lambda r: r["frame"])
        if max_per_track and len(members) > max_per_track:
            members = [members[int(round(i))] for i in np.linspace(0, len(members) - 1, max_per_track)]
        chosen += members
    return chosen


def embed_faces(items: list[BatchItem], faces_dir: Path, audio_dir: Path, out_dir: Path, backend: str, weights,
                device: str, crop_margin: int, max_per_track: int = 0) -> dict:
    """`out_dir/{utt}.npy`: (N, D) L2-normalised embeddings; rows of faces not embedded (untracked, or
    beyond `max_per_track` evenly spaced faces of their track) are NaN. A track is one person within
    a shot, so a sample of its faces identifies it; the embedder is the slowest per-face step."""
    from facseq.embed import make_embedder
    from facseq.faces import CROP_SIZE, box_in_crop

    out_dir, status, media = _stage_start(out_dir, Path(faces_dir) / "status.tsv", audio_dir)
    embedder = make_embedder(backend, weights, device)
    for item in items:
        if not _pending(status, item.name):
            continue
        try:
            width, height = int(media[item.name]["width"]), int(media[item.name]["height"])
            rows = load_detections(faces_dir, item.name)
            used = sample_per_track(rows, max_per_track)
            crops = [_read_rgb(Path(faces_dir) / item.name / "crops" / r["crop"]) for r in used]
            boxes = [box_in_crop((r["x1"], r["y1"], r["x2"], r["y2"]), CROP_SIZE, crop_margin, width, height) for r in used]
            vectors = embedder.embed(crops, boxes)
            out = np.full((len(rows), vectors.shape[1] if len(vectors) else embedder.dim), np.nan, dtype=np.float32)
            out[[r["det"] for r in used]] = vectors
            np.save(out_dir / f"{item.name}.npy", out)
        except Exception as err:  # noqa: BLE001
            log.exception("%s: embedding failed", item.name)
            status[item.name] = ("failed", f"embeddings: {failure_reason(err)}")
    write_status(out_dir / "status.tsv", status)
    return status


def embed_library(library_dir: Path, out_path: Path, backend: str, weights, device: str, detector_settings) -> dict:
    """Embed every library image once: `out_path` (npz: one array per role) + a TSV listing each image.

    Library images may be whole photos or face crops: the largest MTCNN face is cropped like the clip
    faces; an image where no face is found is taken as an already-cropped face."""
    from facseq.embed import make_embedder
    from facseq.faces import CROP_SIZE, FaceDetector, box_in_crop, crop_face

    library_dir = Path(library_dir)
    if not library_dir.is_dir():
        raise FileNotFoundError(f"{library_dir}: face library folder not found")
    embedder = make_embedder(backend, weights, device)
    detector = FaceDetector(detector_settings)
    roles, listing = {}, []
    for role_dir in sorted(p for p in library_dir.iterdir() if p.is_dir()):
        images = sorted(p for p in role_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        crops, boxes = [], []
        for path in images:
            image = _read_rgb(path)
            (found, probs), = detector.detect([image])
            if len(found):
                box = found[int(np.argmax((found[:, 2] - found[:, 0]) * (found[:, 3] - found[:, 1])))]
                crops.append(crop_face(image, box, margin=detector_settings.crop_margin))
                boxes.append(box_in_crop(box, CROP_SIZE, detector_settings.crop_margin, image.shape[1], image.shape[0]))
                how = "detected"
            else:
                crops.append(cv2.resize(image, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA))
                boxes.append((10.0, 10.0, CROP_SIZE - 10.0, CROP_SIZE - 10.0))
                how = "whole image (no face detected)"
            listing.append({"role": role_dir.name, "image": str(path), "face": how})
        if crops:
            roles[role_dir.name] = embedder.embed(crops, boxes)
    if not roles:
        raise ValueError(f"{library_dir}: no role folder with .jpg/.png images")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out_path, **roles)
    write_tsv(out_path.with_suffix(".tsv"), listing, ["role", "image", "face"])
    return roles


def load_library(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {role: data[role] for role in data.files}


# --------------------------------------------------------------------------------------------- 3b. ASD
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


# --------------------------------------------------------------------------------------------- 4. evidence
TRACK_EVIDENCE_COLUMNS = [
    "track", "n_frames", "first_time_s", "last_time_s", "open_close_count", "open_fraction", "movement",
    "av_correlation", "av_lag_frames", "vote_open_close", "vote_movement", "vote_av", "votes", "n_rules",
    "speaking_score", "rules_possible", "asd_mean", "asd_speaking_fraction", "asd_sure", "asd_speaking",
    "decided_by", "possible_speaker", "note",
]
FRAME_EVIDENCE_COLUMNS = ["track", "frame", "time_s", "mouth_gap", "mouth_width", "movement", "audio_db", "asd_score"]


def speaker_evidence(items: list[BatchItem], faces_dir: Path, audio_dir: Path, out_dir: Path, rule_settings,
                     envelope_window_s: float, asd_dir: Path | None = None, mode: str = "rules",
                     asd_settings=None, no_asd_note: str = "") -> dict:
    """Per utterance: `{utt}.tsv` (one row per track: every rule's score and vote, the ASD's verdict when
    it ran, which signal decided, possible speaker or not) and `{utt}_frames.tsv` (the per-frame series
    behind them); `detection.tsv` says per utterance how its possible speakers were found."""
    from facseq.rules import audio_envelope, mouth_series, track_rule_scores, vote_possible_speakers
    from facseq.speakers import AsdSettings, fuse, summarise_asd

    asd_settings = asd_settings or AsdSettings()
    detection_rows = []

    out_dir, status, media = _stage_start(out_dir, Path(faces_dir) / "status.tsv", audio_dir)
    for item in items:
        if not _pending(status, item.name):
            continue
        try:
            info = media[item.name]
            fps, n_frames = float(info["fps"]), int(info["n_frames"])
            rows = load_detections(faces_dir, item.name)
            landmarks = np.load(Path(faces_dir) / item.name / "landmarks.npy")
            wav = Path(audio_dir) / f"{item.name}.wav"
            envelope = None
            if wav.is_file():
                samples, rate = read_wav(wav)
                if len(samples):
                    envelope = audio_envelope(samples, rate, np.arange(n_frames) / fps, envelope_window_s)
            frames = np.array([r["frame"] for r in rows], dtype=np.int64)
            track_of = np.array([r["track"] for r in rows], dtype=np.int64)
            evidence, frame_rows = [], []
            for track in sorted(set(track_of.tolist()) - {-1}):
                members = track_of == track
                series = mouth_series(frames[members], landmarks[members])
                result = track_rule_scores(track, series, fps, rule_settings, envelope)
                times = frames[members] / fps
                result.extra = {"first_time_s": float(times.min()), "last_time_s": float(times.max())}
                evidence.append(result)
                moves = np.full(len(series.frames), np.nan)  # movement into each frame from the one before
                if len(series.frames) > 1:
                    moves[1:] = mouth_movement_all(series)
                for k, frame in enumerate(series.frames):
                    frame_rows.append({
                        "track": track, "frame": int(frame), "time_s": round(frame / fps, 4),
                        "mouth_gap": float(series.gap[k]), "mouth_width": float(series.width[k]),
                        "movement": float(moves[k]),
                        "audio_db": float(envelope[min(int(frame), len(envelope) - 1)]) if envelope is not None else float("nan"),
                    })
            vote_possible_speakers(evidence, rule_settings)
            asd, asd_scores = None, {}
            if asd_dir is not None:
                asd_scores = read_asd_scores(Path(asd_dir), item.name)
                error = Path(asd_dir) / f"{item.name}.error"
                if not error.is_file():
                    asd = {t: summarise_asd(t, np.array(list(v.values())), asd_settings) for t, v in asd_scores.items()}
            possible, decided_by, how = fuse({e.track: e.possible_speaker for e in evidence}, asd, mode)
            if asd_dir is not None and asd is None:
                how = f"rules (ASD failed: {(Path(asd_dir) / f'{item.name}.error').read_text().strip()})"
            elif asd_dir is None:
                how = f"rules only ({no_asd_note})" if no_asd_note else "rules"
            for e in evidence:
                verdict = (asd or {}).get(e.track)
                e.extra.update(rules_possible=e.possible_speaker, decided_by=decided_by[e.track],
                               asd_mean=verdict.mean_score if verdict else float("nan"),
                               asd_speaking_fraction=verdict.speaking_fraction if verdict else float("nan"),
                               asd_sure=verdict.sure if verdict else None, asd_speaking=verdict.speaking if verdict else None)
                e.possible_speaker = possible[e.track]
            for row in frame_rows:
                row["asd_score"] = asd_scores.get(row["track"], {}).get(row["frame"], float("nan"))
            if envelope is None:
                how += "; no audio: lip/audio rule not used"
            detection_rows.append({"utterance": item.name, "speaker_detection": how})
            write_tsv(out_dir / f"{item.name}.tsv", [e.row() for e in evidence], TRACK_EVIDENCE_COLUMNS)
            write_tsv(out_dir / f"{item.name}_frames.tsv", frame_rows, FRAME_EVIDENCE_COLUMNS)
        except Exception as err:  # noqa: BLE001
            log.exception("%s: speaker evidence failed", item.name)
            status[item.name] = ("failed", f"evidence: {failure_reason(err)}")
    write_tsv(out_dir / "detection.tsv", detection_rows, ["utterance", "speaker_detection"])
    write_status(out_dir / "status.tsv", status)
    return status


def read_asd_scores(asd_dir: Path, name: str) -> dict[int, dict[int, float]]:
    """track -> frame -> smoothed ASD score."""
    path = Path(asd_dir) / f"{name}.tsv"
    scores: dict[int, dict[int, float]] = {}
    if path.is_file():
        for row in read_tsv(path):
            value = float(row["asd_smoothed"]) if row["asd_smoothed"] else float("nan")
            scores.setdefault(int(row["track"]), {})[int(row["frame"])] = value
    return scores


def mouth_movement_all(series) -> np.ndarray:
    """Movement for every consecutive pair of the series (NaN where frames are not adjacent)."""
    from facseq.rules import mouth_movement

    values = np.full(len(series.frames) - 1, np.nan)
    values[np.diff(series.frames) == 1] = mouth_movement(series)
    return values


# --------------------------------------------------------------------------------------------- 5. selection
DECISION_COLUMNS = [
    "utterance", "speaker", "in_library", "status", "reason", "n_tracks", "n_possible_speakers", "candidates",
    "n_clusters", "chosen_cluster", "similarity", "n_faces", "decided_by", "speaker_detection", "has_audio", "clip",
]
FACE_COLUMNS = ["crop", "frame", "time_s", "x1", "y1", "x2", "y2", "track", "cluster", "similarity", "probability", "source_crop"]
CLUSTER_COLUMNS = ["cluster", "n_faces", "isolated", "eligible", "speaker_similarity", "best_role", "best_role_similarity", "tracks", "chosen"]


def select_speaker(
    items: list[BatchItem],
    faces_dir: Path,
    audio_dir: Path,
    embeddings_dir: Path,
    evidence_dir: Path,
    library_path: Path,
    out_dir: Path,
    facseq_dir: Path,
    cluster_settings,
    match_settings,
) -> list[dict]:
    """Cluster the possible speakers' faces, match them with the library, and write the chosen sequence:
    `facseq_dir/{utt}/NNNNNN.jpg` + `faces.tsv` (the contract's output, rewritten whole on every run),
    `out_dir/{utt}_clusters.tsv` (every cluster with its similarities) and `out_dir/decisions.tsv`."""
    out_dir, status, media = _stage_start(out_dir, Path(evidence_dir) / "status.tsv", audio_dir)
    facseq_dir = Path(facseq_dir)
    library = load_library(library_path)
    detection_tsv = Path(evidence_dir) / "detection.tsv"
    detection = {r["utterance"]: r["speaker_detection"] for r in read_tsv(detection_tsv)} if detection_tsv.is_file() else {}
    decisions = []
    for item in items:
        utt_out = facseq_dir / item.name
        shutil.rmtree(utt_out, ignore_errors=True)  # a rerun never mixes old and new crops
        utt_out.mkdir(parents=True, exist_ok=True)
        in_library = item.speaker in library
        has_audio = media.get(item.name, {}).get("has_audio", "")
        decision = {"utterance": item.name, "speaker": item.speaker, "in_library": in_library,
                    "clip": item.clip, "has_audio": has_audio, "n_faces": 0,
                    "speaker_detection": detection.get(item.name, "")}
        face_rows: list[dict] = []
        state, reason = status.get(item.name, ("failed", "missing from the previous stage"))
        if state == PENDING:
            try:
                face_rows, extra = _select_one(item, faces_dir, embeddings_dir, evidence_dir, library, in_library,
                                               out_dir, utt_out, cluster_settings, match_settings)
                decision.update(extra)
                state, reason = extra["status"], extra["reason"]
            except Exception as err:  # noqa: BLE001
                log.exception("%s: speaker selection failed", item.name)
                state, reason = "failed", f"selection: {failure_reason(err)}"
                face_rows = []
                shutil.rmtree(utt_out, ignore_errors=True)
                utt_out.mkdir(parents=True, exist_ok=True)
        decision.update(status=state, reason=reason, n_faces=len(face_rows))
        write_tsv(utt_out / "faces.tsv", face_rows, FACE_COLUMNS)
        decisions.append(decision)
    write_tsv(out_dir / "decisions.tsv", decisions, DECISION_COLUMNS)
    return decisions


def _select_one(item, faces_dir, embeddings_dir, evidence_dir, library, in_library, out_dir, utt_out,
                cluster_settings, match_settings):
    from facseq.cluster import cluster_faces
    from facseq.match import choose_cluster, one_face_per_frame, score_clusters

    rows = load_detections(faces_dir, item.name)
    vectors = np.load(Path(embeddings_dir) / f"{item.name}.npy")
    evidence = read_tsv(Path(evidence_dir) / f"{item.name}.tsv")
    possible = {int(e["track"]) for e in evidence if e["possible_speaker"] == "yes"}
    tracked = [r for r in rows if r["track"] >= 0]
    candidates = [r for r in tracked if r["track"] in possible]
    how = "possible speakers"
    if not candidates:  # nobody passed the speaking rules: let the library decide among all tracked faces
        candidates, how = tracked, "all tracks (no track passed the speaking rules)"
    extra = {"n_tracks": len(evidence), "n_possible_speakers": len(possible), "candidates": how}
    embedded = [i for i, r in enumerate(candidates) if np.isfinite(vectors[r["det"]]).all()]
    emb = vectors[[candidates[i]["det"] for i in embedded]]
    clustering = cluster_faces(emb, cluster_settings)
    clusters, emb_sim = score_clusters(emb, clustering.labels, clustering.isolated, library, item.speaker, match_settings)
    track_av = {int(e["track"]): float(e["av_correlation"]) if e.get("av_correlation") else np.nan for e in evidence}
    lip_audio = {}
    for i, label in zip(embedded, clustering.labels):
        value = track_av.get(candidates[i]["track"], np.nan)
        if np.isfinite(value):
            lip_audio[int(label)] = max(lip_audio.get(int(label), -1.0), value)
    decision = choose_cluster(clusters, item.speaker, in_library, match_settings, lip_audio)
    # Faces that were not embedded take their track's majority cluster and median similarity.
    labels, face_sim = spread_over_tracks([r["track"] for r in candidates], embedded, clustering.labels, emb_sim)
    competing = sum(c.eligible for c in clusters)
    decided_by = "face library" if competing > 1 else "speaking evidence (one candidate), checked by the face library"
    if "lips that follow the voice" in decision.reason:
        decided_by = "lip/audio agreement among passer-by clusters"
    extra.update(n_clusters=clustering.n_clusters, chosen_cluster=decision.chosen_cluster,
                 similarity=decision.similarity, status=decision.status, reason=decision.reason, decided_by=decided_by)
    cluster_rows = []
    for c in clusters:
        cluster_rows.append({
            "cluster": c.cluster, "n_faces": c.n_faces, "isolated": c.isolated, "eligible": c.eligible,
            "speaker_similarity": c.speaker_similarity, "best_role": c.best_role,
            "best_role_similarity": c.best_role_similarity,
            "tracks": " ".join(str(t) for t in sorted({candidates[i]["track"] for i in np.flatnonzero(labels == c.cluster)})),
            "chosen": c.cluster == decision.chosen_cluster,
        })
    write_tsv(out_dir / f"{item.name}_clusters.tsv", cluster_rows, CLUSTER_COLUMNS)
    # Which cluster each candidate face fell in: the contact sheet draws from this.
    write_tsv(out_dir / f"{item.name}_faces.tsv",
              [{"det": r["det"], "track": r["track"], "cluster": int(labels[i]), "similarity": float(face_sim[i])}
               for i, r in enumerate(candidates)], ["det", "track", "cluster", "similarity"])
    face_rows = []
    if decision.chosen_cluster is not None:
        members = np.flatnonzero(labels == decision.chosen_cluster)
        # One face per frame; for a leading role the one most like the role, else the surest detection.
        score = face_sim[members] if in_library else np.array([candidates[i]["probability"] for i in members])
        keep = members[one_face_per_frame(np.array([candidates[i]["frame"] for i in members]), score)]
        for n, i in enumerate(keep):
            r = candidates[i]
            crop = f"{n:06d}.jpg"
            shutil.copyfile(Path(faces_dir) / item.name / "crops" / r["crop"], utt_out / crop)
            face_rows.append({"crop": crop, "frame": r["frame"], "time_s": r["time_s"], "x1": r["x1"], "y1": r["y1"],
                              "x2": r["x2"], "y2": r["y2"], "track": r["track"], "cluster": decision.chosen_cluster,
                              "similarity": round(float(face_sim[i]), 4), "probability": r["probability"],
                              "source_crop": r["crop"]})
    return face_rows, extra


def spread_over_tracks(tracks: list[int], embedded: list[int], labels: np.ndarray, sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cluster label and similarity for every face: its own when embedded, else its track's majority
    label and median similarity (-1 / NaN for a track with no embedded face)."""
    tracks = np.asarray(tracks)
    out_labels = np.full(len(tracks), -1, dtype=np.int64)
    out_sims = np.full(len(tracks), np.nan)
    out_labels[embedded] = labels
    out_sims[embedded] = sims
    is_embedded = np.zeros(len(tracks), dtype=bool)
    is_embedded[embedded] = True
    for track in np.unique(tracks):
        own = (tracks == track) & is_embedded
        rest = (tracks == track) & ~is_embedded
        if own.any() and rest.any():
            out_labels[rest] = np.bincount(out_labels[own]).argmax()
            out_sims[rest] = np.median(out_sims[own])
    return out_labels, out_sims


# --------------------------------------------------------------------------------------------- 6. outputs
def collect_split(utterances, decision_tables: list[Path], facseq_dir: Path, out_json: Path, out_profile: Path, out_decisions: Path) -> list[dict]:
    """FacialMMT's two JSON files and the split's `decisions` table, in CSV order. Every utterance of
    the CSV gets a key; an utterance missing from every batch table is recorded as failed."""
    from facseq.meld import utterance_profile

    by_name = {}
    for path in decision_tables:
        for row in read_tsv(path):
            by_name[row["utterance"]] = row
    facseq_dir = Path(facseq_dir).resolve()
    sequences, decisions = {}, []
    for utt in utterances:
        row = by_name.get(utt.name) or {"utterance": utt.name, "speaker": utt.speaker, "status": "failed",
                                        "reason": "no batch produced a decision for this utterance"}
        faces_tsv = facseq_dir / utt.name / "faces.tsv"
        # A failed (missing) utterance never lists faces, even if an older run left a faces.tsv behind.
        crops = [r["crop"] for r in read_tsv(faces_tsv)] if utt.name in by_name and faces_tsv.is_file() else []
        sequences[utt.name] = [str(facseq_dir / utt.name / c) for c in crops]
        decisions.append(row)
    for path, payload in ((out_json, sequences), (out_profile, utterance_profile(utterances))):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    write_tsv(out_decisions, decisions, DECISION_COLUMNS)
    return decisions


def decision_summary(decisions: list[dict]) -> dict:
    """Counts per status and per speaker x status (for the report)."""
    per_status: dict[str, int] = {}
    per_speaker: dict[str, dict[str, int]] = {}
    for row in decisions:
        per_status[row["status"]] = per_status.get(row["status"], 0) + 1
        speaker = per_speaker.setdefault(row.get("speaker", ""), {})
        speaker[row["status"]] = speaker.get(row["status"], 0) + 1
    return {"per_status": per_status, "per_speaker": per_speaker}


def contact_sheets(items: list[BatchItem], faces_dir: Path, evidence_dir: Path, select_dir: Path, out_dir: Path) -> None:
    """`out_dir/{utt}.png` for every utterance of the batch (a header-only sheet when it never got faces)."""
    from facseq.contact_sheet import render_contact_sheet

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    decisions = {row["utterance"]: row for row in read_tsv(Path(select_dir) / "decisions.tsv")}
    for item in items:
        row = decisions.get(item.name, {})
        lines = [
            f"speaker {item.speaker!r} ({'leading role' if row.get('in_library') == 'yes' else 'passer-by'}): "
            f"status {row.get('status', '?')}",
            f"reason: {row.get('reason', '')}",
            f"tracks {row.get('n_tracks') or 0}, possible speakers {row.get('n_possible_speakers') or 0} "
            f"(clustered: {row.get('candidates') or '-'}), clusters {row.get('n_clusters') or 0}, "
            f"returned faces {row.get('n_faces') or 0}",
            f"possible speakers from: {row.get('speaker_detection') or '-'}; decided by: {row.get('decided_by') or '-'}",
        ]
        clusters_tsv = Path(select_dir) / f"{item.name}_clusters.tsv"
        clusters, faces, evidence = [], {}, []
        if clusters_tsv.is_file():
            clusters = read_tsv(clusters_tsv)
            crops = {r["det"]: r["crop"] for r in read_tsv(Path(faces_dir) / item.name / "detections.tsv")}
            for face in read_tsv(Path(select_dir) / f"{item.name}_faces.tsv"):
                path = Path(faces_dir) / item.name / "crops" / crops[face["det"]]
                faces.setdefault(int(face["cluster"]), []).append(path)
        frame_evidence, n_frames = {}, 0
        if (Path(evidence_dir) / f"{item.name}.tsv").is_file():
            evidence = read_tsv(Path(evidence_dir) / f"{item.name}.tsv")
            for row in read_tsv(Path(evidence_dir) / f"{item.name}_frames.tsv"):
                frame_evidence.setdefault(int(row["track"]), []).append(row)
                n_frames = max(n_frames, int(row["frame"]) + 1)
        render_contact_sheet(f"{item.name}  ({item.clip})", lines, clusters, faces, evidence,
                             out_dir / f"{item.name}.png", frame_evidence, n_frames)
