"""The whole workflow on real footage with known answers (../shared/fixtures/speaker), once with the
full face library and once without Katie (she becomes a passer-by). The second run reuses the first run's
results folder: only the library-dependent jobs may run again."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from conftest import config_args, require_shared, run_snakemake
from contract import check_split_outputs, read_tsv

pytestmark = [pytest.mark.slow, pytest.mark.shared]
FPS_NATIVE = 24000 / 1001
LIBRARY_JOBS = {"embed_library", "select_speaker", "contact_sheets", "collect_split", "all"}


def iou(a, b) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def snapshot(results: Path, names: list[str]) -> tuple[dict, dict]:
    decisions = check_split_outputs(results, "val", names)
    faces = {n: read_tsv(results / "facseqs" / "val" / n / "faces.tsv") for n in names}
    return decisions, faces


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    fixture = require_shared("fixtures", "speaker")
    results = tmp_path_factory.mktemp("fixture") / "results"
    names = [f"dia{r['Dialogue_ID']}_utt{r['Utterance_ID']}" for r in csv.DictReader(open(fixture / "dev_sent_emo.csv"))]
    run_snakemake("--cores", "2", *config_args(fixture, fixture, fixture / "face_library", results))
    main = snapshot(results, names)
    second = run_snakemake(
        "--cores", "2", *config_args(fixture, fixture, fixture / "face_library_without_Katie", results)
    )
    passerby = snapshot(results, names)
    return {"face_library": main, "face_library_without_Katie": passerby, "second_log": second.stderr, "fixture": fixture}


def ground_truth(fixture: Path):
    rows = list(csv.DictReader(open(fixture / "ground_truth.csv")))
    boxes: dict[tuple[str, int], list[tuple[list[float], bool]]] = {}
    for r in csv.DictReader(open(fixture / "ground_truth_frames.csv")):
        key = (r["utterance"], int(r["frame"]))
        boxes.setdefault(key, []).append(([float(r[k]) for k in ("x1", "y1", "x2", "y2")], r["is_speaker"] == "yes"))
    return rows, boxes


def visible_frames(spec: str) -> set[int]:
    frames = set()
    for part in filter(None, spec.split(",")):
        lo, _, hi = part.partition("-")
        frames |= set(range(int(lo), int(hi or lo) + 1))
    return frames


@pytest.mark.parametrize("library", ["face_library", "face_library_without_Katie"])
def test_every_scenario_gets_the_right_speaker(runs, library):
    decisions, faces = runs[library]
    rows, boxes = ground_truth(runs["fixture"])
    for row in rows:
        utt = f"dia{row['dialogue_id']}_utt{row['utterance_id']}"
        decision = decisions[utt]
        assert decision["status"] == row["expected_status"], (library, utt, decision)
        if row["expected_status"] != "ok":
            assert faces[utt] == []
            continue
        expected_in_library = row["in_face_library" if library == "face_library" else "in_face_library_without_Katie"]
        assert decision["in_library"] == expected_in_library, (utt, decision)
        visible = visible_frames(row["speaker_visible_frames"])
        correct, hit_frames = 0, set()
        for face in faces[utt]:
            frame = int(round(float(face["time_s"]) * FPS_NATIVE))
            box = [float(face[k]) for k in ("x1", "y1", "x2", "y2")]
            candidates = boxes.get((utt, frame), [])
            # the crop must be the speaker's face: it overlaps the speaker's box, not another face's
            best = max(candidates, key=lambda c: iou(box, c[0]), default=None)
            if best is not None and best[1] and iou(box, best[0]) >= 0.5 and frame in visible:
                correct += 1
                hit_frames.add(frame)
        precision = correct / len(faces[utt])
        coverage = len(hit_frames) / len(visible)
        assert precision >= 0.95, f"{library} {utt}: only {precision:.0%} of the crops are the speaker"
        assert coverage >= 0.8, f"{library} {utt}: speaker returned on {coverage:.0%} of the visible frames"


def test_passerby_route_and_leading_role_route(runs):
    main, _ = runs["face_library"]
    passerby, _ = runs["face_library_without_Katie"]
    assert main["dia0_utt2"]["in_library"] == "yes" and "leading role Katie" in main["dia0_utt2"]["reason"]
    assert passerby["dia0_utt2"]["in_library"] == "no" and "passer-by" in passerby["dia0_utt2"]["reason"]
    assert "passer-by" in passerby["dia1_utt1"]["reason"]
    for utt in ("dia0_utt0", "dia0_utt1", "dia1_utt0"):  # Alex rows: leading role with both libraries
        assert "leading role Alex" in passerby[utt]["reason"]


def test_second_library_reruns_only_library_dependent_jobs(runs):
    ran = {
        line.split()[-1].rstrip(":")
        for line in runs["second_log"].splitlines()
        if line.startswith(("rule ", "localrule "))
    }
    assert ran, "the second run must redo the library-dependent jobs"
    assert ran <= LIBRARY_JOBS, f"decoding, detection and embedding must be reused, but these ran: {ran - LIBRARY_JOBS}"


def test_similarities_separate_the_speaker_from_the_other_face(runs):
    decisions, _ = runs["face_library"]
    chosen = [float(d["similarity"]) for d in decisions.values() if d["status"] == "ok"]
    assert min(chosen) >= 0.92
    sims = np.array(chosen)
    assert np.all(np.isfinite(sims))
