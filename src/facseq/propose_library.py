"""Proposing a face library from MELD's own speaker labels (pure parts, no I/O).

The CSVs say who speaks in every utterance; Stage One's per-utterance stages say which face tracks are
possible speakers. Clustered across utterances (one node per track), a leading role's own face is the
cluster that keeps turning up as a possible speaker whenever that role speaks, in many different
dialogues, and that the other roles' utterances do not explain as well (the listeners a role talks to
turn up too, but they also turn up, more often, when they speak themselves).

- `role_evidence`: per role and cluster, in how many distinct dialogues the cluster was a possible
  speaker of that role's utterances (`support`) and the share of the role's dialogues it covers (`share`;
  an utterance with k possible-speaker clusters gives each 1/k, a dialogue counts its best utterance).
- `assign_roles`: the score (*specificity*) is a role's share minus the mean share the other roles have
  for the same cluster (how well they explain it; the mean, since under the maximum two leads who share
  every scene would cancel each other out). Roles get clusters jointly (Hungarian assignment), so two
  roles never get one person, and a role whose evidence is too thin gets no cluster and the reason.
- `select_images`: at most one face per track, close to the cluster's centre, spread over dialogues
  first, then over head pose and face size.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ProposalSettings:
    images_per_role: int = 20
    n_roles: int = 6  # roles proposed when `roles` is not given: the CSV speakers with most utterances
    min_dialogues: int = 1  # distinct dialogues the role's cluster must be seen in
    min_share: float = 0.25  # share of the role's dialogues (with a possible speaker) its cluster covers
    min_specificity: float = 0.0  # role's share minus the other roles' mean share for that cluster
    min_images: int = 3  # fewer usable faces than this: no folder


@dataclass(frozen=True)
class Observation:
    """One utterance of a role in which some possible speakers' tracks were clustered."""

    role: str
    dialogue: str  # unique across splits, e.g. "dev/dia3"
    clusters: frozenset[int]  # clusters of its possible-speaker tracks (never empty)


@dataclass
class RoleEvidence:
    roles: list[str]
    clusters: list[int]
    support: np.ndarray  # (R, C) distinct dialogues of the role where the cluster is a possible speaker
    share: np.ndarray  # (R, C) mean over the role's observed dialogues of the cluster's vote share
    n_dialogues: np.ndarray  # (R,) the role's dialogues with at least one possible speaker
    n_utterances: np.ndarray  # (R,) the role's utterances with at least one possible speaker

    @property
    def specificity(self) -> np.ndarray:
        """(R, C) share minus the mean share of the other roles for the same cluster."""
        if len(self.roles) < 2:
            return self.share.copy()
        others = np.empty_like(self.share)
        for r in range(len(self.roles)):
            others[r] = np.delete(self.share, r, axis=0).mean(axis=0)
        return self.share - others


@dataclass
class RoleChoice:
    role: str
    cluster: int | None  # None: no folder
    reason: str
    support: int = 0
    share: float = float("nan")
    specificity: float = float("nan")
    rival: str = ""  # the other role that explains the cluster best
    n_dialogues: int = 0


def role_evidence(observations: list[Observation], roles: list[str]) -> RoleEvidence:
    clusters = sorted({c for o in observations for c in o.clusters})
    column = {c: j for j, c in enumerate(clusters)}
    row = {r: i for i, r in enumerate(roles)}
    # best vote share of every (role, dialogue, cluster): a dialogue counts once however often the role speaks
    best: dict[tuple[int, str, int], float] = {}
    dialogues: dict[int, set[str]] = {i: set() for i in range(len(roles))}
    n_utterances = np.zeros(len(roles), dtype=np.int64)
    for o in observations:
        if o.role not in row or not o.clusters:
            continue
        r = row[o.role]
        dialogues[r].add(o.dialogue)
        n_utterances[r] += 1
        vote = 1.0 / len(o.clusters)
        for c in o.clusters:
            key = (r, o.dialogue, column[c])
            best[key] = max(best.get(key, 0.0), vote)
    support = np.zeros((len(roles), len(clusters)), dtype=np.int64)
    total = np.zeros((len(roles), len(clusters)))
    for (r, _, j), vote in best.items():
        support[r, j] += 1
        total[r, j] += vote
    n_dialogues = np.array([len(dialogues[i]) for i in range(len(roles))], dtype=np.int64)
    share = total / np.maximum(n_dialogues, 1)[:, None]
    return RoleEvidence(roles, clusters, support, share, n_dialogues, n_utterances)


def assign_roles(evidence: RoleEvidence, settings: ProposalSettings) -> list[RoleChoice]:
    """One cluster per role at most, one role per cluster at most, maximising the summed specificity;
    then every role's evidence is checked and a thin one is refused with the reason."""
    from scipy.optimize import linear_sum_assignment

    spec = evidence.specificity
    assigned: dict[int, int] = {}
    if evidence.clusters:
        # ties (the same specificity) go to the role seen in more dialogues with the cluster
        tie_break = 1e-6 * evidence.support / max(int(evidence.support.max()), 1)
        rows, cols = linear_sum_assignment(spec + tie_break, maximize=True)
        assigned = dict(zip(rows.tolist(), cols.tolist()))
    choices = []
    for r, role in enumerate(evidence.roles):
        n_dia = int(evidence.n_dialogues[r])
        if n_dia == 0:
            choices.append(RoleChoice(role, None, "never seen: no possible speaker's face in any of its utterances"))
            continue
        if r not in assigned:
            choices.append(RoleChoice(role, None, f"every face cluster went to another role ({len(evidence.clusters)} "
                                                  f"clusters for {len(evidence.roles)} roles)", n_dialogues=n_dia))
            continue
        j = assigned[r]
        others = [o for o in range(len(evidence.roles)) if o != r]
        rival = max(others, key=lambda o: evidence.share[o, j]) if others else None
        if rival is not None and evidence.share[rival, j] == 0:
            rival = None  # no other role's utterances show the cluster at all
        choice = RoleChoice(role, evidence.clusters[j], "", int(evidence.support[r, j]), float(evidence.share[r, j]),
                            float(spec[r, j]), evidence.roles[rival] if rival is not None else "", n_dia)
        problem = thin_evidence(choice, settings)
        if problem:
            choice.cluster, choice.reason = None, problem
        else:
            choice.reason = (f"cluster {choice.cluster}: possible speaker in {choice.support} of its {n_dia} dialogues "
                             f"(share {choice.share:.2f}, {choice.specificity:+.2f} over the other roles' mean; most of them: "
                             f"{choice.rival or 'none'})")
        choices.append(choice)
    return choices


