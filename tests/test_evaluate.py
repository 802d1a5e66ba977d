"""facseq.evaluate: the scorer on a hand-made results folder and labels (layout of shared/fixtures/speaker)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from facseq.evaluate import evaluate, main, parse_frames, total
from facseq.tables import read_tsv, write_tsv

SPEAKER, OTHER = (100, 100, 200, 220), (400, 100, 500, 220)
FPS = 24000 / 1001


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def labels(tmp_path) -> Path:
    """dia0_utt0: speaker visible frames 0-9 next to another face; dia0_utt1: no face expected."""
    folder = tmp_path / "labels"
    folder.mkdir()
    write_csv(folder / "ground_truth.csv", [
        {"split": "dev", "dialogue_id": 0, "utterance_id": 0, "expected_status": "ok", "expected_identity": "A",
         "speaker_visible_frames": "0-9", "fps": "24000/1001"},
        {"split": "dev", "dialogue_id": 0, "utterance_id": 1, "expected_status": "no_face", "expected_identity": "NONE",
         "speaker_visible_frames": "(none)", "fps": "24000/1001"},
    ])
    frames = []
    for f in range(10):
        frames.append({"utterance": "dia0_utt0", "frame": f, "is_speaker": "yes", **dict(zip(("x1", "y1", "x2", "y2"), SPEAKER))})
        frames.append({"utterance": "dia0_utt0", "frame": f, "is_speaker": "no", **dict(zip(("x1", "y1", "x2", "y2"), OTHER))})
    write_csv(folder / "ground_truth_frames.csv", frames)
    return folder


def results_with(tmp_path, faces: list[tuple[int, tuple]], status_1: str = "no_face", faces_1=()) -> Path:
    results = tmp_path / "results"
    write_tsv(results / "decisions" / "val.tsv", [{"utterance": "dia0_utt0", "status": "ok"},
                                                  {"utterance": "dia0_utt1", "status": status_1}])
    for name, rows in (("dia0_utt0", faces), ("dia0_utt1", faces_1)):
        write_tsv(results / "facseqs" / "val" / name / "faces.tsv",
                  [{"crop": f"{i:06d}.jpg", "time_s": round(frame / FPS, 4), **dict(zip(("x1", "y1", "x2", "y2"), box))}
                   for i, (frame, box) in enumerate(rows)], ["crop", "time_s", "x1", "y1", "x2", "y2"])
    return results


def test_parse_frames():
    assert parse_frames("0-2,5,7-8") == {0, 1, 2, 5, 7, 8}
    assert parse_frames("(none)") == set() and parse_frames("") == set()


def test_perfect_sequence_passes(tmp_path, labels):
    results = results_with(tmp_path, [(f, SPEAKER) for f in range(10)])
    first, second = evaluate(results, labels)
    assert (first.precision, first.coverage, first.passed) == (1.0, 1.0, True)
    assert second.passed and second.n_returned == 0


def test_other_face_and_small_overlap_are_wrong(tmp_path, labels):
    shifted = (150, 100, 250, 220)  # IoU 1/3 with the speaker's box
    faces = [(f, SPEAKER) for f in range(6)] + [(6, OTHER), (7, OTHER), (8, shifted)]
    score = evaluate(results_with(tmp_path, faces), labels)[0]
    assert score.n_correct == 6 and score.precision == pytest.approx(6 / 9)
    assert score.coverage == pytest.approx(0.6)
    assert not score.passed and "precision" in score.problem and "coverage" in score.problem


def test_wrong_status_and_unexpected_crops_fail(tmp_path, labels):
    results = results_with(tmp_path, [], status_1="ok", faces_1=[(0, SPEAKER)])
    first, second = evaluate(results, labels)
    assert first.status == "ok" and first.n_returned == 0 and not first.passed and "coverage 0%" in first.problem
    assert not second.passed and "status ok, expected no_face" in second.problem and "1 crops returned" in second.problem
    row = total([first, second])
    assert row["passed"] == "0/2" and row["status"] == "1 as expected"


def test_missing_results_are_reported_not_crashing(tmp_path, labels):
    scores = evaluate(tmp_path / "nothing_here", labels)
    assert [s.status for s in scores] == ["missing", "missing"] and not any(s.passed for s in scores)


def test_bad_labels_name_the_file(tmp_path, labels, capsys):
    (labels / "ground_truth_frames.csv").write_text("utterance,frame\ndia0_utt0,0\n")
    assert main([str(tmp_path), str(labels)]) == 2
    err = capsys.readouterr().err
    assert "ground_truth_frames.csv" in err and "is_speaker" in err


def test_command_line_prints_per_utterance_and_total_and_writes_tsv(tmp_path, labels):
    results = results_with(tmp_path, [(f, SPEAKER) for f in range(10)])
    run = subprocess.run([sys.executable, "-m", "facseq.evaluate", str(results), str(labels)],
                         capture_output=True, text=True, check=True)
    lines = run.stdout.splitlines()
    assert lines[0].split()[:5] == ["utterance", "expected_status", "status", "precision", "coverage"]
    assert lines[1].split()[:5] == ["dia0_utt0", "ok", "ok", "1.000", "1.000"]
    assert lines[3].startswith("TOTAL") and "2/2" in lines[3]
    table = read_tsv(results / "evaluation.tsv")
    assert [r["utterance"] for r in table] == ["dia0_utt0", "dia0_utt1", "TOTAL"]
    assert table[0]["passed"] == "yes" and table[2]["precision"] == "1"
