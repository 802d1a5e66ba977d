"""Score a results folder against hand labels: `python -m facseq.evaluate RESULTS LABELS`.

LABELS is laid out like `shared/fixtures/speaker/` (see README, "Scoring on your own labels"):

- `ground_truth.csv`: one row per labelled utterance with `split` (train/dev/test), `dialogue_id`,
  `utterance_id`, `expected_status` (ok, no_face, speaker_offscreen) and `fps` of the clip (e.g.
  `24000/1001`); optional `expected_identity` and `speaker_visible_frames` (ranges such as `0-40,52-71`;
  when absent, the frames with an `is_speaker=yes` box are the visible ones);
- `ground_truth_frames.csv`: one row per (frame, visible face) with `utterance`, `frame` (0-based, in the
  clip's own frame rate), `is_speaker` (yes/no) and the face box `x1 y1 x2 y2` in clip pixels.

A returned crop is correct when its frame is a visible frame of the speaker and, among the labelled faces
of that frame, the one it overlaps most is the speaker's, with IoU >= 0.5. Precision = correct crops /
returned crops; coverage = visible frames with a correct crop / visible frames. An utterance passes when
its status is the expected one and, for `ok`, precision and coverage reach the thresholds (an utterance
expected empty passes only with no crop).
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from facseq.meld import SPLITS, output_name
from facseq.tables import read_tsv, write_tsv
from facseq.track import box_iou

MIN_IOU = 0.5
COLUMNS = ["utterance", "split", "expected_status", "status", "expected_identity", "n_returned", "n_correct",
           "precision", "n_visible", "n_covered", "coverage", "passed", "problem"]


class LabelError(ValueError):
    pass


@dataclass
class UtteranceScore:
    utterance: str
    split: str
    expected_status: str
    status: str
    expected_identity: str
    n_returned: int
    n_correct: int
    precision: float  # NaN when nothing was returned
    n_visible: int
    n_covered: int
    coverage: float  # NaN when the speaker is never visible
    passed: bool
    problem: str


def parse_frames(spec: str) -> set[int]:
    """'0-40,52,60-71' -> {0..40, 52, 60..71} (ranges inclusive; '' or '(none)' -> empty)."""
    frames: set[int] = set()
    for part in spec.replace(" ", "").split(","):
        if not part or part.startswith("("):
            continue
        lo, _, hi = part.partition("-")
        frames |= set(range(int(lo), int(hi or lo) + 1))
    return frames


def _read_csv(path: Path, required: set[str]) -> list[dict]:
    if not path.is_file():
        raise LabelError(f"{path}: labels file not found")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    missing = required - set(rows[0] if rows else required)
    if missing:
        raise LabelError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    return rows


def load_labels(labels: Path) -> tuple[list[dict], dict[str, dict[int, list[tuple[np.ndarray, bool]]]]]:
    """(utterance rows, utterance -> frame -> [(box, is_speaker)])."""
    labels = Path(labels)
    rows = _read_csv(labels / "ground_truth.csv", {"split", "dialogue_id", "utterance_id", "expected_status", "fps"})
    boxes: dict[str, dict[int, list]] = {}
    for r in _read_csv(labels / "ground_truth_frames.csv", {"utterance", "frame", "is_speaker", "x1", "y1", "x2", "y2"}):
        box = np.array([float(r[k]) for k in ("x1", "y1", "x2", "y2")])
        boxes.setdefault(r["utterance"], {}).setdefault(int(r["frame"]), []).append((box, r["is_speaker"] == "yes"))
    for row in rows:
        if row["split"] not in SPLITS:
            raise LabelError(f"{labels / 'ground_truth.csv'}: split {row['split']!r} is not one of {', '.join(SPLITS)}")
    return rows, boxes


def score_utterance(faces: list[dict], fps: float, frame_boxes: dict[int, list[tuple[np.ndarray, bool]]],
                    visible: set[int]) -> tuple[int, set[int]]:
    """(correct crops, visible frames hit) for the returned `faces` rows (time_s, x1 y1 x2 y2)."""
    correct, hit = 0, set()
    for face in faces:
        frame = int(round(float(face["time_s"]) * fps))
        candidates = frame_boxes.get(frame, [])
        if frame not in visible or not candidates:
            continue
        box = np.array([float(face[k]) for k in ("x1", "y1", "x2", "y2")])
        overlaps = box_iou(box, np.stack([c[0] for c in candidates]))[0]
        best = int(np.argmax(overlaps))
        if candidates[best][1] and overlaps[best] >= MIN_IOU:
            correct += 1
            hit.add(frame)
    return correct, hit


def evaluate(results: Path, labels: Path, min_precision: float = 0.95, min_coverage: float = 0.8) -> list[UtteranceScore]:
    results = Path(results)
    rows, boxes = load_labels(labels)
    decisions: dict[str, dict[str, dict]] = {}
    scores = []
    for row in rows:
        split, name = row["split"], f"dia{row['dialogue_id']}_utt{row['utterance_id']}"
        out = output_name(split)
        if out not in decisions:
            path = results / "decisions" / f"{out}.tsv"
            decisions[out] = {d["utterance"]: d for d in read_tsv(path)} if path.is_file() else {}
        decision = decisions[out].get(name)
        faces_tsv = results / "facseqs" / out / name / "faces.tsv"
        faces = read_tsv(faces_tsv) if decision and faces_tsv.is_file() else []
        frame_boxes = boxes.get(name, {})
        spec = row.get("speaker_visible_frames")
        visible = parse_frames(spec) if spec is not None else {f for f, c in frame_boxes.items() if any(s for _, s in c)}
        correct, hit = score_utterance(faces, float(Fraction(row["fps"])), frame_boxes, visible)
        status = decision["status"] if decision else "missing"
        precision = correct / len(faces) if faces else float("nan")
        coverage = len(hit) / len(visible) if visible else float("nan")
        expected = row["expected_status"]
        problems = []
        if status != expected:
            problems.append(f"status {status}, expected {expected}")
        if expected == "ok" and faces and precision < min_precision:
            problems.append(f"precision {precision:.0%} < {min_precision:.0%}")
        if expected == "ok" and visible and coverage < min_coverage:
            problems.append(f"coverage {coverage:.0%} < {min_coverage:.0%}")
        if expected != "ok" and faces:
            problems.append(f"{len(faces)} crops returned, none expected")
        scores.append(UtteranceScore(name, split, expected, status, row.get("expected_identity", ""), len(faces),
                                     correct, precision, len(visible), len(hit), coverage, not problems,
                                     "; ".join(problems)))
    return scores


def total(scores: list[UtteranceScore]) -> dict:
    """One summary row: crops and frames summed over utterances (micro averages)."""
    returned, correct = sum(s.n_returned for s in scores), sum(s.n_correct for s in scores)
    visible, covered = sum(s.n_visible for s in scores), sum(s.n_covered for s in scores)
    return {"utterance": "TOTAL", "split": "", "expected_status": f"{len(scores)} utterances",
            "status": f"{sum(s.status == s.expected_status for s in scores)} as expected", "expected_identity": "",
            "n_returned": returned, "n_correct": correct, "precision": correct / returned if returned else float("nan"),
            "n_visible": visible, "n_covered": covered, "coverage": covered / visible if visible else float("nan"),
            "passed": f"{sum(s.passed for s in scores)}/{len(scores)}", "problem": ""}


def _fmt(value) -> str:
    if isinstance(value, float):
        return "-" if np.isnan(value) else f"{value:.3f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m facseq.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="results folder of a workflow run")
    parser.add_argument("labels", type=Path, help="folder with ground_truth.csv and ground_truth_frames.csv")
    parser.add_argument("--tsv", type=Path, help="where to write the table (default RESULTS/evaluation.tsv)")
    parser.add_argument("--min-precision", type=float, default=0.95)
    parser.add_argument("--min-coverage", type=float, default=0.8)
    args = parser.parse_args(argv)
    try:
        scores = evaluate(args.results, args.labels, args.min_precision, args.min_coverage)
    except LabelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    rows = [asdict(s) for s in scores] + [total(scores)]
    shown = ["utterance", "expected_status", "status", "precision", "coverage", "n_returned", "n_visible", "passed", "problem"]
    widths = {c: max(len(c), *(len(_fmt(r[c])) for r in rows)) for c in shown}
    print("  ".join(c.ljust(widths[c]) for c in shown))
    for r in rows:
        print("  ".join(_fmt(r[c]).ljust(widths[c]) for c in shown).rstrip())
    tsv = args.tsv or args.results / "evaluation.tsv"
    write_tsv(tsv, rows, COLUMNS)
    print(f"table: {tsv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
