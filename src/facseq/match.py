"""Face-library matching: which face cluster is the real speaker (FacialMMT section 2.3, "Face Matching").

Speaker is a leading role (has a library folder) -> the cluster most similar to that role.
Speaker is anyone else (a passer-by) -> the cluster least similar to every leading role.
Beyond the paper, a similarity threshold keeps an absent speaker from being replaced by someone else:
a leading role whose best cluster stays under it, or a passer-by when every cluster is a leading role,
ends as `speaker_offscreen` with an empty sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Cosine similarity above which two faces are taken as one person, per embedding backend (calibrated on
# the shared real footage for dlib: same person >= 0.95, different people <= 0.90). arcface_onnx's 0.35 is
# UNCALIBRATED: a usual verification cut for ArcFace R50 cosine similarity, to be replaced by a value
# measured on the user's own footage (README, "Calibrating thresholds").
DEFAULT_MIN_SIMILARITY = {"dlib": 0.92, "facenet": 0.6, "resnet50": 0.5, "arcface_onnx": 0.35}


@dataclass(frozen=True)
class MatchSettings:
    min_similarity: float = 0.92
    top_k: int = 3  # a face's similarity to a role: mean of its top-k library images
    min_cluster_faces: int = 3  # smaller clusters compete only when there is nothing else
    av_margin: float = 0.15  # lip/audio correlation lead that picks one of several passer-by clusters


@dataclass
class ClusterMatch:
    cluster: int
    n_faces: int
    isolated: bool
    eligible: bool
    speaker_similarity: float  # NaN when the speaker has no library folder
    best_role: str
    best_role_similarity: float
    role_similarity: dict[str, float] = field(default_factory=dict)


@dataclass
class Decision:
    status: str  # ok | speaker_offscreen
    reason: str
    chosen_cluster: int | None
    similarity: float
    clusters: list[ClusterMatch]


def face_role_similarity(faces: np.ndarray, role_images: np.ndarray, top_k: int) -> np.ndarray:
    """(N,) mean of each face's top-k cosine similarities to a role's library images."""
    sims = np.asarray(faces, dtype=np.float32) @ np.asarray(role_images, dtype=np.float32).T  # (N, R)
    k = max(1, min(top_k, sims.shape[1]))
    return np.sort(sims, axis=1)[:, -k:].mean(axis=1)


def score_clusters(
    embeddings: np.ndarray,
    labels: np.ndarray,
    isolated: np.ndarray,
    library: dict[str, np.ndarray],
    speaker: str,
    settings: MatchSettings,
) -> tuple[list[ClusterMatch], np.ndarray]:
    """Per-cluster similarities (median over its faces) and each face's similarity to the speaker's role
    (or, for a passer-by, its highest similarity to any leading role)."""
    per_role = {role: face_role_similarity(embeddings, images, settings.top_k) for role, images in library.items()}
    clusters = []
    n_labels = int(labels.max()) + 1 if len(labels) else 0
    sizes = np.bincount(labels, minlength=n_labels) if len(labels) else np.zeros(0, dtype=int)
    any_big = bool((sizes >= settings.min_cluster_faces).any())
    for c in range(n_labels):
        members = labels == c
        role_sim = {role: float(np.median(sims[members])) for role, sims in per_role.items()}
        best_role = max(role_sim, key=role_sim.get) if role_sim else ""
        clusters.append(
            ClusterMatch(
                cluster=c,
                n_faces=int(members.sum()),
                isolated=bool(isolated[members].all()),
                eligible=bool(sizes[c] >= settings.min_cluster_faces or not any_big),
                speaker_similarity=role_sim.get(speaker, float("nan")),
                best_role=best_role,
                best_role_similarity=role_sim.get(best_role, float("nan")),
                role_similarity=role_sim,
            )
        )
    if speaker in per_role:
        face_sim = per_role[speaker]
    elif per_role:
        face_sim = np.max(np.stack(list(per_role.values())), axis=0)
    else:
        face_sim = np.full(len(embeddings), np.nan)
    return clusters, face_sim


def choose_cluster(
    clusters: list[ClusterMatch],
    speaker: str,
    in_library: bool,
    settings: MatchSettings,
    lip_audio: dict[int, float] | None = None,
) -> Decision:
    """lip_audio: cluster -> best lip/audio correlation of its tracks; it breaks the tie between several
    clusters that are no leading role (the paper's passer-by rule alone would take the least similar)."""
    eligible = [c for c in clusters if c.eligible]
    if not eligible:
        return Decision("speaker_offscreen", "no face cluster to choose from", None, float("nan"), clusters)
    threshold = settings.min_similarity
    if in_library:
        best = max(eligible, key=lambda c: c.speaker_similarity)
        if best.speaker_similarity >= threshold:
            reason = f"leading role {speaker}: most similar cluster {best.cluster} ({best.speaker_similarity:.3f} >= {threshold})"
            return Decision("ok", reason, best.cluster, best.speaker_similarity, clusters)
        reason = (
            f"leading role {speaker} not on screen: best cluster {best.cluster} has similarity "
            f"{best.speaker_similarity:.3f} < {threshold}"
        )
        return Decision("speaker_offscreen", reason, None, best.speaker_similarity, clusters)
    strangers = [c for c in eligible if not (c.best_role_similarity >= threshold)]
    if not strangers:
        roles = ", ".join(f"cluster {c.cluster}={c.best_role} ({c.best_role_similarity:.3f})" for c in eligible)
        reason = f"passer-by {speaker or '(no name)'}: every face cluster is a leading role ({roles})"
        return Decision("speaker_offscreen", reason, None, float("nan"), clusters)
    if len(strangers) > 1 and lip_audio:
        ranked = sorted(strangers, key=lambda c: -np.nan_to_num(lip_audio.get(c.cluster, np.nan), nan=-2.0))
        first, second = (lip_audio.get(c.cluster, np.nan) for c in ranked[:2])
        if np.isfinite(first) and (not np.isfinite(second) or first - second >= settings.av_margin):
            chosen = ranked[0]
            reason = (
                f"passer-by {speaker or '(no name)'}: {len(strangers)} clusters are no leading role; cluster "
                f"{chosen.cluster} has the lips that follow the voice (lip/audio r {first:.2f} vs {second:.2f})"
            )
            return Decision("ok", reason, chosen.cluster, chosen.best_role_similarity, clusters)
    chosen = min(strangers, key=lambda c: (np.nan_to_num(c.best_role_similarity, nan=-1.0), -c.n_faces))
    reason = (
        f"passer-by {speaker or '(no name)'}: cluster {chosen.cluster} least similar to the leading roles "
        f"(best {chosen.best_role or 'none'} {chosen.best_role_similarity:.3f} < {threshold})"
    )
    return Decision("ok", reason, chosen.cluster, chosen.best_role_similarity, clusters)


def one_face_per_frame(frames: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Indices (in temporal order) keeping, for every frame, the face with the highest score."""
    frames, score = np.asarray(frames), np.nan_to_num(np.asarray(score, dtype=np.float64), nan=-np.inf)
    best: dict[int, int] = {}
    for i, f in enumerate(frames):
        if int(f) not in best or score[i] > score[best[int(f)]]:
            best[int(f)] = i
    return np.array([best[f] for f in sorted(best)], dtype=np.int64)
