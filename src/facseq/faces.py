"""Face detection (facenet-pytorch MTCNN), dense landmarks (mediapipe face mesh), 160x160 crops.

The detector runs batched on frames scaled down as far as the faces that matter allow (`min_face_px`:
MTCNN's cost is set by its smallest face, in clip pixels; at most `max_side`) and its boxes are mapped back; the face mesh runs on the face region cut from the
original-resolution frame, so the lip landmarks keep full detail.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

N_MESH_POINTS = 468
CROP_SIZE = 160


@dataclass(frozen=True)
class DetectorSettings:
    max_side: int = 640  # frames are scaled to at most this for MTCNN
    min_face_size: int = 20  # MTCNN's smallest face, pixels at detection scale
    min_face_px: int = 0  # smallest face to find, clip pixels: frames are scaled down to make it min_face_size (0: off)
    stride: int = 1  # MTCNN on every stride-th frame and every shot start; the face mesh tracks in between
    min_probability: float = 0.95
    batch_size: int = 16
    mesh_context: float = 0.25  # face region = box grown by this share on every side
    crop_margin: int = 20  # facenet-pytorch convention: margin in pixels of the 160 px crop
    device: str = "cpu"
    channels_last: bool = True  # MTCNN's weights in channels-last layout (same boxes to 1e-3 px)


def pick_device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


class FaceDetector:
    """MTCNN on batches of same-size RGB frames; returns boxes in original pixels."""

    def __init__(self, settings: DetectorSettings):
        import torch
        from facenet_pytorch import MTCNN

        self.settings = settings
        self.mtcnn = MTCNN(keep_all=True, min_face_size=settings.min_face_size, device=pick_device(settings.device))
        if settings.channels_last:  # MTCNN's input is a channels-last view already: ~25 % faster on the CPU
            for net in (self.mtcnn.pnet, self.mtcnn.rnet, self.mtcnn.onet):
                net.to(memory_format=torch.channels_last)

    def detect(self, frames: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each RGB frame: (boxes (K,4) x1y1x2y2, probabilities (K,)) above the probability cut."""
        return [(boxes, probs) for boxes, probs, _ in self.detect_with_points(frames)]

    def detect_with_points(self, frames: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """As `detect`, plus MTCNN's five points per face (K,5,2): eyes, nose tip, mouth corners, the image's
        left one of each pair first, in original pixels."""
        results = []
        for start in range(0, len(frames), self.settings.batch_size):
            chunk = frames[start : start + self.settings.batch_size]
            height, width = chunk[0].shape[:2]
            scale = detection_scale(self.settings, width, height)
            if scale < 1.0:
                chunk = [cv2.resize(f, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) for f in chunk]
            boxes, probs, points = self.mtcnn.detect(np.stack(chunk), landmarks=True)
            for frame_boxes, frame_probs, frame_points in zip(boxes, probs, points):
                if frame_boxes is None:
                    results.append((np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))))
                    continue
                keep = np.asarray(frame_probs, dtype=np.float64) >= self.settings.min_probability
                results.append((np.asarray(frame_boxes, dtype=np.float64)[keep] / scale, np.asarray(frame_probs)[keep],
                                np.asarray(frame_points, dtype=np.float64)[keep] / scale))
        return results


def detection_scale(settings: DetectorSettings, width: int, height: int) -> float:
    """Factor frames are resized by for MTCNN: within `max_side`, and no larger than needed to see a
    `min_face_px` face as MTCNN's `min_face_size` (the same detections, a smaller image pyramid)."""
    scale = min(1.0, settings.max_side / max(height, width))
    if settings.min_face_px:
        scale = min(scale, settings.min_face_size / settings.min_face_px)
    return scale


def grow_box(box: np.ndarray, share: float, width: int, height: int) -> tuple[int, int, int, int]:
    """Box grown by `share` of its size on every side, clipped to the frame, as integers."""
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * share, (y2 - y1) * share
    return (
        int(max(0, np.floor(x1 - dx))),
        int(max(0, np.floor(y1 - dy))),
        int(min(width, np.ceil(x2 + dx))),
        int(min(height, np.ceil(y2 + dy))),
    )


