"""A track is one person: split linked face tracks where the identity changes.

Linking by box overlap cannot see a hard cut between two people framed alike, and a shot detector can
miss one (same set, same framing). So after linking, faces along each track are embedded and the track
is cut where the faces before and after a point stop looking like one person: the (coordinate-wise)
median embedding of up to `window` faces on each side is compared (a median, so one blurred or turned
face does not cut a track), the least similar point is cut when below `min_similarity`, and each part is
searched again (binary segmentation). Each cut is then placed exactly: every face near it goes with the
side whose median it is closer to. The embeddings are kept for the embed stage.

Embedding is the costly step, and almost every track is one person, so faces are embedded coarse to
fine (`embed_along_tracks`): every `coarse_every`-th face first; only where two consecutive coarse faces
are not alike (a possible switch, or one poor face) every `every`-th face of that stretch and of `window`
fine steps either side. A part of another person that lasts `coarse_every` faces or more holds a coarse
face, so it is always refined; `coarse_every: 1` (or <= `every`) is the dense check.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class IdentitySettings:
    every: int = 2  # near a possible switch every N-th face is embedded: a switch is found within N frames
    coarse_every: int = 8  # elsewhere every N-th face: a part of another person lasting N faces is always seen
    window: int = 3  # embedded faces averaged on each side of a candidate switch
    min_faces: int = 3  # embedded faces each side needs before a switch can be called (3: a median)
    min_similarity: float = 0.92  # same person at or above (cosine of the window medians; per backend)


@dataclass(frozen=True)
class IdentitySplit:
    linked_track: int  # the track as linked by box overlap
    frame: int  # first frame of the new part
    similarity: float  # between the faces before and after
    reason: str


def _unit(x: np.ndarray) -> np.ndarray:
    return x / max(float(np.linalg.norm(x)), 1e-12)


def identity_switches(embeddings: np.ndarray, settings: IdentitySettings) -> list[tuple[int, float]]:
    """(K, D) L2-normalised embeddings of one track's faces in time order -> sorted [(k, similarity)]:
    the identity changes between face k-1 and face k."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    need, window = max(settings.min_faces, 1), max(settings.window, settings.min_faces, 1)
    found: list[tuple[int, float]] = []
    segments = [(0, len(embeddings))]
    while segments:
        lo, hi = segments.pop()
        best_k, best_sim = None, np.inf
        for k in range(lo + need, hi - need + 1):
            before = _unit(np.median(embeddings[max(lo, k - window) : k], axis=0))
            after = _unit(np.median(embeddings[k : min(hi, k + window)], axis=0))
            similarity = float(before @ after)
            if similarity < best_sim:
                best_k, best_sim = k, similarity
        if best_k is not None and best_sim < settings.min_similarity:
            best_k = _place_cut(embeddings, best_k, lo, hi, window)
            found.append((best_k, best_sim))
            segments += [(lo, best_k), (best_k, hi)]
    return sorted(found)


def _place_cut(embeddings: np.ndarray, k: int, lo: int, hi: int, window: int) -> int:
    """The cut near k that puts each face of the window on either side with the side it resembles most
    (the medians mix the two people near a switch, so the least similar point can be off by a face)."""
    before = _unit(np.median(embeddings[max(lo, k - window) : k], axis=0))
    after = _unit(np.median(embeddings[k : min(hi, k + window)], axis=0))
    start, stop = max(lo + 1, k - window + 1), min(hi - 1, k + window - 1)
    zone = embeddings[start - 1 : stop + 1]
    nearer_after = zone @ after > zone @ before  # (len(zone),)
    # errors of cutting at c: faces before c that look like `after` + faces from c that look like `before`
    errors = {c: int(nearer_after[: c - start + 1].sum() + (~nearer_after[c - start + 1 :]).sum())
              for c in range(start, stop + 1)}
    return min(errors, key=lambda c: (errors[c], abs(c - k)))


def faces_to_embed(track_of: np.ndarray, frames: np.ndarray, every: int) -> np.ndarray:
    """Detection indices to embed: every `every`-th face of each track in time order, and its last face."""
    track_of, frames = np.asarray(track_of), np.asarray(frames)
    chosen = []
    for track in np.unique(track_of[track_of >= 0]):
        members = np.flatnonzero(track_of == track)
        members = members[np.argsort(frames[members], kind="stable")]
        chosen += list(members[:: max(every, 1)]) + [members[-1]]
    return np.array(sorted(set(int(i) for i in chosen)), dtype=np.int64)


