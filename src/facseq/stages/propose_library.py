"""Stage of `propose_library.smk`: a face library proposed from the per-batch outputs (no library needed).

Reads, for every utterance of the chosen roles, the face tracks (`faces/`), their embeddings
(`embeddings/`) and the speaker evidence (`evidence/`); clusters the possible speakers' tracks across
utterances (faiss kNN + InfoMap, `facseq.cluster`), gives each role its cluster (`facseq.propose_library`)
and writes `{library}/<role>/NN.jpg`, `{library}/proposal.tsv` and one review sheet per role.
"""

from __future__ import annotations

import shutil
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facseq.propose_library import (
    Observation,
    ProposalSettings,
    RoleChoice,
    TrackNode,
    assign_roles,
    role_evidence,
    select_images,
    track_centroid,
    yaw_from_landmarks,
)
from facseq.stages.common import BatchItem, _pending, log
from facseq.stages.faces import load_detections
from facseq.tables import failure_reason, read_status, read_tsv, write_tsv

PROPOSAL_COLUMNS = [
    "role", "status", "image", "utterance", "frame", "time_s", "x1", "y1", "x2", "y2", "track", "cluster",
    "cluster_support", "cluster_share", "specificity", "n_role_dialogues", "centre_similarity", "yaw",
    "face_height", "why",
]


@dataclass(frozen=True)
class BatchOutputs:
    """One batch's per-clip stage folders and its utterances."""

    split: str
    items: list[BatchItem]
    faces: Path
    embeddings: Path
    evidence: Path


def read_track_nodes(batch: BatchOutputs, roles: set[str], outcomes: dict[str, Counter]) -> list[TrackNode]:
    """The embedded possible-speaker tracks of the roles' utterances. `outcomes[role]` counts what each
    utterance gave (`seen`, `no embedded face`, an earlier stage's status, `unreadable`): an unreadable
    utterance is logged and skipped, one broken clip never stops the proposal."""
    status = read_status(batch.evidence / "status.tsv")
    nodes = []
    for item in batch.items:
        if item.speaker not in roles:
            continue
        state = status.get(item.name, ("missing from the evidence stage", ""))[0]
        if not _pending(status, item.name):
            outcomes[item.speaker][state] += 1
            continue
        try:
            found = utterance_nodes(batch, item)
        except Exception as err:  # noqa: BLE001
            log.warning("%s/%s: skipped for the proposal (%s)", batch.split, item.name, failure_reason(err))
            outcomes[item.speaker]["unreadable"] += 1
            continue
        outcomes[item.speaker]["seen" if found else "no embedded face"] += 1
        nodes += found
    return nodes


def utterance_nodes(batch: BatchOutputs, item: BatchItem) -> list[TrackNode]:
    evidence = read_tsv(batch.evidence / f"{item.name}.tsv")
    # as select_speaker: when no track passed the speaking rules (a clip without audio), all tracks go on
    possible = {int(e["track"]) for e in evidence if e["possible_speaker"] == "yes"} or {int(e["track"]) for e in evidence}
    rows = load_detections(batch.faces, item.name)
    vectors = np.load(batch.embeddings / f"{item.name}.npy")
    landmarks = np.load(batch.faces / item.name / "landmarks.npy")
    dialogue = f"{batch.split}/{item.name.split('_')[0]}"
    nodes = []
    for track in sorted(possible):
        faces = [dict(r) for r in rows if r["track"] == track and np.isfinite(vectors[r["det"]]).all()]
        if not faces:
            continue
        for face in faces:
            face["embedding"] = vectors[face["det"]]
            face["yaw"] = yaw_from_landmarks(landmarks[face["det"]])
            face["crop_path"] = batch.faces / item.name / "crops" / face["crop"]
            face["utterance"] = f"{batch.split}/{item.name}"
        centroid = track_centroid(np.stack([f["embedding"] for f in faces]))
        nodes.append(TrackNode(f"{batch.split}/{item.name}/{track}", item.speaker, dialogue, centroid, faces))
    return nodes


def propose_face_library(
    batches: list[BatchOutputs],
    roles: list[str],
    library_dir: Path,
    sheets_dir: Path,
    cluster_settings,
    settings: ProposalSettings,
) -> list[RoleChoice]:
    from facseq.cluster import cluster_faces

    library_dir, sheets_dir = Path(library_dir), Path(sheets_dir)
    for folder in (library_dir, sheets_dir):
        shutil.rmtree(folder, ignore_errors=True)  # a rerun never keeps an old proposal's images
        folder.mkdir(parents=True)
    outcomes: dict[str, Counter] = {role: Counter() for role in roles}
    nodes = [node for batch in batches for node in read_track_nodes(batch, set(roles), outcomes)]
    log.info("%d possible-speaker tracks of %d roles; utterances per role: %s", len(nodes), len(roles),
             {role: dict(counts) for role, counts in outcomes.items()})
    centroids = np.stack([n.centroid for n in nodes]) if nodes else np.zeros((0, 1), dtype=np.float32)
    labels = cluster_faces(centroids, cluster_settings).labels
    observations = observations_of(nodes, labels)
    choices = assign_roles(role_evidence(observations, roles), settings)
    rows = []
    for choice in choices:
        if choice.n_dialogues == 0:  # never seen: say what its utterances gave instead
            counts = ", ".join(f"{n} {what}" for what, n in sorted(outcomes[choice.role].items()))
            choice.reason += f" ({sum(outcomes[choice.role].values())} utterances: {counts})"
        members = [n for n, label in zip(nodes, labels) if label == choice.cluster]
        picked = pick_faces(members, settings, cluster_settings.min_similarity) if choice.cluster is not None else []
        if choice.cluster is not None and len(picked) < settings.min_images:
            choice.reason = (f"too thin: only {len(picked)} track(s) of cluster {choice.cluster} have a face within "
                             f"{cluster_settings.min_similarity} of its centre (library.min_images = {settings.min_images})")
            choice.cluster, picked = None, []
        role_rows = write_role(choice, picked, library_dir)
        rows += role_rows
        render_role_sheet(choice, role_rows, library_dir, sheets_dir / f"{choice.role}.png")
        log.info("%s: %s", choice.role, f"{len(picked)} images; {choice.reason}" if picked else f"no folder: {choice.reason}")
    write_tsv(library_dir / "proposal.tsv", rows, PROPOSAL_COLUMNS)
    return choices