class FaceMesh:
    """mediapipe face mesh on one face region at a time.

    `landmarks` treats every region as a new image (the mesh's own face detector, then its landmark
    model). `follow` is for video: each face keeps a tracking-mode mesh of its own, which places the
    landmark model where it saw that face on the previous frame and skips the detector (about a third
    of the mesh's time); a face is the same as on the previous call when its box overlaps the one that
    mesh followed. Regions are the box grown by `mesh_context` on every side, so a face sits at the same
    place in each of its regions however the box moves."""

    def __init__(self, settings: DetectorSettings):
        self.settings = settings
        self.mesh = self._new_mesh(static=True)
        self._following: list[tuple[np.ndarray, object]] = []  # (box followed on the last frame, its mesh)
        self._idle: list[object] = []  # tracking meshes whose face was not seen on the last frame

    @staticmethod
    def _new_mesh(static: bool):
        import mediapipe as mp

        return mp.solutions.face_mesh.FaceMesh(static_image_mode=static, max_num_faces=1, refine_landmarks=False,
                                               min_detection_confidence=0.3)

    def landmarks(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray:
        """(468,2) landmark pixel coordinates in the frame, or all-NaN when the mesh finds no face."""
        return self._run(self.mesh, frame, box)

    def follow(self, frame: np.ndarray, boxes: list[np.ndarray], min_iou: float = 0.3) -> list[np.ndarray]:
        """`landmarks` of every face of `boxes` on this frame, each by the tracking mesh that followed it on
        the previous call (box overlap >= `min_iou`), else by an idle one restarted."""
        from facseq.track import box_iou

        previous, self._following = self._following, []
        free = list(range(len(previous)))
        out = []
        for box in boxes:
            overlaps = [float(box_iou(np.asarray(previous[k][0]), np.asarray(box))[0, 0]) for k in free]
            if overlaps and max(overlaps) >= min_iou:
                mesh = previous[free.pop(int(np.argmax(overlaps)))][1]
            else:
                mesh = self._restarted()
            marks = self._run(mesh, frame, box)
            if not np.isfinite(marks).all():  # tracking lost it: this second call runs the mesh's detector
                marks = self._run(mesh, frame, box)
            out.append(marks)
            self._following.append((np.asarray(box, dtype=np.float64), mesh))
        self._idle += [previous[k][1] for k in free]
        return out

    def forget(self) -> None:
        """Start over (a new clip): no face is followed from before."""
        self._idle += [mesh for _, mesh in self._following]
        self._following = []

    def _restarted(self):
        """An idle tracking mesh that has forgotten its face (an empty image drops it), or a new one."""
        if not self._idle:
            return self._new_mesh(static=False)
        mesh = self._idle.pop()
        mesh.process(np.zeros((32, 32, 3), dtype=np.uint8))
        return mesh

    def _run(self, mesh, frame: np.ndarray, box: np.ndarray) -> np.ndarray:
        height, width = frame.shape[:2]
        x1, y1, x2, y2 = grow_box(box, self.settings.mesh_context, width, height)
        region = np.ascontiguousarray(frame[y1:y2, x1:x2])
        if region.size == 0:
            return np.full((N_MESH_POINTS, 2), np.nan)
        found = mesh.process(region).multi_face_landmarks
        if not found:
            return np.full((N_MESH_POINTS, 2), np.nan)
        points = np.array([(p.x, p.y) for p in found[0].landmark[:N_MESH_POINTS]], dtype=np.float64)
        return points * [x2 - x1, y2 - y1] + [x1, y1]

    def close(self) -> None:
        for mesh in [self.mesh, *self._idle, *(m for _, m in self._following)]:
            mesh.close()
        self._following, self._idle = [], []


def crop_face(frame: np.ndarray, box: np.ndarray, size: int = CROP_SIZE, margin: int = 20) -> np.ndarray:
    """Square-resized face crop as facenet-pytorch's `extract_face`: the box grown by `margin` pixels of
    the output size, clipped to the frame, resized to size x size (RGB in, RGB out)."""
    height, width = frame.shape[:2]
    x1, y1, x2, y2 = crop_window(box, size, margin, width, height)
    region = frame[y1:y2, x1:x2]
    return cv2.resize(region, (size, size), interpolation=cv2.INTER_AREA)


def crop_window(box, size: int, margin: int, width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    mx = margin * (x2 - x1) / (size - margin)
    my = margin * (y2 - y1) / (size - margin)
    return (
        int(max(x1 - mx / 2, 0)),
        int(max(y1 - my / 2, 0)),
        int(min(x2 + mx / 2, width)),
        int(min(y2 + my / 2, height)),
    )


def box_in_crop(box, size: int, margin: int, width: int, height: int) -> tuple[float, float, float, float]:
    """Where the face box lies inside its crop, in crop pixels (for aligners that need a face rectangle)."""
    cx1, cy1, cx2, cy2 = crop_window(box, size, margin, width, height)
    sx, sy = size / max(cx2 - cx1, 1), size / max(cy2 - cy1, 1)
    x1, y1, x2, y2 = box
    return ((x1 - cx1) * sx, (y1 - cy1) * sy, (x2 - cx1) * sx, (y2 - cy1) * sy)
