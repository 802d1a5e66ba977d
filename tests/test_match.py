"""facseq.match: library matching of face clusters with constructed embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from facseq.embed import l2_normalise
from facseq.match import (
    DEFAULT_MIN_SIMILARITY,
    ClusterMatch,
    MatchSettings,
    choose_cluster,
    face_role_similarity,
    one_face_per_frame,
    score_clusters,
)

DIM = 64


def unit(*coords) -> np.ndarray:
    v = np.zeros(DIM)
    for i, c in enumerate(coords):
        v[i] = c
    return l2_normalise(v)


def with_similarity(target: np.ndarray, sim: float, axis: int) -> np.ndarray:
    """A unit vector with cosine `sim` to the unit vector `target` (which must be orthogonal to e_axis)."""
    other = np.zeros(DIM)
    other[axis] = 1.0
    return sim * target + np.sqrt(1 - sim**2) * other


# Three leading roles on orthogonal axes, each with 4 library images close to its axis.
ROLES = {"Joey": 0, "Rachel": 1, "Ross": 2}


def library() -> dict[str, np.ndarray]:
    out = {}
    for role, axis in ROLES.items():
        images = []
        for k in range(4):
            v = np.zeros(DIM)
            v[axis], v[10 + 4 * axis + k] = 1.0, 0.1  # slightly different photos
            images.append(l2_normalise(v))
        out[role] = np.array(images, dtype=np.float32)
    return out


def person(axis: int, n: int, seed: int = 0) -> np.ndarray:
    """n faces of the person along e_axis (cosine ~0.99 to that axis)."""
    rng = np.random.default_rng(seed)
    v = np.zeros((n, DIM))
    v[:, axis] = 1.0
    v[:, 40:] = rng.normal(0, 0.02, size=(n, DIM - 40))
    return l2_normalise(v)


def scene(*people):
    """people: (axis, n) -> embeddings, labels (cluster per person, in order), isolated flags."""
    emb = np.concatenate([person(axis, n, seed=i) for i, (axis, n) in enumerate(people)])
    labels = np.concatenate([np.full(n, i) for i, (_, n) in enumerate(people)])
    return emb.astype(np.float32), labels, np.zeros(len(labels), dtype=bool)


def decide(people, speaker, settings=MatchSettings(), lib=None):
    lib = library() if lib is None else lib
    emb, labels, isolated = scene(*people)
    clusters, face_sim = score_clusters(emb, labels, isolated, lib, speaker, settings)
    return choose_cluster(clusters, speaker, speaker in lib, settings), clusters, face_sim


# ------------------------------------------------------------------------------ face_role_similarity
def test_face_role_similarity_top_k_mean():
    images = np.stack([unit(1), unit(1, 1), unit(0, 1), unit(-1)])
    face = unit(1)[None, :]
    # similarities: 1, 0.707, 0, -1
    assert face_role_similarity(face, images, 1)[0] == pytest.approx(1.0)
    assert face_role_similarity(face, images, 2)[0] == pytest.approx((1 + 2**-0.5) / 2, abs=1e-6)
    assert face_role_similarity(face, images, 3)[0] == pytest.approx((1 + 2**-0.5) / 3, abs=1e-6)
    assert face_role_similarity(face, images, 4)[0] == pytest.approx(2**-0.5 / 4, abs=1e-6)
    # k larger than the library, or < 1: clipped
    assert face_role_similarity(face, images, 99)[0] == pytest.approx(2**-0.5 / 4, abs=1e-6)
    assert face_role_similarity(face, images, 0)[0] == pytest.approx(1.0)
    faces = np.stack([unit(1), unit(0, 0, 1)])
    sims = face_role_similarity(faces, images, 2)
    assert sims.shape == (2,)
    assert sims[1] == pytest.approx(0.0, abs=1e-6)


# ------------------------------------------------------------------------------ score_clusters
def test_score_clusters_per_cluster_similarities():
    decision, clusters, face_sim = decide([(1, 5), (0, 4), (7, 3)], "Rachel")
    assert [c.n_faces for c in clusters] == [5, 4, 3]
    assert clusters[0].best_role == "Rachel" and clusters[1].best_role == "Joey"
    assert clusters[0].speaker_similarity > 0.95
    assert clusters[1].speaker_similarity < 0.1
    assert clusters[2].best_role_similarity < 0.1
    assert set(clusters[0].role_similarity) == set(ROLES)
    assert all(c.eligible for c in clusters) and not any(c.isolated for c in clusters)
    # each face's similarity is to the speaker's role
    assert face_sim.shape == (12,)
    assert (face_sim[:5] > 0.95).all() and (face_sim[5:] < 0.1).all()


def test_score_clusters_passer_by_face_similarity_is_best_role():
    _, clusters, face_sim = decide([(1, 3), (7, 3)], "Gunther")
    assert all(np.isnan(c.speaker_similarity) for c in clusters)
    assert (face_sim[:3] > 0.95).all()  # Rachel's faces: similar to some leading role
    assert (face_sim[3:] < 0.1).all()


def test_score_clusters_empty_library_and_no_faces():
    emb, labels, isolated = scene((1, 3))
    clusters, face_sim = score_clusters(emb, labels, isolated, {}, "Joey", MatchSettings())
    assert clusters[0].best_role == "" and np.isnan(clusters[0].best_role_similarity)
    assert np.isnan(face_sim).all() and face_sim.shape == (3,)
    clusters, face_sim = score_clusters(np.zeros((0, DIM), np.float32), np.zeros(0, int), np.zeros(0, bool),
                                        library(), "Joey", MatchSettings())
    assert clusters == [] and face_sim.shape == (0,)
    decision = choose_cluster(clusters, "Joey", True, MatchSettings())
    assert decision.status == "speaker_offscreen" and decision.chosen_cluster is None


def test_isolated_flag_needs_every_member_isolated():
    emb, labels, _ = scene((1, 3), (0, 1))
    isolated = np.array([True, False, False, True])
    clusters, _ = score_clusters(emb, labels, isolated, library(), "Joey", MatchSettings(min_cluster_faces=1))
    assert [c.isolated for c in clusters] == [False, True]


# ------------------------------------------------------------------------------ choose_cluster
def test_leading_role_gets_most_similar_cluster():
    decision, _, _ = decide([(0, 6), (1, 4), (2, 5)], "Rachel")
    assert decision.status == "ok"
    assert decision.chosen_cluster == 1
    assert decision.similarity > 0.95
    assert "Rachel" in decision.reason and "most similar cluster 1" in decision.reason


def test_leading_role_below_threshold_is_offscreen():
    # Ross speaks off screen while Joey and Rachel are shown
    decision, clusters, _ = decide([(0, 6), (1, 4)], "Ross")
    assert decision.status == "speaker_offscreen"
    assert decision.chosen_cluster is None
    assert decision.similarity == pytest.approx(max(c.speaker_similarity for c in clusters))
    assert "Ross" in decision.reason and "not on screen" in decision.reason


def test_threshold_is_a_setting():
    # a face at cosine 0.8 to Joey's axis: a match at 0.75, none at 0.92
    lib = {"Joey": np.array([unit(1)], dtype=np.float32)}
    face = l2_normalise(with_similarity(unit(1), 0.8, axis=5))[None, :].repeat(3, axis=0).astype(np.float32)
    for threshold, status in ((0.75, "ok"), (0.92, "speaker_offscreen")):
        settings = MatchSettings(min_similarity=threshold)
        clusters, _ = score_clusters(face, np.zeros(3, int), np.zeros(3, bool), lib, "Joey", settings)
        assert clusters[0].speaker_similarity == pytest.approx(0.8, abs=1e-5)
        assert choose_cluster(clusters, "Joey", True, settings).status == status


def test_passer_by_gets_least_similar_cluster():
    # a stranger (axis 7) with Joey and Rachel on screen
    decision, _, _ = decide([(0, 6), (7, 4), (1, 5)], "Waiter")
    assert decision.status == "ok"
    assert decision.chosen_cluster == 1
    assert decision.similarity < 0.1
    assert "passer-by Waiter" in decision.reason


def test_passer_by_between_two_strangers_least_similar_wins():
    lib = {"Joey": np.array([unit(1)], dtype=np.float32)}
    near = np.repeat(with_similarity(unit(1), 0.5, axis=5)[None], 3, axis=0)
    far = np.repeat(with_similarity(unit(1), 0.1, axis=6)[None], 3, axis=0)
    emb = np.concatenate([near, far]).astype(np.float32)
    labels = np.array([0, 0, 0, 1, 1, 1])
    settings = MatchSettings()
    clusters, _ = score_clusters(emb, labels, np.zeros(6, bool), lib, "Stranger", settings)
    decision = choose_cluster(clusters, "Stranger", False, settings)
    assert decision.chosen_cluster == 1
    assert decision.similarity == pytest.approx(0.1, abs=1e-5)


def test_passer_by_ties_go_to_the_bigger_cluster():
    clusters = [
        ClusterMatch(0, 3, False, True, float("nan"), "Joey", 0.2),
        ClusterMatch(1, 8, False, True, float("nan"), "Joey", 0.2),
    ]
    assert choose_cluster(clusters, "Stranger", False, MatchSettings()).chosen_cluster == 1


def test_passer_by_with_only_leading_roles_on_screen_is_offscreen():
    decision, _, _ = decide([(0, 6), (1, 4), (2, 3)], "Mr. Heckles")
    assert decision.status == "speaker_offscreen"
    assert decision.chosen_cluster is None
    assert np.isnan(decision.similarity)
    assert "every face cluster is a leading role" in decision.reason
    assert "Joey" in decision.reason and "Rachel" in decision.reason


def test_passer_by_with_empty_library_takes_a_cluster():
    decision, _, _ = decide([(7, 2), (8, 5)], "", settings=MatchSettings(), lib={})
    assert decision.status == "ok"
    assert decision.chosen_cluster == 1  # equal (no) similarity: the bigger cluster
    assert "(no name)" in decision.reason


def test_small_clusters_are_ineligible_unless_nothing_else():
    settings = MatchSettings(min_cluster_faces=3)
    # Rachel appears in 2 faces only, Joey in 6: Rachel's cluster may not be chosen
    decision, clusters, _ = decide([(0, 6), (1, 2)], "Rachel", settings)
    assert [c.eligible for c in clusters] == [True, False]
    assert decision.status == "speaker_offscreen"
    # a stranger in 2 faces next to Joey: likewise
    decision, _, _ = decide([(0, 6), (7, 2)], "Waiter", settings)
    assert decision.status == "speaker_offscreen"
    # when every cluster is small, all compete
    decision, clusters, _ = decide([(0, 2), (1, 1)], "Rachel", settings)
    assert all(c.eligible for c in clusters)
    assert decision.status == "ok" and decision.chosen_cluster == 1


def test_default_thresholds_per_backend():
    assert set(DEFAULT_MIN_SIMILARITY) == {"dlib", "facenet", "resnet50", "arcface_onnx"}
    assert MatchSettings().min_similarity == DEFAULT_MIN_SIMILARITY["dlib"]


# ------------------------------------------------------------------------------ one_face_per_frame
def test_one_face_per_frame_best_face_in_temporal_order():
    frames = np.array([5, 3, 5, 3, 9, 4, 5])
    score = np.array([0.2, 0.9, 0.7, 0.1, 0.5, np.nan, 0.7])
    keep = one_face_per_frame(frames, score)
    np.testing.assert_array_equal(keep, [1, 5, 2, 4])  # frames 3, 4, 5, 9; ties: first seen
    np.testing.assert_array_equal(frames[keep], [3, 4, 5, 9])


def test_one_face_per_frame_nan_loses_to_any_score():
    keep = one_face_per_frame(np.array([0, 0, 1]), np.array([np.nan, -5.0, np.nan]))
    np.testing.assert_array_equal(keep, [1, 2])
    assert one_face_per_frame(np.zeros(0, int), np.zeros(0)).shape == (0,)


def _stranger(cluster, best_sim, n=10):
    from facseq.match import ClusterMatch

    return ClusterMatch(cluster, n, False, True, float("nan"), "Joey", best_sim, {"Joey": best_sim})


def test_lip_audio_picks_among_several_passerby_clusters():
    from facseq.match import MatchSettings, choose_cluster

    clusters = [_stranger(0, 0.50), _stranger(1, 0.70), _stranger(2, 0.97)]  # 2 is the leading role Joey
    settings = MatchSettings(min_similarity=0.92, av_margin=0.15)
    # Without lip/audio evidence: the paper's rule, least similar to the leading roles.
    assert choose_cluster(clusters, "Stranger", False, settings).chosen_cluster == 0
    # The second stranger's lips follow the voice clearly better: it is the speaker.
    decision = choose_cluster(clusters, "Stranger", False, settings, {0: 0.05, 1: 0.60, 2: 0.9})
    assert decision.status == "ok" and decision.chosen_cluster == 1 and "follow the voice" in decision.reason
    # A lead under the margin is no evidence: back to the least similar cluster.
    assert choose_cluster(clusters, "Stranger", False, settings, {0: 0.50, 1: 0.60}).chosen_cluster == 0
    # A leading role's lip/audio agreement never makes it a passer-by.
    assert choose_cluster([_stranger(0, 0.5), _stranger(2, 0.97)], "Stranger", False, settings, {2: 0.9}).chosen_cluster == 0
