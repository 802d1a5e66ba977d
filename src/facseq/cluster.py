"""Per-utterance face clustering: faiss kNN graph over L2-normalised embeddings, InfoMap communities.

Edges join each face to its k most similar faces (cosine similarity, kept only above a minimum); their
weight is the similarity rescaled to (0, 1] above that minimum. Faces that keep no edge are *isolated*:
InfoMap would drop them, so they become singleton clusters, flagged as such.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClusterSettings:
    k: int = 30
    min_similarity: float = 0.92
    merge: bool = True  # merge modules whose average cross-similarity is still >= min_similarity
    seed: int = 1
    trials: int = 5


@dataclass
class Clustering:
    labels: np.ndarray  # (N,) cluster id per face, 0.. ordered by cluster size (largest first)
    isolated: np.ndarray  # (N,) bool: the face had no edge above the minimum similarity
    n_edges: int
    n_modules: int  # InfoMap modules + isolated faces, before merging

    @property
    def n_clusters(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0


def knn_edges(embeddings: np.ndarray, k: int, min_similarity: float) -> list[tuple[int, int, float]]:
    """Undirected kNN edges (i < j, similarity) with similarity >= min_similarity."""
    import faiss

    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    n = len(x)
    if n < 2:
        return []
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    neighbours = min(k + 1, n)  # +1: each face finds itself first
    sims, ids = index.search(x, neighbours)
    edges: dict[tuple[int, int], float] = {}
    for i in range(n):
        for sim, j in zip(sims[i], ids[i]):
            if j < 0 or j == i or sim < min_similarity:
                continue
            key = (min(i, int(j)), max(i, int(j)))
            edges[key] = max(edges.get(key, -1.0), float(sim))
    return [(i, j, s) for (i, j), s in sorted(edges.items())]


def cluster_faces(embeddings: np.ndarray, settings: ClusterSettings) -> Clustering:
    from infomap import Infomap

    n = len(embeddings)
    if n == 0:
        return Clustering(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool), 0, 0)
    edges = knn_edges(embeddings, settings.k, settings.min_similarity)
    raw = np.full(n, -1, dtype=np.int64)
    if edges:
        infomap = Infomap(two_level=True, silent=True, seed=settings.seed, num_trials=settings.trials)
        span = max(1.0 - settings.min_similarity, 1e-6)
        for i, j, sim in edges:
            infomap.add_link(i, j, max((sim - settings.min_similarity) / span, 1e-3))  # undirected
        infomap.run()
        # The legacy accessor on purpose: infomap 2.16's Result.modules() walks a SWIG iterator that
        # crashes (SIGSEGV) once faiss's SWIG module is loaded in the same process.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            modules = infomap.get_modules()
        for node, module in modules.items():
            raw[node] = module
    isolated = raw < 0
    next_id = raw.max() + 1
    for i in np.flatnonzero(isolated):
        raw[i] = next_id
        next_id += 1
    n_modules = len(np.unique(raw))
    if settings.merge:
        raw = merge_similar_clusters(embeddings, raw, settings.min_similarity)
    return Clustering(renumber_by_size(raw), isolated, len(edges), n_modules)


def renumber_by_size(raw: np.ndarray) -> np.ndarray:
    """Labels 0.. by cluster size (largest first), ties by first face: stable and readable."""
    ids, first, counts = np.unique(raw, return_index=True, return_counts=True)
    order = sorted(range(len(ids)), key=lambda c: (-counts[c], first[c]))
    renumber = {ids[c]: new for new, c in enumerate(order)}
    return np.array([renumber[r] for r in raw], dtype=np.int64)


def merge_similar_clusters(embeddings: np.ndarray, labels: np.ndarray, min_similarity: float) -> np.ndarray:
    """Average-linkage merging of clusters while the most similar pair is >= min_similarity.

    InfoMap on a kNN graph can split one person's many near-duplicate frames into several modules (the
    graph becomes a chain over time); those modules remain far more similar to each other than to anyone
    else, so merging them at the identity threshold recovers one cluster per person."""
    x = np.asarray(embeddings, dtype=np.float64)
    labels = np.asarray(labels).copy()
    while True:
        ids = np.unique(labels)
        if len(ids) < 2:
            return labels
        sums = np.stack([x[labels == c].sum(axis=0) for c in ids])
        sizes = np.array([(labels == c).sum() for c in ids], dtype=np.float64)
        mean_sim = (sums @ sums.T) / np.outer(sizes, sizes)  # mean pairwise cosine between clusters
        np.fill_diagonal(mean_sim, -np.inf)
        a, b = np.unravel_index(np.argmax(mean_sim), mean_sim.shape)
        if mean_sim[a, b] < min_similarity:
            return labels
        labels[labels == ids[b]] = ids[a]
