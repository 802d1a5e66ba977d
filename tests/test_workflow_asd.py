"""The workflow with the active speaker detector (Light-ASD, official TalkSet weights from the shared
fixture) on the real speaker footage, and the download rule with a local file URL."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest

from conftest import config_args, require_shared, run_snakemake
from contract import check_split_outputs, read_tsv

pytestmark = [pytest.mark.slow, pytest.mark.shared]


@pytest.fixture(scope="module")
def asd_run(tmp_path_factory):
    fixture = require_shared("fixtures", "speaker")
    weights = require_shared("fixtures", "asd", "light_asd", "finetuning_TalkSet.model")
    results = tmp_path_factory.mktemp("asd") / "results"
    args = config_args(fixture, fixture, fixture / "face_library", results)
    run_snakemake("--cores", "2", *args, f'asd={{"weights": "{weights}"}}')
    truth = {f"dia{r['dialogue_id']}_utt{r['utterance_id']}": r for r in csv.DictReader(open(fixture / "ground_truth.csv"))}
    decisions = check_split_outputs(results, "val", list(truth))
    return {"results": results, "truth": truth, "decisions": decisions}


def evidence(results: Path, utt: str) -> list[dict]:
    return read_tsv(next(results.glob(f"work/dev/*/evidence/{utt}.tsv")))


def test_statuses_unchanged_with_the_detector(asd_run):
    for utt, row in asd_run["truth"].items():
        decision = asd_run["decisions"][utt]
        assert decision["status"] == row["expected_status"], (utt, decision)
        if row["expected_status"] == "ok":
            assert decision["speaker_detection"].startswith("asd, rules where unsure"), decision


def test_asd_scores_are_kept_per_frame_and_per_track(asd_run):
    results = asd_run["results"]
    frames = read_tsv(next(results.glob("work/dev/*/evidence/dia0_utt0_frames.tsv")))
    scored = [float(f["asd_score"]) for f in frames if f["asd_score"]]
    assert len(scored) >= 0.9 * len(frames)
    track = evidence(results, "dia0_utt0")[0]
    assert track["decided_by"] == "asd" and track["asd_speaking"] == "yes" and float(track["asd_mean"]) > 0


def test_two_faces_talking_over_one_voice_is_decided_by_lip_audio_and_library(asd_run):
    """The TalkSet detector keys on mouth motion: both dubbed faces 'speak'. The evidence table shows it,
    the lip/audio correlation is higher for the real speaker, and the face library makes the call."""
    results, truth = asd_run["results"], asd_run["truth"]
    for utt in ("dia0_utt1", "dia0_utt2", "dia1_utt0", "dia1_utt1"):
        rows = evidence(results, utt)
        assert len(rows) == 2 and all(r["asd_speaking"] == "yes" and r["decided_by"] == "asd" for r in rows), rows
        faces = read_tsv(results / "facseqs" / "val" / utt / "faces.tsv")
        speaker_track = faces[0]["track"]
        by_track = {r["track"]: float(r["av_correlation"]) for r in rows}
        other = next(t for t in by_track if t != speaker_track)
        assert by_track[speaker_track] > by_track[other], (utt, by_track)
        assert asd_run["decisions"][utt]["decided_by"] == "face library"
        assert truth[utt]["expected_status"] == "ok"


def test_download_rule_fetches_a_local_url_and_checks_sha256(tmp_path):
    weights = require_shared("fixtures", "asd", "light_asd", "finetuning_TalkSet.model")
    fixture = require_shared("fixtures", "speaker")
    models = tmp_path / "models"
    target = models / "finetuning_TalkSet.model"
    args = config_args(fixture, fixture, fixture / "face_library", tmp_path / "results")
    good = f'asd={{"models_dir": "{models}", "urls": {{"finetuning_TalkSet.model": "{weights.as_uri()}"}}}}'
    run_snakemake("--cores", "1", str(target), *args, good)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == hashlib.sha256(weights.read_bytes()).hexdigest()
    # A file that is not the official checkpoint fails the sha256 check and leaves nothing behind.
    wrong = tmp_path / "wrong.model"
    wrong.write_bytes(b"not a checkpoint")
    target.unlink()
    bad = f'asd={{"models_dir": "{models}", "urls": {{"finetuning_TalkSet.model": "{wrong.as_uri()}"}}}}'
    result = run_snakemake("--cores", "1", str(target), *args, bad, check=False)
    assert result.returncode != 0 and not target.exists()
    assert "sha256" in (result.stdout + result.stderr).lower()


def test_asd_excludes_still_faces_on_the_demo(tmp_path):
    """A talking face scores speaking and the still listener does not, so the possible speakers leave
    the listener out; the answers stay right (the generator knows who speaks)."""
    import json

    from facseq.demo import build_demo

    weights = require_shared("fixtures", "asd", "light_asd", "finetuning_TalkSet.model")
    build_demo(tmp_path / "data")
    truth = json.loads((tmp_path / "data" / "ground_truth.json").read_text())["utterances"]
    meld_root, results = tmp_path / "data" / "meld", tmp_path / "results"
    args = config_args(meld_root, meld_root, tmp_path / "data" / "face_library", results)
    run_snakemake("--cores", "2", *args, f'asd={{"weights": "{weights}"}}')
    decisions = check_split_outputs(results, "val", list(truth))
    still_checked = talking_checked = 0
    for name, expected in truth.items():
        assert decisions[name]["status"] == expected["expected_status"], (name, decisions[name])
        if expected["expected_status"] not in ("ok", "speaker_offscreen") or not expected["has_audio"]:
            continue
        rows = evidence(results, name)
        detections = read_tsv(next(results.glob(f"work/dev/*/faces/{name}/detections.tsv")))
        for row in rows:
            xs = [float(d["x1"]) for d in detections if d["track"] == row["track"]]
            face = min(expected["faces"], key=lambda f: abs(f["box"][0] - sum(xs) / len(xs)))
            assert row["decided_by"] == "asd", row
            if face["still"]:
                assert row["asd_speaking"] == "no" and row["possible_speaker"] == "no", (name, row)
                still_checked += 1
            elif face["mouth_moves"]:
                assert row["asd_speaking"] == "yes", (name, row)
                talking_checked += 1
    assert still_checked >= 2 and talking_checked >= 4
