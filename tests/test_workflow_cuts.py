"""The workflow on clips composed from the shared real footage (tests/composed.py): hard cuts between two
people at the same place, size and background, and a cut between two shots of one person; scored with
`facseq.evaluate`. The same results folder then shows that a missing face library is a DAG error and that a
changed library re-runs matching (dry runs)."""

from __future__ import annotations

import os
import shutil

import pytest

from composed import COMPOSITIONS, CUT_FRAME, SAME_PERSON_CUT, write_dataset
from conftest import config_args, require_shared, run_snakemake
from contract import read_tsv
from facseq.evaluate import evaluate

pytestmark = [pytest.mark.slow, pytest.mark.shared]
LIBRARY_JOBS = {"embed_library", "select_speaker", "contact_sheets", "collect_split", "all"}
FPS_WORKFLOW = 25.0  # frames.fps default: work tables count frames at this rate


@pytest.fixture(scope="module")
def cuts(tmp_path_factory):
    fixture = require_shared("fixtures", "speaker")
    root = tmp_path_factory.mktemp("cuts")
    data = write_dataset(fixture, COMPOSITIONS, root / "data")
    library = root / "face_library"  # a copy: the library tests below change it
    shutil.copytree(fixture / "face_library", library)
    results = root / "results"
    args = config_args(data, data, library, results)
    run_snakemake("--cores", "2", *args)
    return {"data": data, "library": library, "results": results, "args": args,
            "scores": {s.utterance: s for s in evaluate(results, data)}}


def faces_table(cuts, name):
    return read_tsv(cuts["results"] / "work" / "dev" / "b0000" / "faces" / name / "detections.tsv")


@pytest.mark.parametrize("name", ["dia0_utt0", "dia0_utt1"])
def test_cut_between_two_people_returns_only_the_speaker(cuts, name):
    score = cuts["scores"][name]
    assert score.status == "ok", score
    assert score.precision >= 0.95, f"{name}: {score.precision:.0%} of the returned crops are the speaker ({score})"
    assert score.coverage >= 0.8, f"{name}: speaker returned on {score.coverage:.0%} of the visible frames"


@pytest.mark.parametrize("name", ["dia0_utt0", "dia0_utt1"])
def test_shot_start_is_recorded_and_no_track_crosses_it(cuts, name):
    cut = CUT_FRAME[name] / (24000 / 1001) * FPS_WORKFLOW  # the cut in workflow frames
    shots = read_tsv(cuts["results"] / "work" / "dev" / "b0000" / "faces" / name / "shots.tsv")
    assert [abs(int(s["first_frame"]) - cut) <= 1.5 for s in shots] == [False, True], f"cut near {cut:.1f}: {shots}"
    first = int(shots[1]["first_frame"])
    sides: dict[str, set[bool]] = {}
    for row in faces_table(cuts, name):
        if int(row["track"]) >= 0:
            sides.setdefault(row["track"], set()).add(int(row["frame"]) >= first)
    assert len(sides) >= 2 and all(len(s) == 1 for s in sides.values()), sides


def test_same_person_sequence_continues_across_the_cut(cuts):
    name = SAME_PERSON_CUT.name
    score = cuts["scores"][name]
    assert score.passed, score
    cut = CUT_FRAME[name] / (24000 / 1001)  # seconds
    faces = read_tsv(cuts["results"] / "facseqs" / "val" / name / "faces.tsv")
    before = [f for f in faces if float(f["time_s"]) < cut]
    after = [f for f in faces if float(f["time_s"]) >= cut]
    assert len(before) >= 25 and len(after) >= 25, (len(before), len(after))
    assert len({f["track"] for f in before} & {f["track"] for f in after}) == 0  # two shots, two tracks, one person


def test_evidence_and_decisions_carry_the_vad(cuts):
    frames = read_tsv(cuts["results"] / "work" / "dev" / "b0000" / "evidence" / "dia0_utt0_frames.tsv")
    speech = [float(r["speech"]) for r in frames]
    assert sum(s >= 0.5 for s in speech) > 0.5 * len(speech)  # the voice runs through the clip
    tracks = read_tsv(cuts["results"] / "work" / "dev" / "b0000" / "evidence" / "dia0_utt0.tsv")
    assert all(r["av_energy_correlation"] != "" for r in tracks if r["note"] == "")
    decisions = {d["utterance"]: d for d in read_tsv(cuts["results"] / "decisions" / "val.tsv")}
    assert "Silero VAD" in decisions["dia0_utt0"]["speaker_detection"]


def dry_run(cuts, *extra):
    """Jobs a dry run would run, and its output."""
    result = run_snakemake("--cores", "2", "--dry-run", *cuts["args"], *extra, check=False)
    text = result.stdout + result.stderr
    jobs = {line.split()[-1].rstrip(":") for line in text.splitlines() if line.startswith(("rule ", "localrule "))}
    return result.returncode, jobs, text


def test_results_are_up_to_date_after_the_run(cuts):
    code, jobs, text = dry_run(cuts)
    assert code == 0 and jobs == set(), text[-2000:]


def test_missing_face_library_is_a_dag_error_even_with_old_results(cuts):
    missing = cuts["library"].parent / "no_such_library"
    code, jobs, text = dry_run(cuts, f"face_library={missing}")
    assert code != 0 and not jobs
    assert f"face_library: {missing} is not a folder" in text, text[-2000:]


@pytest.mark.parametrize("change", ["added", "replaced", "removed"])
def test_changed_library_reruns_matching_and_what_follows(cuts, change, tmp_path):
    library = cuts["library"]
    alex = sorted((library / "Alex").glob("*.jpg"))
    backup = tmp_path / "backup"
    shutil.copytree(library, backup)
    try:
        if change == "added":
            shutil.copy(alex[0], library / "Alex" / "added.jpg")
        elif change == "replaced":  # other content, same name and size class, an OLD modification time
            old = os.stat(alex[1])
            shutil.copy(sorted((library / "Katie").glob("*.jpg"))[0], alex[1])
            os.utime(alex[1], (old.st_atime - 3600 * 24 * 365, old.st_mtime - 3600 * 24 * 365))
        else:
            alex[2].unlink()
        code, jobs, text = dry_run(cuts)
        assert code == 0, text[-2000:]
        assert {"embed_library", "select_speaker", "contact_sheets", "collect_split"} <= jobs, text[-3000:]
        assert jobs <= LIBRARY_JOBS, f"only library-dependent jobs may re-run: {jobs - LIBRARY_JOBS}"
    finally:
        shutil.rmtree(library)
        shutil.copytree(backup, library, copy_function=shutil.copy2)
