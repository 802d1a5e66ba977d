"""facseq.align: the five-point similarity alignment onto the ArcFace template."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facseq.align import (
    ARCFACE_TEMPLATE_112,
    align_face,
    alignment_matrix,
    box_five_points,
    face_five_points,
    is_usable,
    mesh_five_points,
    points_in_crop,
    template,
)
from facseq.faces import box_in_crop

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
# MTCNN (facenet-pytorch) on skimage.data.astronaut(): the face box and its five points, measured once.
ASTRONAUT_BOX = np.array([181.05, 62.16, 267.75, 172.05])
ASTRONAUT_MTCNN_POINTS = np.array([[205.0, 101.7], [246.8, 103.7], [224.7, 129.0], [201.7, 139.2], [245.3, 141.9]])


def dots_image(points: np.ndarray, size: int) -> np.ndarray:
    """Black image with a bright blob centred on each point (their centroids are measurable after a warp)."""
    image = np.zeros((size, size, 3), dtype=np.uint8)
    for x, y in points:
        cv2.circle(image, (int(round(x * 16)), int(round(y * 16))), 3 * 16, (255, 255, 255), -1, cv2.LINE_AA, shift=4)
    return image


def blob_centroids(image: np.ndarray, near: np.ndarray, radius: float = 8.0) -> np.ndarray:
    """Intensity centroid of the image around each expected point."""
    grey = image[..., 0].astype(np.float64)
    ys, xs = np.mgrid[: grey.shape[0], : grey.shape[1]]
    out = []
    for x, y in near:
        weight = grey * ((xs - x) ** 2 + (ys - y) ** 2 <= radius**2)
        out.append([(weight * xs).sum() / weight.sum(), (weight * ys).sum() / weight.sum()])
    return np.array(out)


def similarity(angle_deg: float, scale: float, shift) -> np.ndarray:
    """(2,3) rotation by angle about the origin, uniform scale, then shift."""
    a = np.deg2rad(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), shift[0]], [scale * np.sin(a), scale * np.cos(a), shift[1]]])


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def test_points_on_the_template_give_the_identity():
    np.testing.assert_allclose(alignment_matrix(ARCFACE_TEMPLATE_112), IDENTITY, atol=1e-9)
    face = dots_image(ARCFACE_TEMPLATE_112, 112)
    np.testing.assert_array_equal(align_face(face, ARCFACE_TEMPLATE_112), face)


@pytest.mark.parametrize("angle, scale, shift", [(25.0, 2.3, (140.0, 60.0)), (-40.0, 0.8, (90.0, 150.0)), (180.0, 1.5, (260.0, 250.0))])
def test_rotated_scaled_face_maps_back_onto_the_template(angle, scale, shift):
    face = dots_image(ARCFACE_TEMPLATE_112, 112)
    move = similarity(angle, scale, shift)
    moved_face = cv2.warpAffine(face, move, (400, 400), flags=cv2.INTER_LINEAR)
    moved_points = apply(move, ARCFACE_TEMPLATE_112)
    # the fitted transform is the inverse of the move ...
    fitted = alignment_matrix(moved_points)
    np.testing.assert_allclose(apply(fitted, moved_points), ARCFACE_TEMPLATE_112, atol=1e-6)
    # ... and the warped image puts every blob back on its template point, within a pixel
    aligned = align_face(moved_face, moved_points)
    assert aligned.shape == (112, 112, 3) and aligned.dtype == np.uint8
    error = np.linalg.norm(blob_centroids(aligned, ARCFACE_TEMPLATE_112) - ARCFACE_TEMPLATE_112, axis=1)
    assert error.max() < 1.0, error


def test_noisy_points_give_the_least_squares_fit():
    rng = np.random.default_rng(0)
    move = similarity(10.0, 1.7, (30.0, 20.0))
    noisy = apply(move, ARCFACE_TEMPLATE_112) + rng.normal(0, 1.5, (5, 2))
    fitted = alignment_matrix(noisy)
    # still a similarity (no shear, equal scales) close to the inverse move
    linear = fitted[:, :2]
    assert linear[0, 0] == pytest.approx(linear[1, 1]) and linear[0, 1] == pytest.approx(-linear[1, 0])
    np.testing.assert_allclose(np.hypot(*linear[0]), 1 / 1.7, rtol=0.03)
    residual = np.linalg.norm(apply(fitted, noisy) - ARCFACE_TEMPLATE_112, axis=1)
    assert residual.max() < 3.0


def test_template_sizes_follow_insightface():
    np.testing.assert_allclose(template(112), ARCFACE_TEMPLATE_112)
    np.testing.assert_allclose(template(224), ARCFACE_TEMPLATE_112 * 2)
    np.testing.assert_allclose(template(128), ARCFACE_TEMPLATE_112 + [8.0, 0.0])  # 128: shifted 8 px right
    assert align_face(dots_image(ARCFACE_TEMPLATE_112, 112), ARCFACE_TEMPLATE_112, size=224).shape == (224, 224, 3)


def test_unusable_points_are_a_clear_error():
    with pytest.raises(ValueError, match="five finite"):
        alignment_matrix(np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="five finite"):
        alignment_matrix(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="no similarity transform"):
        alignment_matrix(np.ones((5, 2)))  # every point in one place
    assert not is_usable(None) and not is_usable(np.full((5, 2), np.nan)) and is_usable(ARCFACE_TEMPLATE_112)


def test_mesh_five_points_takes_eye_corner_midpoints_nose_tip_and_mouth_corners():
    landmarks = np.full((468, 2), np.nan)
    landmarks[[33, 133]] = [[10, 20], [20, 22]]
    landmarks[[362, 263]] = [[40, 22], [50, 20]]
    landmarks[1] = [30, 40]
    landmarks[[61, 291]] = [[15, 55], [45, 55]]
    np.testing.assert_allclose(mesh_five_points(landmarks), [[15, 21], [45, 21], [30, 40], [15, 55], [45, 55]])
    assert not is_usable(mesh_five_points(np.full((468, 2), np.nan)))  # mesh failed: no points


def test_mesh_points_agree_with_mtcnn_on_a_real_face():
    skimage_data = pytest.importorskip("skimage.data")
    pytest.importorskip("mediapipe")
    from facseq.faces import DetectorSettings, FaceMesh

    mesh = FaceMesh(DetectorSettings())
    try:
        landmarks = mesh.landmarks(skimage_data.astronaut(), ASTRONAUT_BOX)
    finally:
        mesh.close()
    points = mesh_five_points(landmarks)
    # same order (image left before right), and within 4 px of MTCNN's on a face 87 px wide
    assert np.linalg.norm(points - ASTRONAUT_MTCNN_POINTS, axis=1).max() < 4.0


def test_box_five_points_lays_the_template_over_the_box():
    np.testing.assert_allclose(box_five_points((0, 0, 112, 112)), ARCFACE_TEMPLATE_112)
    np.testing.assert_allclose(box_five_points((10, 20, 66, 76)), ARCFACE_TEMPLATE_112 / 2 + [10, 20])


def test_points_in_crop_match_box_in_crop():
    for box, width, height in [((100, 100, 240, 240), 1000, 1000), ((0, 5, 140, 145), 200, 150)]:
        corners = points_in_crop(np.array([box[:2], box[2:]]), box, 160, 20, width, height)
        np.testing.assert_allclose(corners.ravel(), box_in_crop(box, 160, 20, width, height))


def test_face_five_points_prefers_the_mesh_then_mtcnn():
    landmarks = np.zeros((468, 2))
    landmarks[[33, 133, 362, 263, 1, 61, 291]] = [[10, 20], [20, 20], [40, 20], [50, 20], [30, 40], [15, 55], [45, 55]]
    mtcnn = ASTRONAUT_MTCNN_POINTS
    np.testing.assert_allclose(face_five_points(landmarks, mtcnn), mesh_five_points(landmarks))
    failed_mesh = np.full((468, 2), np.nan)
    np.testing.assert_allclose(face_five_points(failed_mesh, mtcnn), mtcnn)
    np.testing.assert_allclose(face_five_points(None, mtcnn), mtcnn)
    assert not is_usable(face_five_points(failed_mesh, None))
    assert not is_usable(face_five_points(failed_mesh, np.full((5, 2), np.nan)))
