"""Stage 3 (rules/embeddings.smk: embed_library, embed_faces): face embeddings of the library and of the tracked faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facseq.stages.common import BatchItem, _pending, _read_rgb, _stage_start, log
from facseq.stages.faces import load_detections
from facseq.tables import failure_reason, write_status, write_tsv


def sample_per_track(rows: list[dict], max_per_track: int, embedded: set[int] = frozenset()) -> list[dict]:
    """At most `max_per_track` faces of each track, evenly spaced in time (all when 0). A track with
    faces already embedded (`embedded`: their `det`s, the identity check's faces spread along the whole
    track) is sampled among those: a track segment's faces are embedded once, not again here."""
    chosen = []
    for track in sorted({r["track"] for r in rows if r["track"] >= 0}):
        members = sorted((r for r in rows if r["track"] == track), key=lambda r: r["frame"])
        ready = [r for r in members if r["det"] in embedded]
        if ready:
            members = ready
        if max_per_track and len(members) > max_per_track:
            members = [members[int(round(i))] for i in np.linspace(0, len(members) - 1, max_per_track)]
        chosen += members
    return chosen


def reusable_embeddings(utt_dir: Path, n_rows: int, dim: int) -> np.ndarray | None:
    """The faces stage's `embeddings.npy` (made with the same backend for the identity check; NaN rows
    for faces it did not embed), when it matches this utterance's detections and the embedder."""
    path = Path(utt_dir) / "embeddings.npy"
    if not path.is_file():
        return None
    saved = np.load(path)
    return saved if saved.shape == (n_rows, dim) else None


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
    a shot, so a sample of its faces identifies it; the embedder is the slowest per-face step: faces the
    faces stage already embedded (`embeddings.npy`, identity check) are reused, and the rest of the whole
    batch goes through the embedder in one call. The embedder is loaded only when some face is left to
    embed (with the identity check on, usually none is: its faces cover every track)."""
    from facseq.embed import backend_dim, make_embedder

    out_dir, status, media = _stage_start(out_dir, Path(faces_dir) / "status.tsv", audio_dir)
    dim = backend_dim(backend)
    embedder = make_embedder(backend, weights, device) if dim is None else None
    dim = dim or embedder.dim
    todo = []  # (item, output array, rows still to embed, their crops, boxes, five points)
    for item in items:
        if not _pending(status, item.name):
            continue
        try:
            todo.append((item, *_faces_to_embed(Path(faces_dir) / item.name, media[item.name], dim,
                                                crop_margin, max_per_track)))
        except Exception as err:  # noqa: BLE001
            log.exception("%s: embedding failed", item.name)
            status[item.name] = ("failed", f"embeddings: {failure_reason(err)}")
    if embedder is None and any(len(rows) for _, _, rows, *_ in todo):
        embedder = make_embedder(backend, weights, device)
    parts = _embed_batch(embedder, todo, dim)
    for k, (item, out, rows, crops, boxes, points) in enumerate(todo):
        try:
            part = parts[k] if parts is not None else embedder.embed(crops, boxes, points)
            if len(rows):
                out[[r["det"] for r in rows]] = part
            np.save(out_dir / f"{item.name}.npy", out)
        except Exception as err:  # noqa: BLE001
            log.exception("%s: embedding failed", item.name)
            status[item.name] = ("failed", f"embeddings: {failure_reason(err)}")
    write_status(out_dir / "status.tsv", status)
    return status


def _embed_batch(embedder, todo: list, dim: int) -> list[np.ndarray] | None:
    """The batch's faces still to embed in one embedder call, split per utterance; None when that call
    fails (then each utterance is embedded alone, so one bad face fails one utterance)."""
    if not any(len(rows) for _, _, rows, *_ in todo):
        return [np.zeros((0, dim), dtype=np.float32) for _ in todo]
    try:
        vectors = embedder.embed([c for *_, crops, _, _ in todo for c in crops], [b for *_, boxes, _ in todo for b in boxes],
                                 np.concatenate([points for *_, points in todo]))
        return np.split(vectors, np.cumsum([len(rows) for _, _, rows, *_ in todo])[:-1])
    except Exception:  # noqa: BLE001
        log.exception("embedding the batch at once failed: embedding each utterance alone")
        return None


def _faces_to_embed(utt_dir: Path, info: dict, dim: int, crop_margin: int, max_per_track: int):
    """(N, D) output with the reused embeddings filled in (NaN elsewhere), and the sampled rows still to
    embed with their crops, face boxes and five points in crop pixels."""
    from facseq.faces import CROP_SIZE, box_in_crop

    width, height = int(info["width"]), int(info["height"])
    rows = load_detections(utt_dir.parent, utt_dir.name)
    out = np.full((len(rows), dim), np.nan, dtype=np.float32)
    saved = reusable_embeddings(utt_dir, len(rows), dim)
    embedded = set() if saved is None else set(np.flatnonzero(np.isfinite(saved).all(axis=1)).tolist())
    used = sample_per_track(rows, max_per_track, embedded)
    reused = [r["det"] for r in used if r["det"] in embedded]
    if reused:
        out[reused] = saved[reused]
    missing = [r for r in used if r["det"] not in embedded]
    crops = [_read_rgb(utt_dir / "crops" / r["crop"]) for r in missing]
    boxes = [box_in_crop((r["x1"], r["y1"], r["x2"], r["y2"]), CROP_SIZE, crop_margin, width, height) for r in missing]
    return out, missing, crops, boxes, five_points_in_crops(utt_dir, missing, crop_margin, width, height)


def embed_library(library_dir: Path, out_path: Path, backend: str, weights, device: str, detector_settings) -> dict:
    """Embed every library image once: `out_path` (npz: one array per role) + a TSV listing each image.

    Library images may be whole photos or face crops: the largest MTCNN face is cropped (and its five
    alignment points found) like the clip faces; an image where no face is found is taken as an
    already-cropped face."""
    import cv2

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

