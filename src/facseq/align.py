"""Five-point face alignment onto the ArcFace template (insightface's `norm_crop`), as pure functions.

ArcFace models are trained on faces warped by a similarity transform (rotation, uniform scale,
translation) that puts the two eye centres, the nose tip and the two mouth corners as close as possible
(least squares, Umeyama) to fixed positions in a 112x112 image. The same warp must be applied to every
face the model sees, clip faces and library images alike.

Points are (x, y) pixels, in the order of the template and of MTCNN: the eye on the image's left, the
eye on the image's right, the nose tip, the mouth corner on the image's left, the one on its right.
"""

from __future__ import annotations

import cv2
import numpy as np

from facseq.faces import crop_window

# insightface's `arcface_dst` (python-package/insightface/utils/face_align.py), for a 112x112 output.
ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],  # eye on the image's left
        [73.5318, 51.5014],  # eye on the image's right
        [56.0252, 71.7366],  # nose tip
        [41.5493, 92.3655],  # mouth corner on the image's left
        [70.7299, 92.2041],  # mouth corner on the image's right
    ],
    dtype=np.float64,
)

# mediapipe face-mesh indices (canonical face model, as in its `FACEMESH_LEFT_EYE` / `_RIGHT_EYE` / `_LIPS`
# sets): an eye's centre is the midpoint of its two corners, which the mesh places far more stably than
# the eyelids (the 468-point mesh has no iris points); 1 is the nose tip, 61 / 291 the mouth corners.
# The mesh's "right" is the person's right, which is the image's left in a frontal view.
MESH_EYE_CORNERS_IMAGE_LEFT = (33, 133)  # person's right eye: outer, inner corner
MESH_EYE_CORNERS_IMAGE_RIGHT = (362, 263)  # person's left eye: inner, outer corner
MESH_NOSE_TIP = 1
MESH_MOUTH_CORNERS = (61, 291)  # image's left, image's right


def template(size: int = 112) -> np.ndarray:
    """(5,2) template points for a size x size output, following insightface's `estimate_norm`: multiples
    of 128 (and not of 112) take the 112 template scaled by size/128 and shifted 8/128 right, other sizes
    the 112 template scaled by size/112."""
    if size % 112 and size % 128 == 0:
        ratio = size / 128
        return ARCFACE_TEMPLATE_112 * ratio + [8.0 * ratio, 0.0]
    return ARCFACE_TEMPLATE_112 * (size / 112)


def mesh_five_points(landmarks: np.ndarray) -> np.ndarray:
    """(468,2) face-mesh points -> (5,2) eye centres, nose tip, mouth corners (NaN where the mesh is NaN)."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    return np.stack(
        [
            landmarks[list(MESH_EYE_CORNERS_IMAGE_LEFT)].mean(axis=0),
            landmarks[list(MESH_EYE_CORNERS_IMAGE_RIGHT)].mean(axis=0),
            landmarks[MESH_NOSE_TIP],
            landmarks[MESH_MOUTH_CORNERS[0]],
            landmarks[MESH_MOUTH_CORNERS[1]],
        ]
    )


def box_five_points(box) -> np.ndarray:
    """Template points laid over a face box (x1, y1, x2, y2): a rough stand-in when no landmarks exist."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return ARCFACE_TEMPLATE_112 / 112.0 * [x2 - x1, y2 - y1] + [x1, y1]


def is_usable(points) -> bool:
    return points is not None and np.shape(points) == (5, 2) and bool(np.isfinite(points).all())


def alignment_matrix(points: np.ndarray, size: int = 112) -> np.ndarray:
    """(2,3) similarity transform taking the five image points onto the template (least squares)."""
    from skimage.transform import SimilarityTransform  # 0.3 s to import: only the ArcFace backend aligns

    points = np.asarray(points, dtype=np.float64)
    if not is_usable(points):
        raise ValueError(f"five finite (x, y) points are needed for alignment, got {points.tolist()}")
    fit = SimilarityTransform.from_estimate(points, template(size))
    if not fit:  # degenerate points (all equal, collinear in a way that leaves the fit undefined)
        raise ValueError(f"no similarity transform fits the points {points.tolist()}: {fit}")
    return fit.params[:2]


def align_face(image: np.ndarray, points: np.ndarray, size: int = 112) -> np.ndarray:
    """size x size aligned face (same channels as `image`); outside the image is black, as in insightface."""
    return cv2.warpAffine(image, alignment_matrix(points, size), (size, size), flags=cv2.INTER_LINEAR, borderValue=0.0)


def points_in_crop(points: np.ndarray, box, crop_size: int, margin: int, width: int, height: int) -> np.ndarray:
    """Frame points -> pixels of the face crop `facseq.faces.crop_face` cuts around `box` from a width x
    height frame (the mapping `facseq.faces.box_in_crop` applies to boxes)."""
    x1, y1, x2, y2 = crop_window(box, crop_size, margin, width, height)
    scale = np.array([crop_size / max(x2 - x1, 1), crop_size / max(y2 - y1, 1)])
    return (np.asarray(points, dtype=np.float64) - [x1, y1]) * scale


def face_five_points(mesh_landmarks, mtcnn_points) -> np.ndarray:
    """(5,2) points of one face: from its face mesh (468 points) when the mesh found it, the mesh's lips
    and eye corners being placed at full resolution; else MTCNN's five; else NaN."""
    if mesh_landmarks is not None:
        points = mesh_five_points(mesh_landmarks)
        if is_usable(points):
            return points
    if is_usable(mtcnn_points):
        return np.asarray(mtcnn_points, dtype=np.float64)
    return np.full((5, 2), np.nan)