def observations_of(nodes: list[TrackNode], labels: np.ndarray) -> list[Observation]:
    """One observation per utterance: its role, dialogue and the clusters of its possible speakers."""
    by_utterance: dict[str, tuple[str, str, set[int]]] = {}
    for node, label in zip(nodes, labels):
        utterance = node.key.rsplit("/", 1)[0]
        by_utterance.setdefault(utterance, (node.role, node.dialogue, set()))[2].add(int(label))
    return [Observation(role, dialogue, frozenset(clusters)) for role, dialogue, clusters in by_utterance.values()]


def pick_faces(members: list[TrackNode], settings: ProposalSettings, min_similarity: float) -> list[tuple[dict, str, float]]:
    """(face, why, centre similarity) for the chosen faces of a cluster's tracks."""
    faces = [(node, face) for node in members for face in node.faces]
    if not faces:
        return []
    centre = track_centroid(np.stack([node.centroid for node in members]))
    centrality = np.array([float(face["embedding"] @ centre) for _, face in faces])
    picks = select_images(
        dialogue=[node.dialogue for node, _ in faces],
        track=[node.key for node, _ in faces],
        centrality=centrality,
        yaw=np.array([face["yaw"] for _, face in faces]),
        size=np.array([face["y2"] - face["y1"] for _, face in faces]),
        n=settings.images_per_role,
        min_centrality=min_similarity,
    )
    return [(faces[p.index][1] | {"track_key": faces[p.index][0].key}, p.why, centrality[p.index]) for p in picks]


def write_role(choice: RoleChoice, picked: list[tuple[dict, str, float]], library_dir: Path) -> list[dict]:
    """Copy the chosen crops to `<role>/NN.jpg`; the proposal rows (one line with the reason when none)."""
    common = {"role": choice.role, "cluster": choice.cluster, "cluster_support": choice.support,
              "cluster_share": choice.share, "specificity": choice.specificity, "n_role_dialogues": choice.n_dialogues}
    if not picked:
        return [common | {"status": "no_folder", "why": choice.reason}]
    folder = library_dir / choice.role
    folder.mkdir(parents=True)
    rows = []
    for n, (face, why, similarity) in enumerate(picked, start=1):
        image = f"{choice.role}/{n:02d}.jpg"
        shutil.copyfile(face["crop_path"], library_dir / image)
        rows.append(common | {
            "status": "proposed", "image": image, "utterance": face["utterance"], "frame": face["frame"],
            "time_s": face["time_s"], "x1": face["x1"], "y1": face["y1"], "x2": face["x2"], "y2": face["y2"],
            "track": face["track"], "centre_similarity": round(similarity, 4),
            "yaw": round(face["yaw"], 3) if np.isfinite(face["yaw"]) else float("nan"),
            "face_height": round(face["y2"] - face["y1"], 1), "why": why,
        })
    return rows


THUMB, PER_ROW, PAD, LINE = 128, 5, 8, 14


def render_role_sheet(choice: RoleChoice, rows: list[dict], library_dir: Path, out_path: Path) -> None:
    """One PNG to review a role: its proposed images with where each comes from, or why there are none."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    images = [r for r in rows if r["status"] == "proposed"]
    advice = ("Delete every image that is not this person; keep the folder name = the CSV's Speaker."
              if images else "No images proposed: add a folder by hand if this is a leading role (face_library/README.md).")
    title = f"{choice.role}: {len(images)} proposed image(s)" if images else f"{choice.role}: NO FOLDER"
    header = [title, *textwrap.wrap(choice.reason, 100), advice]
    n_rows = -(-len(images) // PER_ROW)
    cell = THUMB + 3 * LINE
    width = PAD * 2 + PER_ROW * (THUMB + PAD)
    sheet = Image.new("RGB", (max(width, 640), PAD * 2 + LINE * len(header) + PAD + n_rows * cell), "white")
    draw = ImageDraw.Draw(sheet)
    y = PAD
    for line in header:
        draw.text((PAD, y), line, fill=(0, 0, 0) if images else (180, 0, 0), font=font)
        y += LINE
    y += PAD
    for i, row in enumerate(images):
        x0, y0 = PAD + (i % PER_ROW) * (THUMB + PAD), y + (i // PER_ROW) * cell
        with Image.open(library_dir / row["image"]) as thumb:
            sheet.paste(thumb.convert("RGB").resize((THUMB, THUMB)), (x0, y0))
        yaw = f"{row['yaw']:+.2f}" if np.isfinite(row["yaw"]) else "?"
        for k, text in enumerate((f"{Path(row['image']).name} {row['utterance'].split('/')[-1]}",
                                  f"frame {row['frame']} track {row['track']}",
                                  f"sim {row['centre_similarity']:.3f} yaw {yaw} h {row['face_height']:.0f}")):
            draw.text((x0, y0 + THUMB + 1 + k * LINE), text, fill=(60, 60, 60), font=font)
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_path)
