"""The whole workflow on real footage with known answers (../shared/fixtures/speaker), once with the
full face library and once without Katie (she becomes a passer-by). The second run reuses the first run's
results folder: only the library-dependent jobs may run again."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from conftest import config_args, require_shared, run_snakemake
from contract import check_split_outputs
from facseq.evaluate import evaluate

pytestmark = [pytest.mark.slow, pytest.mark.shared]
LIBRARY_JOBS = {"embed_library", "select_speaker", "contact_sheets", "collect_split", "all"}


def snapshot(results: Path, names: list[str], fixture: Path) -> tuple[dict, list]:
    """The decisions and the scorer's verdicts, taken before the next run rewrites the folder."""
    return check_split_outputs(results, "val", names), evaluate(results, fixture)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    fixture = require_shared("fixtures", "speaker")
    results = tmp_path_factory.mktemp("fixture") / "results"
    names = [f"dia{r['Dialogue_ID']}_utt{r['Utterance_ID']}" for r in csv.DictReader(open(fixture / "dev_sent_emo.csv"))]
    run_snakemake("--cores", "2", *config_args(fixture, fixture, fixture / "face_library", results))
    main = snapshot(results, names, fixture)
    second = run_snakemake(
        "--cores", "2", *config_args(fixture, fixture, fixture / "face_library_without_Katie", results)
    )
    passerby = snapshot(results, names, fixture)
    return {"face_library": main, "face_library_without_Katie": passerby, "second_log": second.stderr, "fixture": fixture}


@pytest.mark.parametrize("library", ["face_library", "face_library_without_Katie"])
def test_every_scenario_gets_the_right_speaker(runs, library):
    """Scored by `facseq.evaluate` (the scorer users run on their own labels): expected status, precision
    >= 0.95 of the returned crops (IoU >= 0.5 with the speaker's box), coverage >= 80 % of the visible frames."""
    decisions, scores = runs[library]
    assert len(scores) == len(decisions)
    for score in scores:
        assert score.passed, f"{library} {score.utterance}: {score.problem} ({decisions[score.utterance]})"
    rows = {f"dia{r['dialogue_id']}_utt{r['utterance_id']}": r for r in csv.DictReader(open(runs["fixture"] / "ground_truth.csv"))}
    column = "in_face_library" if library == "face_library" else "in_face_library_without_Katie"
    for utt, row in rows.items():
        if row["expected_status"] == "ok":
            assert decisions[utt]["in_library"] == row[column], (utt, decisions[utt])


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
