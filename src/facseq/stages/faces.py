"""Stage 2 (rules/faces.smk: detect_faces): faces, landmarks, tracks (FaceIDs) and crops of each clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facseq.media import ClipInfo, MediaError, decode_frames
from facseq.stages.common import BatchItem, _pending, _stage_start, _write_rgb, log
from facseq.tables import failure_reason, read_tsv, write_status, write_tsv

# track: the FaceID (one person); linked_track: the track box linking made, before the identity check;
# identity_split: why the identity check cut this face's part off its linked track ("" when it did not);
# source: `detected` (an MTCNN box) or `tracked` (carried by the face mesh between detections, facseq.detect)
DETECTION_COLUMNS = ["det", "frame", "time_s", "shot", "track", "linked_track", "identity_split", "x1", "y1", "x2",
                     "y2", "probability", "landmarks", "crop", "source"]


def detect_faces(items: list[BatchItem], audio_dir: Path, out_dir: Path, settings, track_settings: dict,
                 shot_settings=None, identity_settings=None, embedding: dict | None = None, keep_frames: bool = False,
                 asd_crops: bool = False) -> dict:
    """Per utterance: `detections.tsv` (every face, with its track = FaceID), `landmarks.npy`
    (N,468,2 face-mesh points in clip pixels, NaN where the mesh failed), `five_points.npy` (N,5,2 MTCNN
    eyes, nose tip, mouth corners in clip pixels) and `crops/{det}.jpg` (160x160); `shots.tsv` (the
    clip's shots, PySceneDetect) and, with `identity_settings`, `embeddings.npy` (see
    `facseq.identity.embed_along_tracks`: the faces that checked each track's identity, embedded with
    `embedding` = {backend, weights, device}).

    Each clip is decoded once, into memory, at the rate and frame count `extract_media` recorded; all
    pixels come from that array. `asd_crops` adds `asd_crops.npz` (the ASD's grey 112x112 crops of every
    track, `asd_track_crops`), `keep_frames` the frames themselves (`frames/NNNNNN.jpg`)."""
    from facseq.align import face_five_points
    from facseq.detect import find_faces
    from facseq.faces import FaceDetector, FaceMesh, crop_face
    from facseq.identity import embed_along_tracks, split_tracks
    from facseq.shots import ShotSettings, shot_of_frames
    from facseq.track import link_tracks

    out_dir, status, media = _stage_start(out_dir, Path(audio_dir) / "status.tsv", audio_dir)
    detector, mesh = FaceDetector(settings), FaceMesh(settings)
    embedder = None
    if identity_settings is not None:
        from facseq.embed import make_embedder

        embedding = embedding or {}
        embedder = make_embedder(embedding.get("backend", "dlib"), embedding.get("weights"), embedding.get("device", "cpu"))
    pending = [item for item in items if _pending(status, item.name)]
    try:
        for item, decoded in zip(pending, decoded_ahead(pending, media, shot_settings or ShotSettings())):
            try:
                frames, cuts = decoded.result()  # (T, H, W, 3) RGB, the only decode of the video; shot starts
                fps = float(media[item.name]["fps"])
                found = find_faces(frames, detector, mesh, settings.stride, cuts, track_settings.get("min_iou", 0.3))
                frame_of, boxes, probs = found.frame_of, found.boxes, found.probabilities
                five_points, landmarks = found.five_points, found.landmarks
                link = {k: v for k, v in track_settings.items() if k in ("min_iou", "max_gap", "min_length")}
                linked = tracks = link_tracks(frame_of, boxes, shot_starts=cuts, **link)
                splits, split_of = [], np.full(len(boxes), -1)
                utt_dir = out_dir / item.name
                utt_dir.mkdir(parents=True, exist_ok=True)
                if embedder is not None:  # a track is one person: cut it where the identity changes
                    # The embed stage reuses these vectors: align them as it aligns the rest (mesh, else MTCNN).
                    points = np.array([face_five_points(lm, fp) for lm, fp in zip(landmarks, five_points)])
                    points = points.reshape(-1, 5, 2)  # (N, 5, 2) also when no face was found
                    embeddings = embed_along_tracks(embedder, frames, frame_of, boxes, linked, identity_settings,
                                                    settings.crop_margin, points)
                    tracks, splits, split_of = split_tracks(linked, frame_of, embeddings, identity_settings,
                                                            link.get("min_length", 1))
                    np.save(utt_dir / "embeddings.npy", embeddings)
                shot_of = shot_of_frames(frame_of, cuts)
                write_shots(utt_dir / "shots.tsv", cuts, len(frames), fps)
                (utt_dir / "crops").mkdir(parents=True, exist_ok=True)
                rows = []
                for det, (frame, box) in enumerate(zip(frame_of, boxes)):
                    image = frames[frame]
                    crop_name = f"{det:05d}.jpg"
                    _write_rgb(utt_dir / "crops" / crop_name, crop_face(image, box, margin=settings.crop_margin))
                    rows.append({
                        "det": det, "frame": int(frame), "time_s": round(frame / fps, 4), "shot": int(shot_of[det]),
                        "track": int(tracks[det]), "linked_track": int(linked[det]),
                        "identity_split": splits[split_of[det]].reason if split_of[det] >= 0 else "",
                        "x1": round(box[0], 1), "y1": round(box[1], 1), "x2": round(box[2], 1), "y2": round(box[3], 1),
                        "probability": round(float(probs[det]), 4),
                        "landmarks": bool(np.isfinite(landmarks[det]).all()), "crop": crop_name,
                        "source": "detected" if found.detected[det] else "tracked",
                    })
                write_tsv(utt_dir / "detections.tsv", rows, DETECTION_COLUMNS)
                np.save(utt_dir / "landmarks.npy", landmarks)
                np.save(utt_dir / "five_points.npy", np.array(five_points, dtype=np.float32).reshape(-1, 5, 2))
                if asd_crops:
                    np.savez_compressed(utt_dir / "asd_crops.npz", **asd_track_crops(frames, frame_of, boxes, tracks))
                if keep_frames:
                    (utt_dir / "frames").mkdir(exist_ok=True)
                    for index, image in enumerate(frames):
                        _write_rgb(utt_dir / "frames" / f"{index:06d}.jpg", image)
                log.info("%s: %d frames, MTCNN on %d, %d faces (%d tracked by the mesh)", item.name, len(frames),
                         found.n_detected_frames, len(boxes), int((~found.detected).sum()))
                if not (tracks >= 0).any():
                    reason = "no face detected" if len(boxes) == 0 else f"{len(boxes)} face detection(s) but no stable track"
                    status[item.name] = ("no_face", reason)
            except MediaError as err:  # probed fine, but the video does not decode
                status[item.name] = ("no_video", str(err))
            except Exception as err:  # noqa: BLE001
                log.exception("%s: face detection failed", item.name)
                status[item.name] = ("failed", f"faces: {failure_reason(err)}")
    finally:
        mesh.close()
    write_status(out_dir / "status.tsv", status)
    return status


def decoded_ahead(items: list[BatchItem], media: dict, shot_settings):
    """For each item in turn, a future of (frames, shot starts): the next clip is decoded (ffmpeg in its
    own process, the pipe read in a thread) and cut into shots while the current one is processed."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as pool:
        ahead = pool.submit(decode_clip, items[0], media, shot_settings) if items else None
        for k in range(len(items)):
            current = ahead
            ahead = pool.submit(decode_clip, items[k + 1], media, shot_settings) if k + 1 < len(items) else None
            yield current


