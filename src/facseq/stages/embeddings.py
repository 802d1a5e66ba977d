"""Stage 3 (rules/embeddings.smk: embed_library, embed_faces): face embeddings of the library and of the tracked faces."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facseq.stages.common import BatchItem, _pending, _read_rgb, _stage_start, log
from facseq.stages.faces import load_detections
from facseq.tables import failure_reason, write_status, write_tsv


def sample_per_track(rows: list[dict], max_per_track: int) -> list[dict]:
    """At most `max_per_track` faces of each track, evenly spaced in time (all when 0)."""
    chosen = []
    for track in sorted({r["track"] for r in rows if r["track"] >= 0}):
        members = sorted((r for r in rows if r["track"] == track), key=lambda r: r["frame"])
        if max_per_track and len(members) > max_per_track:
            members = [members[int(round(i))] for i in np.linspace(0, len(members) - 1, max_per_track)]
        chosen += members
    return chosen


def five_points_in_crops(utt_dir: Path, rows: list[dict], crop_margin: int, width: int, height: int) -> np.ndarray:
    """(len(rows),5,2) alignment points of these detections in their crops' pixels: the face mesh's
    (`landmarks.npy`), else MTCNN's (`five_points.npy`), else NaN."""
    from facseq.align import face_five_points, points_in_crop
    from facseq.faces import CROP_SIZE

    mesh, mtcnn = np.load(Path(utt_dir) / "landmarks.npy"), np.load(Path(utt_dir) / "five_points.npy")
    out = np.full((len(rows), 5, 2), np.nan)
    for i, row in enumerate(rows):
        box = (row["x1"], row["y1"], row["x2"], row["y2"])
        out[i] = points_in_crop(face_five_points(mesh[row["det"]], mtcnn[row["det"]]), box, CROP_SIZE, crop_margin, width, height)
    return out


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
            points = five_points_in_crops(Path(faces_dir) / item.name, used, crop_margin, width, height)
            vectors = embedder.embed(crops, boxes, points)
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

    Library images may be whole photos or face crops: the largest MTCNN face is cropped (and its five
    alignment points found) like the clip faces; an image where no face is found is taken as an
    already-cropped face."""
    from facseq.align import face_five_points, points_in_crop
    from facseq.embed import make_embedder
    from facseq.faces import CROP_SIZE, FaceDetector, FaceMesh, box_in_crop, crop_face

    library_dir = Path(library_dir)
    if not library_dir.is_dir():
        raise FileNotFoundError(f"{library_dir}: face library folder not found")
    embedder = make_embedder(backend, weights, device)
    detector, mesh = FaceDetector(detector_settings), FaceMesh(detector_settings)
    margin = detector_settings.crop_margin
    roles, listing = {}, []
    for role_dir in sorted(p for p in library_dir.iterdir() if p.is_dir()):
        images = sorted(p for p in role_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        crops, boxes, points = [], [], []
        for path in images:
            image = _read_rgb(path)
            height, width = image.shape[:2]
            (found, probs, found_points), = detector.detect_with_points([image])
            if len(found):
                largest = int(np.argmax((found[:, 2] - found[:, 0]) * (found[:, 3] - found[:, 1])))
                box = found[largest]
                crops.append(crop_face(image, box, margin=margin))
                boxes.append(box_in_crop(box, CROP_SIZE, margin, width, height))
                face_points = face_five_points(mesh.landmarks(image, box), found_points[largest])
                points.append(points_in_crop(face_points, box, CROP_SIZE, margin, width, height))
                how = "detected"
            else:
                crops.append(cv2.resize(image, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA))
                boxes.append((10.0, 10.0, CROP_SIZE - 10.0, CROP_SIZE - 10.0))
                points.append(np.full((5, 2), np.nan))  # aligners fall back on the box
                how = "whole image (no face detected)"
            listing.append({"role": role_dir.name, "image": str(path), "face": how})
        if crops:
            roles[role_dir.name] = embedder.embed(crops, boxes, np.array(points))
    mesh.close()
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

