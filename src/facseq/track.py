"""Linking per-frame face boxes into tracks (FaceIDs) by box overlap over time."""

from __future__ import annotations

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between every box of `a` (N,4) and `b` (M,4), boxes as x1 y1 x2 y2 -> (N,M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def link_tracks(
    frames: np.ndarray,
    boxes: np.ndarray,
    min_iou: float = 0.3,
    max_gap: int = 5,
    min_length: int = 3,
    shot_starts: set[int] | frozenset[int] = frozenset(),
) -> np.ndarray:
    """Assign a track id to every detection; -1 for detections in tracks shorter than `min_length`.

    frames: (N,) frame index of each detection; boxes: (N,4). A detection joins the live track whose last
    box overlaps it most (IoU >= min_iou, greedy, best pairs first); a track dies after `max_gap` frames
    without a detection or at a shot cut (`shot_starts`: first frames of new shots), since a face in the
    same place after a cut is often someone else. Track ids are renumbered 0.. in order of first appearance.
    """
    frames = np.asarray(frames, dtype=np.int64)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    track_of = np.full(len(frames), -1, dtype=np.int64)
    last_box: list[np.ndarray] = []
    last_frame: list[int] = []
    cuts = np.array(sorted(shot_starts), dtype=np.int64)
    for frame in np.unique(frames):
        here = np.flatnonzero(frames == frame)
        shot = np.searchsorted(cuts, frame, side="right")  # shot index of this frame
        live = [
            t
            for t in range(len(last_box))
            if frame - last_frame[t] <= max_gap and np.searchsorted(cuts, last_frame[t], side="right") == shot
        ]
        if live:
            overlap = box_iou(boxes[here], np.stack([last_box[t] for t in live]))
            pairs = sorted(
                ((overlap[i, j], i, j) for i in range(len(here)) for j in range(len(live))),
                reverse=True,
            )
            used_det, used_track = set(), set()
            for iou, i, j in pairs:
                if iou < min_iou:
                    break
                if i in used_det or j in used_track:
                    continue
                used_det.add(i)
                used_track.add(j)
                track_of[here[i]] = live[j]
        for i, det in enumerate(here):
            if track_of[det] < 0:
                track_of[det] = len(last_box)
                last_box.append(boxes[det])
                last_frame.append(int(frame))
            else:
                last_box[track_of[det]] = boxes[det]
                last_frame[track_of[det]] = int(frame)
    # Drop short tracks, renumber the rest in order of first appearance.
    ids, counts = np.unique(track_of, return_counts=True)
    keep = {t for t, c in zip(ids, counts) if c >= min_length}
    renumber: dict[int, int] = {}
    out = np.full(len(frames), -1, dtype=np.int64)
    for det in np.argsort(frames, kind="stable"):
        t = int(track_of[det])
        if t in keep:
            out[det] = renumber.setdefault(t, len(renumber))
    return out