def thin_evidence(choice: RoleChoice, settings: ProposalSettings) -> str:
    """Why the role's assigned cluster is not enough to propose images ('' when it is)."""
    where = f"its best cluster {choice.cluster}"
    if choice.support < settings.min_dialogues or choice.share <= 0:
        return (f"too thin: {where} is a possible speaker in {choice.support} of its dialogues "
                f"(library.min_dialogues = {settings.min_dialogues})")
    if choice.share < settings.min_share:
        return (f"too thin: {where} covers a share of {choice.share:.2f} of its {choice.n_dialogues} dialogues "
                f"(library.min_share = {settings.min_share})")
    if choice.specificity < settings.min_specificity:
        return (f"ambiguous: the other roles' dialogues show {where} about as often or more (most: {choice.rival}; "
                f"specificity {choice.specificity:+.2f} < library.min_specificity = {settings.min_specificity})")
    return ""


@dataclass
class Pick:
    index: int  # into the candidate faces
    why: str


def select_images(
    dialogue: list[str],
    track: list[str],
    centrality: np.ndarray,
    yaw: np.ndarray,
    size: np.ndarray,
    n: int,
    min_centrality: float,
) -> list[Pick]:
    """Up to `n` faces: one per track (its most central), each at least `min_centrality` from the cluster's
    centre; dialogues not yet used come first, then the face whose pose and size differ most from those
    already chosen (ties and the first pick: the most central).

    dialogue, track: per face; centrality: cosine similarity to the cluster centre; yaw: nose offset from
    the eyes' midpoint in eye distances (NaN when unknown); size: face box height in pixels."""
    centrality = np.asarray(centrality, dtype=np.float64)
    best_of_track: dict[str, int] = {}
    for i, t in enumerate(track):
        if centrality[i] >= min_centrality and (t not in best_of_track or centrality[i] > centrality[best_of_track[t]]):
            best_of_track[t] = i
    remaining = sorted(best_of_track.values())
    # pose/size space: 0.25 eye distances of yaw ~ one unit, a doubling of face size one unit
    yaw = np.nan_to_num(np.asarray(yaw, dtype=np.float64), nan=0.0)
    features = np.stack([yaw / 0.25, np.log2(np.maximum(np.asarray(size, dtype=np.float64), 1.0))], axis=1)
    picks: list[Pick] = []
    used_dialogues: Counter = Counter()
    while remaining and len(picks) < n:
        chosen_features = features[[p.index for p in picks]]

        def spread(i: int) -> float:
            if not picks:
                return 0.0
            return float(np.min(np.linalg.norm(chosen_features - features[i], axis=1)))

        # capped: once a face differs by two units, being central matters more than differing further
        best = min(remaining, key=lambda i: (used_dialogues[dialogue[i]], -(min(spread(i), 2.0) + centrality[i]), i))
        if not picks:
            why = "most central face"
        elif used_dialogues[dialogue[best]] == 0:
            why = f"new dialogue {dialogue[best]}"
        else:
            why = f"every dialogue used; pose/size {spread(best):.2f} units from the chosen"
        picks.append(Pick(best, f"{why} (centre similarity {centrality[best]:.3f})"))
        used_dialogues[dialogue[best]] += 1
        remaining.remove(best)
    return picks


def default_roles(speakers: list[str], n_roles: int) -> list[str]:
    """The `n_roles` speakers with the most utterances (ties by name), ignoring empty names."""
    counts = Counter(s for s in speakers if s)
    return [s for s, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n_roles]]


def yaw_from_landmarks(points: np.ndarray) -> float:
    """Head turn of one face-mesh (468, 2): the nose tip's offset from the eyes' midpoint along the eye
    line, in eye-corner distances (0 = frontal; NaN when the mesh failed)."""
    nose, left, right = points[1], points[33], points[263]
    axis = right - left
    distance = float(np.linalg.norm(axis))
    if not np.isfinite(distance) or distance < 1e-6:
        return float("nan")
    return float(np.dot(nose - (left + right) / 2, axis) / distance**2)


@dataclass
class TrackNode:
    """A possible speaker's track as one node of the across-utterance graph."""

    key: str  # "{split}/{utterance}/{track}"
    role: str  # the CSV speaker of its utterance
    dialogue: str
    centroid: np.ndarray  # L2-normalised mean embedding of its faces
    faces: list[dict] = field(default_factory=list)  # detection rows with `embedding`, `yaw`, `crop_path`


def track_centroid(vectors: np.ndarray) -> np.ndarray:
    mean = np.asarray(vectors, dtype=np.float64).mean(axis=0)
    return (mean / max(np.linalg.norm(mean), 1e-12)).astype(np.float32)
