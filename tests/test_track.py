"""facseq.track: box IoU, linking detections into tracks, shot-cut detection."""

from __future__ import annotations

import numpy as np
import pytest

from facseq.track import box_iou, link_tracks


# ------------------------------------------------------------------------------ box_iou
def test_iou_known_values():
    a = np.array([[0, 0, 2, 2]])
    assert box_iou(a, a)[0, 0] == pytest.approx(1.0)
    assert box_iou(a, [[1, 0, 3, 2]])[0, 0] == pytest.approx(2 / 6)  # half overlap
    assert box_iou([[0, 0, 4, 4]], [[1, 1, 3, 3]])[0, 0] == pytest.approx(4 / 16)  # contained
    assert box_iou(a, [[2, 0, 4, 2]])[0, 0] == 0.0  # touching edges
    assert box_iou(a, [[5, 5, 6, 6]])[0, 0] == 0.0  # disjoint
    assert box_iou([[1, 1, 1, 1]], [[1, 1, 1, 1]])[0, 0] == 0.0  # empty boxes: no NaN


def test_iou_matrix_shape_and_symmetry():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, size=(7, 2))
    a = np.hstack([xy, xy + rng.uniform(5, 50, size=(7, 2))])
    b = a[:4] + 3.0
    iou = box_iou(a, b)
    assert iou.shape == (7, 4)
    np.testing.assert_allclose(iou, box_iou(b, a).T)
    assert ((iou >= 0) & (iou <= 1)).all()
    np.testing.assert_allclose(np.diag(box_iou(a, a)), 1.0)
    assert box_iou(np.zeros((0, 4)), a).shape == (0, 7)
    assert box_iou([0, 0, 2, 2], [1, 1, 3, 3]).shape == (1, 1)  # a single box as a flat list


# ------------------------------------------------------------------------------ link_tracks helpers
def face_path(frames, x0, y0, dx=0.0, dy=0.0, size=100.0):
    """Boxes of one face moving by (dx, dy) per frame."""
    frames = np.asarray(frames)
    x = x0 + dx * (frames - frames[0])
    y = y0 + dy * (frames - frames[0])
    return np.stack([x, y, x + size, y + size], axis=1)


def detections(*paths):
    """paths: (frames, boxes) pairs -> (frames, boxes, truth person index) concatenated."""
    frames = np.concatenate([p[0] for p in paths])
    boxes = np.concatenate([p[1] for p in paths])
    truth = np.concatenate([np.full(len(p[0]), i) for i, p in enumerate(paths)])
    return frames, boxes, truth


def same_partition(tracks, truth):
    """Each true person is exactly one track and vice versa."""
    pairs = set(zip(tracks.tolist(), truth.tolist()))
    return len(pairs) == len(set(tracks.tolist())) == len(set(truth.tolist()))


# ------------------------------------------------------------------------------ link_tracks
def test_two_still_faces_two_tracks_in_order_of_first_appearance():
    f = np.arange(10)
    frames, boxes, truth = detections((f[3:], face_path(f[3:], 400, 50)), (f, face_path(f, 0, 50)))
    tracks = link_tracks(frames, boxes)
    assert same_partition(tracks, truth)
    assert (tracks[truth == 1] == 0).all()  # appears first (frame 0) -> id 0
    assert (tracks[truth == 0] == 1).all()


def test_faces_crossing_paths_keep_identities():
    f = np.arange(30)
    # A walks right, B walks left, 60 px apart vertically: while passing their IoU stays ~0.25 < own-step ~0.8
    a = face_path(f, 0, 0, dx=10)
    b = face_path(f, 290, 60, dx=-10)
    frames, boxes, truth = detections((f, a), (f, b))
    # they really do overlap while crossing
    assert max(box_iou(a[i : i + 1], b[i : i + 1])[0, 0] for i in f) > 0.2
    tracks = link_tracks(frames, boxes, min_iou=0.3, max_gap=5, min_length=3)
    assert same_partition(tracks, truth)
    assert len(set(tracks.tolist())) == 2
    # shuffling the detections gives the same partition (ids of faces first seen in one frame follow
    # detection order, so they may swap)
    order = np.random.default_rng(1).permutation(len(frames))
    shuffled = link_tracks(frames[order], boxes[order])
    assert same_partition(shuffled, truth[order])


