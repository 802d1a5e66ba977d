"""facseq.cluster: kNN graph + InfoMap face clustering on planted clusters in embedding space."""

from __future__ import annotations

import numpy as np
import pytest

from facseq.cluster import ClusterSettings, cluster_faces, knn_edges, merge_similar_clusters, renumber_by_size
from facseq.embed import l2_normalise

DIM = 128


def identities(n: int, seed: int) -> np.ndarray:
    """n random unit vectors: in 128-d they are nearly orthogonal (cosine ~ +-0.1)."""
    return l2_normalise(np.random.default_rng(seed).normal(size=(n, DIM)))


def faces_of(centre: np.ndarray, n: int, rng, spread: float = 0.15) -> np.ndarray:
    """n faces of one identity: cosine to each other ~ 1 / (1 + spread^2) (~0.98)."""
    noise = l2_normalise(rng.normal(size=(n, DIM))) * spread
    return l2_normalise(centre[None, :] + noise)


def same_partition(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return len(set(zip(a.tolist(), b.tolist()))) == len(set(a.tolist())) == len(set(b.tolist()))


def planted(sizes, seed=0, spread=0.15):
    rng = np.random.default_rng(seed + 100)
    centres = identities(len(sizes), seed)
    x = np.concatenate([faces_of(c, n, rng, spread) for c, n in zip(centres, sizes)])
    truth = np.concatenate([np.full(n, i) for i, n in enumerate(sizes)])
    order = rng.permutation(len(x))  # identities interleaved, as faces of several people over time
    return x[order], truth[order]


# ------------------------------------------------------------------------------ knn_edges
def test_knn_edges_undirected_and_thresholded():
    x, truth = planted([5, 4], seed=1)
    edges = knn_edges(x, k=30, min_similarity=0.92)
    assert all(i < j for i, j, _ in edges)
    assert len(edges) == len({(i, j) for i, j, _ in edges})
    sims = x @ x.T
    for i, j, s in edges:
        assert s == pytest.approx(sims[i, j], abs=1e-5)
        assert s >= 0.92
        assert truth[i] == truth[j]
    # k large enough: every same-identity pair is an edge
    assert len(edges) == 5 * 4 // 2 + 4 * 3 // 2
    # k = 1: each face keeps only its nearest neighbour
    nearest = knn_edges(x, k=1, min_similarity=0.0)
    assert len(nearest) <= len(x)
    for i in range(len(x)):
        j = int(np.argsort(-sims[i])[1])
        assert (min(i, j), max(i, j)) in {(a, b) for a, b, _ in nearest}


def test_knn_edges_small_inputs():
    assert knn_edges(np.zeros((0, DIM)), 5, 0.9) == []
    assert knn_edges(identities(1, 0), 5, 0.9) == []
    two = identities(2, 0)
    assert knn_edges(np.stack([two[0], two[0]]), 5, 0.9) == [(0, 1, pytest.approx(1.0, abs=1e-5))]
    assert knn_edges(two, 5, 0.9) == []


# ------------------------------------------------------------------------------ cluster_faces
def test_planted_clusters_recovered_exactly_and_ordered_by_size():
    sizes = [6, 15, 9]
    x, truth = planted(sizes, seed=2)
    result = cluster_faces(x, ClusterSettings())
    assert result.labels.shape == (30,)
    assert same_partition(result.labels, truth)
    assert result.n_clusters == 3
    assert not result.isolated.any()
    # labels by size: the 15-face identity is 0, the 9-face one 1, the 6-face one 2
    for label, identity in ((0, 1), (1, 2), (2, 0)):
        assert (result.labels[truth == identity] == label).all()
    assert result.n_edges == sum(n * (n - 1) // 2 for n in sizes)


def test_isolated_faces_are_flagged_singletons():
    x, truth = planted([8, 5], seed=3)
    loners = identities(2, seed=99)
    x = np.concatenate([x[:4], loners[:1], x[4:], loners[1:]])
    truth = np.concatenate([truth[:4], [10], truth[4:], [11]])
    result = cluster_faces(x, ClusterSettings())
    assert same_partition(result.labels, truth)
    np.testing.assert_array_equal(result.isolated, truth >= 10)
    assert result.n_clusters == 4
    # singletons come after the bigger clusters, in order of first face
    assert result.labels[4] == 2 and result.labels[-1] == 3
    assert result.n_modules == 4


def test_loose_identity_below_threshold_is_all_singletons():
    # faces of one person but too spread out (cosine ~0.6) for a 0.92 identity threshold
    x, _ = planted([6], seed=4, spread=1.2)
    assert (x @ x.T - np.eye(6)).max() < 0.92
    result = cluster_faces(x, ClusterSettings())
    assert result.isolated.all()
    assert sorted(result.labels.tolist()) == list(range(6))
    assert result.n_edges == 0
    # a looser threshold joins them
    assert cluster_faces(x, ClusterSettings(min_similarity=0.2)).n_clusters == 1


def test_empty_and_single_face():
    empty = cluster_faces(np.zeros((0, DIM), dtype=np.float32), ClusterSettings())
    assert empty.labels.shape == (0,) and empty.isolated.shape == (0,)
    assert empty.n_clusters == 0 and empty.n_edges == 0
    one = cluster_faces(identities(1, 5), ClusterSettings())
    np.testing.assert_array_equal(one.labels, [0])
    np.testing.assert_array_equal(one.isolated, [True])
    assert one.n_clusters == 1


def test_clustering_is_deterministic():
    x, _ = planted([7, 7, 3], seed=6)
    a = cluster_faces(x, ClusterSettings(seed=3))
    b = cluster_faces(x, ClusterSettings(seed=3))
    np.testing.assert_array_equal(a.labels, b.labels)


# ------------------------------------------------------------------------------ merge_similar_clusters
def test_merge_joins_a_split_identity_but_not_different_people():
    x, truth = planted([10, 10], seed=7)
    # identity 0 split in two modules (as InfoMap can do on a chain of frames), identity 1 whole
    split = truth.copy()
    zero = np.flatnonzero(truth == 0)
    split[zero[:4]] = 5
    merged = merge_similar_clusters(x, split, 0.92)
    assert same_partition(merged, truth)
    assert set(merged.tolist()) <= set(split.tolist())  # merging reuses existing ids
    # the input is not modified
    assert (split[zero[:4]] == 5).all()


def test_merge_stops_at_threshold():
    x, truth = planted([5, 5, 5], seed=8)
    singletons = np.arange(15)
    np.testing.assert_array_equal(merge_similar_clusters(x, singletons, 0.999), singletons)
    assert same_partition(merge_similar_clusters(x, singletons, 0.92), truth)
    # at a threshold under the cross-identity similarity everything becomes one
    assert len(set(merge_similar_clusters(x, singletons, -1.0).tolist())) == 1
    assert merge_similar_clusters(x[:1], np.array([3]), 0.9).tolist() == [3]


def test_merge_uses_average_not_single_linkage():
    # two people plus one "bridge" face halfway between them: single linkage would chain all three
    a, b = identities(2, seed=9)
    bridge = l2_normalise(a + b)
    x = np.stack([a, a, bridge, b, b])
    labels = np.array([0, 0, 1, 2, 2])
    assert (x[2] @ x[0]) > 0.6 and (x[2] @ x[3]) > 0.6
    merged = merge_similar_clusters(x, labels, 0.6)
    assert merged[0] != merged[3]


def test_renumber_by_size_ties_by_first_face():
    np.testing.assert_array_equal(renumber_by_size(np.array([7, 3, 3, 9, 9, 7, 3])), [1, 0, 0, 2, 2, 1, 0])
    np.testing.assert_array_equal(renumber_by_size(np.array([5, 2, 5, 2])), [0, 1, 0, 1])


def test_clustering_survives_faiss_and_infomap_in_one_process():
    """Regression: infomap's Result.modules() segfaulted once faiss was loaded; run it in a subprocess so
    a crash fails this test instead of killing the suite."""
    import subprocess
    import sys

    code = (
        "import faiss, numpy as np\n"
        "from facseq.cluster import cluster_faces, ClusterSettings\n"
        "rng = np.random.default_rng(0)\n"
        "x = np.concatenate([rng.normal(c, 0.02, (20, 16)) for c in (np.eye(16)[0], np.eye(16)[1])])\n"
        "x /= np.linalg.norm(x, axis=1, keepdims=True)\n"
        "for _ in range(5):\n"
        "    r = cluster_faces(x, ClusterSettings(min_similarity=0.9))\n"
        "print(r.n_clusters)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "2"
