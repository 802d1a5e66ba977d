"""facseq.detect: MTCNN every `stride` frames and at shot starts, the face mesh carrying faces in between;
re-detection when a face is lost; the detection scale set by the smallest face needed. Fake detector and
mesh (a scripted scene), so the bookkeeping is checked exactly."""

from __future__ import annotations

import numpy as np
import pytest

from facseq.detect import box_from, box_offsets, detection_frames, find_faces
from facseq.faces import N_MESH_POINTS, DetectorSettings, detection_scale


def mesh_points(box) -> np.ndarray:
    """Face-mesh points of a face whose MTCNN box is `box`: the mesh's extent is the box shrunk by 10 %."""
    x1, y1, x2, y2 = box
    dx, dy = 0.1 * (x2 - x1), 0.1 * (y2 - y1)
    grid = np.linspace(0, 1, N_MESH_POINTS)
    return np.stack([x1 + dx + grid * (x2 - x1 - 2 * dx), y1 + dy + grid[::-1] * (y2 - y1 - 2 * dy)], axis=1)


class Scene:
    """faces[t] = list of true boxes on frame t; `unreadable` boxes the mesh cannot read (profile views)."""

    def __init__(self, faces: list[list[tuple]], unreadable=()):
        self.faces, self.unreadable = faces, set(unreadable)
        self.detected_frames: list[int] = []
        self.calls = 0

    # FaceDetector interface: frames are their own index here
    def detect_with_points(self, frames):
        self.calls += 1
        out = []
        for t in frames:
            self.detected_frames.append(int(t))
            boxes = np.array(self.faces[t], dtype=np.float64).reshape(-1, 4)
            out.append((boxes, np.full(len(boxes), 0.99), np.zeros((len(boxes), 5, 2))))
        return out

    # FaceMesh interface: the face whose box overlaps the searched region most
    def landmarks(self, t, box):
        from facseq.track import box_iou

        here = np.array(self.faces[t], dtype=np.float64).reshape(-1, 4)
        if not len(here):
            return np.full((N_MESH_POINTS, 2), np.nan)
        best = int(np.argmax(box_iou(np.asarray(box), here)[0]))
        if box_iou(np.asarray(box), here)[0, best] < 0.2 or tuple(self.faces[t][best]) in self.unreadable:
            return np.full((N_MESH_POINTS, 2), np.nan)
        return mesh_points(here[best])

    def follow(self, t, boxes):
        return [self.landmarks(t, box) for box in boxes]

    def forget(self):
        pass


def moving(t: int, x0: float = 100.0) -> tuple:
    return (x0 + 4 * t, 50.0, x0 + 4 * t + 100, 170.0)


def test_offsets_map_the_mesh_extent_back_to_the_detector_box():
    box = np.array([10.0, 20.0, 110.0, 150.0])
    offsets = box_offsets(box, mesh_points(box))
    moved = np.array([40.0, 25.0, 160.0, 180.0])  # the same face, moved and grown
    assert np.allclose(box_from(mesh_points(moved), offsets), moved)


def test_detection_frames_are_the_stride_and_every_shot_start():
    assert detection_frames(12, 5, {7, 30}) == [0, 5, 7, 10]
    assert detection_frames(4, 1, ()) == [0, 1, 2, 3]


def test_stride_one_detects_every_frame_and_tracks_nothing():
    scene = Scene([[moving(t)] for t in range(6)])
    faces = find_faces(list(range(6)), scene, scene, stride=1)
    assert scene.detected_frames == list(range(6)) and scene.calls == 1  # one batched call
    assert faces.detected.all() and list(faces.frame_of) == list(range(6))


def test_mesh_carries_faces_between_detections():
    scene = Scene([[moving(t), moving(t, 400)] for t in range(11)])
    faces = find_faces(list(range(11)), scene, scene, stride=5)
    assert scene.detected_frames == [0, 5, 10]
    assert len(faces.frame_of) == 22  # both faces on every frame
    assert list(np.flatnonzero(faces.detected) // 2) == [0, 0, 5, 5, 10, 10]
    truth = np.array([[moving(t), moving(t, 400)] for t in range(11)]).reshape(-1, 4)
    assert np.allclose(faces.boxes, truth)  # tracked boxes in the detector's convention
    assert np.isnan(faces.five_points[~faces.detected]).all() and np.isfinite(faces.landmarks).all()
    assert np.allclose(faces.probabilities, 0.99)  # a tracked face keeps its last detection's probability


def test_a_shot_start_is_detected_and_a_lost_face_redetected():
    # frame 3: the face leaves; frame 7: a new shot with another face elsewhere
    faces_by_frame = [[moving(t)] for t in range(3)] + [[] for _ in range(4)] + [[(500.0, 60, 600, 180)] for _ in range(3)]
    scene = Scene(faces_by_frame)
    faces = find_faces(list(range(10)), scene, scene, stride=8, shot_starts={7})
    # 0 planned, 3 re-detected when the mesh lost the face, 7 the shot start, 8 the stride
    assert scene.detected_frames == [0, 7, 8, 3]
    assert list(faces.frame_of) == [0, 1, 2, 7, 8, 9]
    assert list(faces.detected) == [True, False, False, True, True, False]


def test_a_face_the_mesh_cannot_read_is_detected_on_every_frame():
    profile = (300.0, 50.0, 400.0, 170.0)
    scene = Scene([[moving(t), profile] for t in range(6)], unreadable={profile})
    faces = find_faces(list(range(6)), scene, scene, stride=5)
    assert scene.detected_frames[:2] == [0, 5] and sorted(set(scene.detected_frames)) == list(range(6))
    assert (faces.frame_of[faces.boxes[:, 0] == 300.0] == np.arange(6)).all()


def test_two_carried_faces_merging_into_one_force_a_detection():
    # two overlapping faces, then only one between them: the mesh would follow that one face twice
    scene = Scene([[(100.0, 50, 200, 170), (150.0, 50, 250, 170)], [(125.0, 50, 225, 170)], [(126.0, 50, 226, 170)]])
    faces = find_faces(list(range(3)), scene, scene, stride=10)
    assert scene.detected_frames == [0, 1]
    assert list(faces.frame_of) == [0, 0, 1, 2] and list(faces.detected) == [True, True, True, False]


@pytest.mark.parametrize("min_face_px,expected", [(0, 0.5), (40, 0.5), (64, 20 / 64), (200, 0.1)])
def test_detection_scale_follows_the_smallest_face_needed(min_face_px, expected):
    settings = DetectorSettings(max_side=640, min_face_size=20, min_face_px=min_face_px)
    assert detection_scale(settings, 1280, 720) == pytest.approx(expected)
    assert detection_scale(DetectorSettings(max_side=640), 320, 180) == 1.0  # never upscaled