def split_tracks(track_of: np.ndarray, frames: np.ndarray, embeddings: np.ndarray, settings: IdentitySettings,
                 min_length: int = 1) -> tuple[np.ndarray, list[IdentitySplit], np.ndarray]:
    """Cut every track where its identity changes.

    track_of: (N,) linked track per detection (-1 = none); frames: (N,); embeddings: (N, D), NaN rows for
    faces not embedded. Returns (new track per detection, renumbered 0.. in order of first appearance,
    parts shorter than `min_length` -> -1; the splits; (N,) index into the splits of the split that
    started each detection's part, -1 for parts that start where the linker started them)."""
    track_of = np.asarray(track_of, dtype=np.int64)
    frames = np.asarray(frames, dtype=np.int64)
    part_of = np.full(len(track_of), -1, dtype=np.int64)
    split_of = np.full(len(track_of), -1, dtype=np.int64)
    splits: list[IdentitySplit] = []
    n_parts = 0
    for track in np.unique(track_of[track_of >= 0]):
        members = np.flatnonzero(track_of == track)
        members = members[np.argsort(frames[members], kind="stable")]
        embedded = members[np.isfinite(embeddings[members]).all(axis=1)]
        cut_frames, cut_splits = [], []
        for k, similarity in identity_switches(embeddings[embedded], settings):
            frame = int(frames[embedded[k]])
            cut_frames.append(frame)
            cut_splits.append(len(splits))
            splits.append(IdentitySplit(int(track), frame, similarity,
                                        f"identity change at frame {frame}: faces before and after "
                                        f"{similarity:.2f} alike (< {settings.min_similarity:.2f})"))
        part = np.searchsorted(np.array(cut_frames, dtype=np.int64), frames[members], side="right")
        part_of[members] = n_parts + part
        split_of[members] = np.array([-1] + cut_splits, dtype=np.int64)[part]
        n_parts += len(cut_frames) + 1
    # renumber in order of first appearance; drop parts too short to be a track
    out = np.full(len(track_of), -1, dtype=np.int64)
    renumber: dict[int, int] = {}
    counts = np.bincount(part_of[part_of >= 0], minlength=n_parts)
    for det in np.argsort(frames, kind="stable"):
        p = int(part_of[det])
        if p >= 0 and counts[p] >= min_length:
            out[det] = renumber.setdefault(p, len(renumber))
    return out, splits, split_of


def refine_stretches(track_of: np.ndarray, frames: np.ndarray, embeddings: np.ndarray, settings: IdentitySettings) -> np.ndarray:
    """Detection indices to embed next: for each track, between two consecutive embedded faces that are
    less alike than `min_similarity` (one face each, so noisier than the medians: a false alarm only costs
    embeddings), every `every`-th face of that stretch, widened by `window` such steps on either side so
    that the medians next to a switch are made of near faces."""
    track_of, frames = np.asarray(track_of), np.asarray(frames)
    step, widen = max(settings.every, 1), max(settings.window, settings.min_faces, 1) * max(settings.every, 1)
    chosen: set[int] = set()
    for track in np.unique(track_of[track_of >= 0]):
        members = np.flatnonzero(track_of == track)
        members = members[np.argsort(frames[members], kind="stable")]
        position = np.flatnonzero(np.isfinite(embeddings[members]).all(axis=1))  # embedded faces, in track order
        for a, b in zip(position, position[1:]):
            if float(embeddings[members[a]] @ embeddings[members[b]]) < settings.min_similarity:
                chosen.update(int(i) for i in members[max(0, a - widen) : b + widen + 1 : step])
    return np.array(sorted(chosen), dtype=np.int64)


def embed_along_tracks(embedder, frames: list[np.ndarray], frame_of: np.ndarray, boxes: np.ndarray,
                       track_of: np.ndarray, settings: IdentitySettings, crop_margin: int,
                       five_points: np.ndarray | None = None) -> np.ndarray:
    """(N, D) L2-normalised embeddings of the faces that check each track's identity, coarse to fine (see
    the module docstring), cut from the RGB frames in
    memory like the saved crops (`facseq.faces.crop_face`); NaN rows for faces not embedded.
    `five_points` (N,5,2 frame pixels: `facseq.align.face_five_points`, mesh else MTCNN) align the faces
    for the backends that align by them.

    The faces stage saves this as `embeddings.npy` next to `detections.tsv` (rows = its `det`), made with
    `embedding.backend`, so that the embed stage can reuse these faces instead of embedding them again."""
    first = faces_to_embed(track_of, frame_of, max(settings.coarse_every, settings.every))
    vectors = _embed(first, embedder, frames, frame_of, boxes, crop_margin, five_points)
    out = np.full((len(frame_of), vectors.shape[1] if len(first) else getattr(embedder, "dim", 0)), np.nan, dtype=np.float32)
    out[first] = vectors
    if settings.coarse_every > settings.every and len(first):
        fine = refine_stretches(track_of, frame_of, out, settings)
        fine = fine[~np.isfinite(out[fine]).all(axis=1)] if len(fine) else fine
        if len(fine):
            out[fine] = _embed(fine, embedder, frames, frame_of, boxes, crop_margin, five_points)
    return out


def _embed(chosen: np.ndarray, embedder, frames, frame_of, boxes, crop_margin: int, five_points) -> np.ndarray:
    """(len(chosen), D) embeddings of the faces `chosen` (detection indices), in one embedder call."""
    from facseq.align import points_in_crop
    from facseq.faces import CROP_SIZE, box_in_crop, crop_face

    if not len(chosen):
        return np.zeros((0, getattr(embedder, "dim", 0)), dtype=np.float32)
    height, width = frames[0].shape[:2]
    crops = [crop_face(frames[frame_of[i]], boxes[i], margin=crop_margin) for i in chosen]
    in_crop = [box_in_crop(boxes[i], CROP_SIZE, crop_margin, width, height) for i in chosen]
    points = None if five_points is None else np.array(
        [points_in_crop(five_points[i], boxes[i], CROP_SIZE, crop_margin, width, height) for i in chosen])
    return embedder.embed(crops, in_crop, points)