def test_gap_up_to_max_gap_is_bridged():
    f = np.r_[0:5, 9:14]  # last seen at 4, seen again at 9: 5 frames later
    tracks = link_tracks(f, face_path(f, 10, 10), max_gap=5)
    assert (tracks == 0).all()


def test_longer_gap_splits():
    f = np.r_[0:5, 10:15]  # 6 frames later
    tracks = link_tracks(f, face_path(f, 10, 10), max_gap=5)
    np.testing.assert_array_equal(tracks, [0] * 5 + [1] * 5)
    # the same clip with a larger max_gap is one track again
    assert (link_tracks(f, face_path(f, 10, 10), max_gap=6) == 0).all()


def test_shot_cut_splits_a_face_in_the_same_place():
    f = np.arange(12)
    boxes = face_path(f, 10, 10)
    np.testing.assert_array_equal(link_tracks(f, boxes, shot_starts={6}), [0] * 6 + [1] * 6)
    assert (link_tracks(f, boxes) == 0).all()
    # a cut inside a bridged gap also splits
    g = np.r_[0:4, 6:10]
    np.testing.assert_array_equal(link_tracks(g, face_path(g, 10, 10), shot_starts={5}), [0] * 4 + [1] * 4)
    np.testing.assert_array_equal(link_tracks(g, face_path(g, 10, 10), shot_starts={2, 5}, min_length=1), [0, 0, 1, 1, 2, 2, 2, 2])


def test_short_tracks_dropped_and_renumbered():
    # frame 0: a flash face (2 frames) appears first; a real face starts at frame 1, another at frame 4
    flash = (np.array([0, 1]), face_path([0, 1], 500, 0))
    first = (np.arange(1, 8), face_path(np.arange(1, 8), 0, 0))
    late = (np.arange(4, 9), face_path(np.arange(4, 9), 250, 0))
    frames, boxes, truth = detections(flash, first, late)
    tracks = link_tracks(frames, boxes, min_length=3)
    assert (tracks[truth == 0] == -1).all()
    assert (tracks[truth == 1] == 0).all()
    assert (tracks[truth == 2] == 1).all()
    # with min_length 2 the flash is kept and, appearing first, becomes track 0
    tracks = link_tracks(frames, boxes, min_length=2)
    assert [tracks[truth == i][0] for i in range(3)] == [0, 1, 2]


def test_jump_below_min_iou_starts_new_track():
    f = np.arange(8)
    boxes = face_path(f, 0, 0)
    boxes[4:] += [60, 0, 60, 0]  # IoU 40*100 / (2*10000 - 4000) = 0.25
    np.testing.assert_array_equal(link_tracks(f, boxes, min_iou=0.3, min_length=1), [0] * 4 + [1] * 4)
    assert (link_tracks(f, boxes, min_iou=0.2, min_length=1) == 0).all()


def test_two_detections_of_one_frame_never_share_a_track():
    f = np.arange(5)
    frames = np.r_[f, [2]]
    boxes = np.concatenate([face_path(f, 0, 0), face_path([2], 5, 5)])  # a duplicate box at frame 2
    tracks = link_tracks(frames, boxes, min_length=1)
    assert tracks[2] != tracks[5]
    assert len(set(tracks[:5].tolist())) == 1  # the better match keeps the track going
    assert tracks[5] == 1


def test_no_detections():
    assert link_tracks(np.zeros(0, dtype=int), np.zeros((0, 4))).shape == (0,)