def decode_clip(item: BatchItem, media: dict, shot_settings) -> tuple[np.ndarray, list[int]]:
    """The clip's frames, decoded once into memory at the rate and count `extract_media` recorded, and
    its shot starts (PySceneDetect on those frames)."""
    from facseq.shots import shot_starts

    info = media[item.name]
    fps = float(info["fps"])
    clip = ClipInfo(item.clip, int(info["width"]), int(info["height"]), float(info["source_fps"]),
                    float(info["duration_s"]), info["has_audio"] == "yes")
    frames = decode_frames(clip, fps, int(info["n_frames"]))
    return frames, shot_starts(frames, shot_settings, fps)


def asd_track_crops(frames: np.ndarray, frame_of: np.ndarray, boxes: np.ndarray, tracks: np.ndarray) -> dict:
    """The active speaker detector's input, cut while the frames are in memory: for every track of at least
    `MIN_TRACK_FRAMES` frames, `crops_{t}` (F, 112, 112) uint8 grey crops (reference procedure,
    `facseq.asd.crop_track_gray112`) and `frames_{t}` (F,) the frames they belong to (the track's first
    to last frame, boxes interpolated over gaps)."""
    from facseq.asd import crop_track_gray112
    from facseq.asd.preprocess import MIN_TRACK_FRAMES, interpolate_track

    out = {}
    for track in np.unique(tracks[tracks >= 0]):
        members = tracks == track
        track_frames, track_boxes = interpolate_track(frame_of[members], boxes[members])
        if len(track_frames) >= MIN_TRACK_FRAMES:
            out[f"crops_{track}"] = crop_track_gray112(frames[track_frames], track_boxes, color="rgb")
            out[f"frames_{track}"] = track_frames
    return out


def write_shots(path: Path, starts: list[int], n_frames: int, fps: float) -> None:
    """One row per shot of the clip: first and last frame, start time."""
    bounds = [0, *starts, n_frames]
    write_tsv(path, [{"shot": k, "first_frame": a, "last_frame": b - 1, "start_s": round(a / fps, 4)}
                     for k, (a, b) in enumerate(zip(bounds, bounds[1:])) if b > a],
              ["shot", "first_frame", "last_frame", "start_s"])


def load_detections(faces_dir: Path, name: str) -> list[dict]:
    rows = read_tsv(Path(faces_dir) / name / "detections.tsv")
    for row in rows:
        for key in ("det", "frame", "shot", "track"):
            row[key] = int(row[key])
        for key in ("time_s", "x1", "y1", "x2", "y2", "probability"):
            row[key] = float(row[key])
    return rows

