"""Run time of the face-library proposal per 100 utterances, and whether it finds the right people.

The proposal job reads the per-clip stages' outputs (face tracks, embeddings, speaker evidence) of every
utterance of the roles and clusters them across utterances. Here those outputs are synthesised with
MELD's own structure: the dialogues and speakers of the first N rows of MELD's train CSV
(../shared/data/meld, or $FACSEQ_SHARED/data/meld; a random cast of 6 speakers when absent), one random
identity per speaker, and per utterance the speaker on screen with probability 0.7 plus one or two other
speakers of the dialogue as talking listeners (all possible speakers, 16 embedded faces per track, as
`embedding.max_faces_per_track`). It then times `facseq.stages.propose_library.propose_face_library`
(reading, clustering, assignment, image writing, review sheets) and prints seconds per 100 utterances
and how many of the six roles got the folder of their own identity.

    python benchmarks/propose_library.py                    # 500 and 2000 utterances
    python benchmarks/propose_library.py --utterances 8000  # larger

The per-clip stages the proposal needs (decode, faces, embeddings, evidence) are the main workflow's;
their cost per clip is measured by benchmarks/pipeline_throughput.py.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from facseq.cluster import ClusterSettings  # noqa: E402
from facseq.propose_library import ProposalSettings, default_roles  # noqa: E402
from facseq.stages.common import BatchItem  # noqa: E402
from facseq.stages.faces import DETECTION_COLUMNS  # noqa: E402
from facseq.stages.propose_library import BatchOutputs, propose_face_library  # noqa: E402
from facseq.tables import write_status, write_tsv  # noqa: E402

FACES_PER_TRACK = 16
DIM = 128


def meld_rows(n: int, rng: np.random.Generator) -> list[tuple[int, int, str]]:
    """(dialogue, utterance, speaker) of the first n rows of MELD's train CSV, or a random stand-in."""
    path = Path(os.environ.get("FACSEQ_SHARED", REPO.parent / "shared")) / "data" / "meld" / "train_sent_emo.csv"
    if path.is_file():
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = [(int(r["Dialogue_ID"]), int(r["Utterance_ID"]), r["Speaker"].strip()) for r in csv.DictReader(handle)]
        return rows[:n]
    cast = ["Chandler", "Joey", "Monica", "Phoebe", "Rachel", "Ross", "Gunther", "Janice"]
    return [(i // 12, i % 12, cast[rng.integers(len(cast))]) for i in range(n)]


def write_batch(folder: Path, rows, identity: dict[str, np.ndarray], rng: np.random.Generator) -> BatchOutputs:
    """faces/, embeddings/, evidence/ of one batch holding these utterances."""
    by_dialogue: dict[int, set[str]] = {}
    for d, _, speaker in rows:
        by_dialogue.setdefault(d, set()).add(speaker)
    crop = np.full((160, 160, 3), 128, dtype=np.uint8)
    status, items = {}, []
    for d, u, speaker in rows:
        name = f"dia{d}_utt{u}"
        items.append(BatchItem(name, speaker, f"{name}.mp4"))
        others = sorted(by_dialogue[d] - {speaker})
        on_screen = ([speaker] if rng.random() < 0.7 else []) + list(
            rng.choice(others, size=min(len(others), int(rng.integers(1, 3))), replace=False) if others else [])
        if not on_screen:
            status[name] = ("no_face", "no face detected")
            continue
        status[name] = ("pending", "")
        detections, vectors = [], []
        (folder / "faces" / name / "crops").mkdir(parents=True)
        for track, person in enumerate(on_screen):
            cv2.imwrite(str(folder / "faces" / name / "crops" / f"t{track}.jpg"), crop)
            height = float(rng.uniform(80, 300))
            for f in range(FACES_PER_TRACK):
                detections.append({"det": len(detections), "frame": f, "time_s": f / 25, "shot": 0, "track": track,
                                   "x1": 10.0, "y1": 10.0, "x2": 10 + height * 0.8, "y2": 10 + height,
                                   "probability": 0.99, "landmarks": True, "crop": f"t{track}.jpg"})
                noisy = identity[person] + rng.normal(scale=0.015, size=DIM)
                vectors.append(noisy / np.linalg.norm(noisy))
        write_tsv(folder / "faces" / name / "detections.tsv", detections, DETECTION_COLUMNS)
        landmarks = np.zeros((len(detections), 468, 2), dtype=np.float32)
        landmarks[:, 33], landmarks[:, 263] = (0, 0), (10, 0)
        landmarks[:, 1, 0] = rng.uniform(2, 8, size=len(detections))  # head turns
        np.save(folder / "faces" / name / "landmarks.npy", landmarks)
        (folder / "embeddings").mkdir(exist_ok=True)
        np.save(folder / "embeddings" / f"{name}.npy", np.array(vectors, dtype=np.float32))
        write_tsv(folder / "evidence" / f"{name}.tsv", [{"track": t, "possible_speaker": "yes"} for t in range(len(on_screen))],
                  ["track", "possible_speaker"])
    write_status(folder / "evidence" / "status.tsv", status)
    return BatchOutputs("train", items, folder / "faces", folder / "embeddings", folder / "evidence")


def run(n: int, work: Path, seed: int) -> tuple[float, int, int]:
    rng = np.random.default_rng(seed)
    rows = meld_rows(n, rng)
    speakers = sorted({s for _, _, s in rows})
    vectors = rng.normal(size=(len(speakers), DIM))
    identity = {s: v / np.linalg.norm(v) for s, v in zip(speakers, vectors)}
    batches, dialogues = [], sorted({d for d, _, _ in rows})
    for start in range(0, len(dialogues), 8):  # dialogues_per_batch: 8
        chosen = set(dialogues[start:start + 8])
        batches.append(write_batch(work / f"b{start // 8:04d}", [r for r in rows if r[0] in chosen], identity, rng))
    roles = default_roles([s for _, _, s in rows], 6)
    began = time.perf_counter()
    choices = propose_face_library(batches, roles, work / "proposed", work / "review",
                                   ClusterSettings(min_similarity=0.92), ProposalSettings())
    seconds = time.perf_counter() - began
    right = 0
    for choice in choices:
        if choice.cluster is None:
            continue
        # the role's images are copies of crops of its tracks: right when every track is the role's person
        rows_of_role = [r for r in csv.DictReader(open(work / "proposed" / "proposal.tsv"), delimiter="\t")
                        if r["role"] == choice.role]
        people = Counter(speaker_on_track(work, r, identity) for r in rows_of_role)
        right += people.most_common(1)[0][0] == choice.role and len(people) == 1
    return seconds, right, len(roles)


def speaker_on_track(work: Path, row: dict, identity: dict[str, np.ndarray]) -> str:
    """Whose synthetic identity the proposed face's track carries."""
    split, name = row["utterance"].split("/")
    for batch in work.glob("b*"):
        path = batch / "embeddings" / f"{name}.npy"
        if path.is_file():
            detections = list(csv.DictReader(open(batch / "faces" / name / "detections.tsv"), delimiter="\t"))
            vector = np.load(path)[[int(d["det"]) for d in detections if d["track"] == row["track"]][0]]
            return max(identity, key=lambda s: float(vector @ identity[s]))
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{'utterances':>10}  {'proposal s':>10}  {'s per 100 utt':>13}  roles with their own face")
    for n in args.utterances:
        with tempfile.TemporaryDirectory(prefix="propose_bench_") as tmp:
            seconds, right, n_roles = run(n, Path(tmp), args.seed)
        print(f"{n:>10}  {seconds:>10.2f}  {100 * seconds / n:>13.3f}  {right}/{n_roles}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
