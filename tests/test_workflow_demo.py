"""The whole workflow on the generated demo: every CONTRACT.md output, the right answer for every
utterance (the generator knows who speaks), resuming after an interruption, and the HTML report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import config_args, run_snakemake
from contract import check_split_outputs, read_tsv
from facseq.demo import build_demo

pytestmark = pytest.mark.slow
PER_CLIP_RULES = {"extract_media", "detect_faces", "embed_faces", "speaker_evidence"}


def iou(a, b) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def jobs_run(log: str) -> set[str]:
    return {line.split()[-1].rstrip(":") for line in log.splitlines() if line.startswith(("rule ", "localrule "))}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    build_demo(root / "data")
    truth = json.loads((root / "data" / "ground_truth.json").read_text())
    results = root / "results"
    args = config_args(root / "data" / "meld", root / "data" / "meld", root / "data" / "face_library", results)
    # An interrupted run: it stops after the embeddings; the full run must resume from there.
    first = run_snakemake("--cores", "2", "--until", "embed_faces", *args)
    resumed = run_snakemake("--cores", "2", *args)
    again = run_snakemake("--cores", "2", *args)
    report = root / "report.html"
    run_snakemake("--report", str(report), *args)
    return {"truth": truth, "results": results, "first": first.stderr, "resumed": resumed.stderr,
            "again": again.stderr, "report": report}


def test_contract_outputs_and_answers(demo):
    truth, results = demo["truth"], demo["results"]
    names = list(truth["utterances"])
    decisions = check_split_outputs(results, "val", names)
    fps = truth["fps"] if isinstance(truth["fps"], float) else 24000 / 1001
    for name, expected in truth["utterances"].items():
        decision = decisions[name]
        assert decision["status"] == expected["expected_status"], (name, decision)
        faces = read_tsv(results / "facseqs" / "val" / name / "faces.tsv")
        if expected["expected_status"] != "ok":
            assert faces == []
            continue
        speaker_face = next(f for f in expected["faces"] if f["is_speaker"])
        others = [f for f in expected["faces"] if not f["is_speaker"]]
        right = 0
        for face in faces:
            frame = min(int(round(float(face["time_s"]) * fps)), expected["n_frames"] - 1)
            box = [float(face[k]) for k in ("x1", "y1", "x2", "y2")]
            mine = iou(box, speaker_face["boxes"][frame])
            assert all(iou(box, other["boxes"][frame]) < 0.1 for other in others), (name, face)
            right += mine >= 0.5
        assert right / len(faces) >= 0.95, f"{name}: {right}/{len(faces)} crops are the speaker's face"
        assert len(faces) >= 0.8 * expected["n_frames"], f"{name}: {len(faces)} faces for {expected['n_frames']} frames"


def test_statuses_cover_every_failure_mode(demo):
    decisions = {d["utterance"]: d for d in read_tsv(demo["results"] / "decisions" / "val.tsv")}
    statuses = {d["status"] for d in decisions.values()}
    assert {"ok", "no_face", "speaker_offscreen", "no_video"} <= statuses
    reasons = [d["reason"] for d in decisions.values() if d["status"] == "no_video"]
    assert any("not found" in r for r in reasons) and any("empty" in r for r in reasons)
    assert all(".mp4" in r for r in reasons), "a bad clip's reason names the file"
    processed = [d for d in decisions.values() if d["status"] in ("ok", "speaker_offscreen")]
    # No ASD weights in the default config: said once per utterance in decisions (and once in the log).
    assert all(d["speaker_detection"].startswith("rules only (no ASD weights configured") for d in processed)
    no_audio = [d for d in decisions.values() if d["has_audio"] == "no"]
    assert no_audio and all(d["status"] == "ok" for d in no_audio), "a clip without audio still gets its speaker"


def test_speaker_evidence_separates_talking_from_still_faces(demo):
    truth, results = demo["truth"], demo["results"]
    checked = 0
    for name, expected in truth["utterances"].items():
        if expected["expected_status"] not in ("ok", "speaker_offscreen"):
            continue
        evidence = next(results.glob(f"work/dev/*/evidence/{name}.tsv"))
        rows = read_tsv(evidence)
        assert len(rows) == len(expected["faces"]), name
        detections = read_tsv(next(results.glob(f"work/dev/*/faces/{name}/detections.tsv")))
        for row in rows:
            xs = [float(d["x1"]) for d in detections if d["track"] == row["track"]]
            face = min(expected["faces"], key=lambda f: abs(f["box"][0] - sum(xs) / len(xs)))
            if face["still"]:
                assert row["possible_speaker"] == "no", (name, row)
                checked += 1
            if face["mouth_follows_audio"] and expected["has_audio"]:
                assert row["vote_av"] == "yes" and row["possible_speaker"] == "yes", (name, row)
                checked += 1
    assert checked >= 6


def test_contact_sheets_for_every_utterance(demo):
    sheets = {p.stem for p in demo["results"].glob("contact_sheets/dev/*/*.png")}
    assert sheets == set(demo["truth"]["utterances"])


def test_interrupted_run_resumes_and_finished_run_does_nothing(demo):
    assert PER_CLIP_RULES - {"speaker_evidence"} <= jobs_run(demo["first"])
    resumed = jobs_run(demo["resumed"])
    assert not resumed & {"extract_media", "detect_faces", "embed_faces"}, resumed
    assert {"select_speaker", "collect_split"} <= resumed
    assert "Nothing to be done" in demo["again"]


def test_report_embeds_contact_sheets(demo):
    html = demo["report"].read_text(errors="replace")
    assert "Contact sheets" in html
    assert "dia0_utt1" in html and "image/png" in html
