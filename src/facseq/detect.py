"""Faces on every frame from MTCNN on a few: detection every `stride` frames and at every shot start,
the face mesh carrying each face between detections.

MTCNN is the expensive step, and the face mesh runs on every face of every frame anyway (the speaking
rules need its lip landmarks), so the mesh doubles as the tracker: on a frame without detection each
face's mesh is searched in the region around its previous box, and the new box is the landmarks' extent
mapped to MTCNN's box convention by the offsets measured when MTCNN last saw that face. A face is lost
when the mesh finds nothing there or its box jumps (overlap below `min_iou`); that frame is then
detected again, and so is every frame after a detection whose face the mesh could not read (profile
views), so such faces keep a box on every frame as with detection everywhere. `stride=1` is detection
on every frame.

The detector and the mesh are passed in (`facseq.faces.FaceDetector`, `facseq.faces.FaceMesh` or
anything with their `detect_with_points` / `follow` and `forget` methods).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facseq.faces import N_MESH_POINTS
from facseq.track import box_iou


@dataclass
class ClipFaces:
    """Every face found in a clip, in frame order (N faces)."""

    frame_of: np.ndarray  # (N,) frame index
    boxes: np.ndarray  # (N, 4) x1 y1 x2 y2, clip pixels, MTCNN convention
    probabilities: np.ndarray  # (N,) MTCNN probability (a tracked face: of its last detection)
    five_points: np.ndarray  # (N, 5, 2) MTCNN eyes, nose tip, mouth corners; NaN for tracked faces
    landmarks: np.ndarray  # (N, 468, 2) face-mesh points, NaN where the mesh found no face
    detected: np.ndarray  # (N,) True: MTCNN box; False: carried by the mesh
    n_detected_frames: int  # frames MTCNN ran on


@dataclass
class _Carried:
    box: np.ndarray  # (4,) last box
    probability: float
    offsets: np.ndarray  # (4,) MTCNN box - landmark extent, in units of the extent's width/height


def landmark_extent(points: np.ndarray) -> np.ndarray:
    """(468, 2) -> (4,) x1 y1 x2 y2 of the points."""
    return np.concatenate([points.min(axis=0), points.max(axis=0)])


def box_offsets(box: np.ndarray, points: np.ndarray) -> np.ndarray:
    """How an MTCNN box sits around the mesh's extent, relative to the extent's size (for `box_from`)."""
    extent = landmark_extent(points)
    size = np.maximum(np.tile(extent[2:] - extent[:2], 2), 1e-6)
    return (np.asarray(box, dtype=np.float64) - extent) / size


def box_from(points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The MTCNN-style box of mesh points, given the face's `box_offsets`."""
    extent = landmark_extent(points)
    return extent + offsets * np.tile(extent[2:] - extent[:2], 2)


def detection_frames(n_frames: int, stride: int, shot_starts) -> list[int]:
    """Frames MTCNN runs on in any case: every `stride`-th frame from 0, and the first frame of every shot."""
    return sorted(set(range(0, n_frames, max(1, stride))) | {int(s) for s in shot_starts if 0 <= s < n_frames})


def find_faces(frames, detector, mesh, stride: int = 1, shot_starts=(), min_iou: float = 0.5) -> ClipFaces:
    """Faces of every frame of `frames` (T RGB frames, (H, W, 3) uint8); see the module docstring.

    The planned detection frames go through the detector in one call (it batches them); re-detections
    of lost faces are single frames."""
    planned = detection_frames(len(frames), stride, shot_starts)
    mesh.forget()  # the mesh follows faces from frame to frame: not from the last clip
    found = dict(zip(planned, detector.detect_with_points([frames[k] for k in planned]))) if planned else {}
    faces: list[tuple] = []  # (frame, box, probability, five points, landmarks, detected)
    carried: list[_Carried] = []
    n_detected, detect_next = 0, False
    for index, frame in enumerate(frames):
        moved = None if (index in found or detect_next) else _carry(frame, mesh, carried, min_iou)
        if moved is None:  # a detection frame, or a face was lost: detect here
            if index not in found:
                found[index] = detector.detect_with_points([frame])[0]
            boxes, probabilities, points = found.pop(index)
            n_detected += 1
            carried, detect_next = [], False
            for box, probability, five, marks in zip(boxes, probabilities, points, mesh.follow(frame, list(boxes))):
                faces.append((index, box, float(probability), five, marks, True))
                if np.isfinite(marks).all():
                    carried.append(_Carried(np.asarray(box, dtype=np.float64), float(probability), box_offsets(box, marks)))
                else:
                    detect_next = True  # the mesh cannot follow this face: MTCNN keeps finding it
            continue
        carried = []
        for face, box, marks in moved:
            faces.append((index, box, face.probability, np.full((5, 2), np.nan), marks, False))
            carried.append(_Carried(box, face.probability, face.offsets))
    return _clip_faces(faces, n_detected)


def _carry(frame, mesh, carried: list[_Carried], min_iou: float):
    """Each carried face's new (face, box, landmarks) on this frame, or None when one is lost (or two
    have merged into one face)."""
    moved = []
    for face, marks in zip(carried, mesh.follow(frame, [face.box for face in carried])):
        if not np.isfinite(marks).all():
            return None
        box = box_from(marks, face.offsets)
        if box_iou(box, face.box)[0, 0] < min_iou:
            return None
        moved.append((face, box, marks))
    boxes = np.array([box for _, box, _ in moved]).reshape(-1, 4)
    overlap = box_iou(boxes, boxes) - np.eye(len(boxes))
    if len(boxes) > 1 and overlap.max() >= min_iou:
        return None
    return moved


def _clip_faces(faces: list[tuple], n_detected: int) -> ClipFaces:
    n = len(faces)
    return ClipFaces(
        frame_of=np.array([f[0] for f in faces], dtype=np.int64),
        boxes=np.array([f[1] for f in faces], dtype=np.float64).reshape(n, 4),
        probabilities=np.array([f[2] for f in faces], dtype=np.float64),
        five_points=np.array([f[3] for f in faces], dtype=np.float64).reshape(n, 5, 2),
        landmarks=np.array([f[4] for f in faces], dtype=np.float32).reshape(n, N_MESH_POINTS, 2),
        detected=np.array([f[5] for f in faces], dtype=bool),
        n_detected_frames=n_detected,
    )
