"""facseq.faces.FaceMesh.follow: each face keeps a tracking-mode face mesh from frame to frame, with the
landmarks of the mesh run on every region alone (`landmarks`), on two real faces moving across frames."""

from __future__ import annotations

import numpy as np
import pytest

from test_embed import ASTRONAUT_BOX, HOPPER_BOX, astronaut, hopper  # noqa: F401 (fixtures)

from facseq.faces import DetectorSettings, FaceMesh

pytest.importorskip("mediapipe")


@pytest.fixture(scope="module")
def clip(astronaut, hopper):  # noqa: F811 (fixtures imported from test_embed)
    """12 frames of 720x1280: the astronaut moving right 3 px a frame, Grace Hopper moving down 2 px."""
    frames, boxes = [], []
    for k in range(12):
        frame = np.zeros((720, 1280, 3), dtype=np.uint8)
        ax, hy = 20 + 3 * k, 40 + 2 * k
        frame[50 : 50 + astronaut.shape[0], ax : ax + astronaut.shape[1]] = astronaut
        frame[hy : hy + hopper.shape[0], 700 : 700 + hopper.shape[1]] = hopper[..., :3]
        frames.append(frame)
        boxes.append([ASTRONAUT_BOX + [ax, 50, ax, 50], HOPPER_BOX + [700, hy, 700, hy]])
    return frames, boxes


def meshes(mesh: FaceMesh) -> list:
    return [m for _, m in mesh._following] + list(mesh._idle)


def test_followed_landmarks_are_the_landmarks_of_each_region_alone(clip):
    frames, boxes = clip
    mesh = FaceMesh(DetectorSettings())
    try:
        for frame, frame_boxes in zip(frames, boxes):
            followed = mesh.follow(frame, frame_boxes)
            for box, marks in zip(frame_boxes, followed):
                alone = mesh.landmarks(frame, box)
                assert np.isfinite(marks).all() and np.isfinite(alone).all()
                # the same face to a small fraction of its width (each mode jitters by about 0.5 %)
                assert np.abs(marks - alone).mean() / (box[2] - box[0]) < 0.03
    finally:
        mesh.close()


def test_each_face_keeps_its_own_mesh_in_any_order_and_forget_restarts(clip):
    frames, boxes = clip
    mesh = FaceMesh(DetectorSettings())
    try:
        mesh.follow(frames[0], boxes[0])
        first = {k: m for k, (_, m) in enumerate(mesh._following)}
        assert len(meshes(mesh)) == 2
        for frame, (a, h) in zip(frames[1:], boxes[1:]):
            mesh.follow(frame, [h, a])  # the boxes come in the other order: overlap decides
            assert mesh._following[0][1] is first[1] and mesh._following[1][1] is first[0]
        mesh.follow(frames[5], boxes[5][:1])  # Hopper not seen: her mesh goes idle
        assert mesh._following[0][1] is first[0] and mesh._idle == [first[1]]
        mesh.forget()  # a new clip: nobody is followed, the meshes are reused once restarted
        marks = mesh.follow(frames[0], boxes[0])
        assert all(np.isfinite(m).all() for m in marks) and len(meshes(mesh)) == 2
    finally:
        mesh.close()


def test_mtcnn_in_channels_last_layout_finds_the_same_faces(clip):
    """The detector's weights are kept channels-last (faster convolutions and pooling on the CPU): the
    same boxes, probabilities and five points as facenet-pytorch's default layout."""
    from facseq.faces import FaceDetector
    from facseq.track import box_iou

    frames, boxes = clip
    fast = FaceDetector(DetectorSettings()).detect_with_points(frames[:4])
    plain = FaceDetector(DetectorSettings(channels_last=False)).detect_with_points(frames[:4])
    for (b1, p1, f1), (b2, p2, f2), truth in zip(fast, plain, boxes):
        assert len(b1) == len(b2) == 2
        assert np.abs(b1 - b2).max() < 1e-2 and np.abs(p1 - p2).max() < 1e-5 and np.abs(f1 - f2).max() < 1e-2
        assert (box_iou(np.array(truth), b1).max(axis=1) >= 0.5).all()  # both faces found
