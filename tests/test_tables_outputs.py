"""facseq.tables and the stage plumbing around them: TSV round trips, status carried from stage to
stage, speaker selection on hand-made inputs, and the split's FacialMMT outputs (collect_split)."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy import signal

from facseq.cluster import ClusterSettings
from facseq.demo import SAMPLE_RATE as DEMO_RATE, synthesize_speech
from facseq.embed import l2_normalise
from facseq.match import MatchSettings
from facseq.media import decode_frames, probe_clip
from facseq.meld import Utterance
from facseq.rules import LIP_POINTS, RuleSettings
from facseq.stages.collect import collect_split, decision_summary
from facseq.stages.common import BatchItem, media_info
from facseq.stages.embeddings import sample_per_track
from facseq.stages.evidence import TRACK_EVIDENCE_COLUMNS, speaker_evidence
from facseq.stages.faces import DETECTION_COLUMNS
from facseq.stages.media import extract_media
from facseq.stages.select import DECISION_COLUMNS, FACE_COLUMNS, select_speaker, spread_over_tracks
from facseq.tables import (
    FINAL_STATUSES,
    PENDING,
    failure_reason,
    read_status,
    read_tsv,
    write_status,
    write_tsv,
)


# ------------------------------------------------------------------------------ write_tsv / read_tsv
def test_tsv_round_trip_cells(tmp_path):
    path = tmp_path / "deep" / "er" / "t.tsv"
    rows = [
        {"a": True, "b": float("nan"), "c": None, "d": 0.123456789, "e": "x\ty\nz", "f": 3},
        {"a": False, "b": 1e-7, "d": 2.0, "f": -1, "g": "late column"},
    ]
    write_tsv(path, rows)
    back = read_tsv(path)
    assert list(back[0]) == ["a", "b", "c", "d", "e", "f", "g"]  # union of keys, first-seen order
    assert back[0] == {"a": "yes", "b": "", "c": "", "d": "0.123457", "e": "x y z", "f": "3", "g": ""}
    assert back[1] == {"a": "no", "b": "1e-07", "c": "", "d": "2", "e": "", "f": "-1", "g": "late column"}
    assert not list(path.parent.glob("*.tmp"))  # written atomically, no temporary left
    assert path.read_text().count("\n") == 3


def test_tsv_explicit_columns_and_empty(tmp_path):
    write_tsv(tmp_path / "t.tsv", [{"b": 1, "a": 2, "ignored": 3}], ["a", "b", "missing"])
    assert (tmp_path / "t.tsv").read_text() == "a\tb\tmissing\n2\t1\t\n"
    write_tsv(tmp_path / "e.tsv", [], ["x", "y"])
    assert read_tsv(tmp_path / "e.tsv") == []
    assert (tmp_path / "e.tsv").read_text() == "x\ty\n"


def test_tsv_keeps_quotes_and_unicode(tmp_path):
    rows = [{"speaker": "Mr. “Heckles”", "reason": 'said "hi", left'}]
    write_tsv(tmp_path / "q.tsv", rows)
    assert read_tsv(tmp_path / "q.tsv") == rows


def test_status_round_trip(tmp_path):
    status = {"dia0_utt0": (PENDING, ""), "dia0_utt1": ("no_video", "dia0_utt1.mp4: clip not found"),
              "dia1_utt0": ("failed", "faces: ValueError: bad\tthing")}
    write_status(tmp_path / "status.tsv", status)
    back = read_status(tmp_path / "status.tsv")
    assert list(back) == list(status)
    assert back["dia0_utt1"] == status["dia0_utt1"]
    assert back["dia1_utt0"] == ("failed", "faces: ValueError: bad thing")
    assert read_tsv(tmp_path / "status.tsv")[0].keys() == {"utterance", "status", "reason"}
    assert PENDING not in FINAL_STATUSES
    assert set(FINAL_STATUSES) == {"ok", "no_face", "speaker_offscreen", "no_video", "failed"}


def test_failure_reason():
    assert failure_reason(KeyError("x")) == "KeyError: 'x'"
    assert failure_reason(ValueError("bad value")) == "ValueError: bad value"


# ------------------------------------------------------------------------------ sample_per_track / spread_over_tracks
def test_sample_per_track_even_spacing():
    rows = [{"det": i, "track": 0, "frame": 9 - i} for i in range(10)]  # listed backwards
    rows += [{"det": 10 + i, "track": 1, "frame": i} for i in range(3)]
    rows += [{"det": 20, "track": -1, "frame": 0}]
    chosen = sample_per_track(rows, 4)
    assert [r["frame"] for r in chosen] == [0, 3, 6, 9, 0, 1, 2]  # by track, then in time
    assert [r["track"] for r in chosen] == [0] * 4 + [1] * 3
    everything = sample_per_track(rows, 0)
    assert len(everything) == 13 and all(r["track"] >= 0 for r in everything)
    assert [r["frame"] for r in sample_per_track(rows, 2)] == [0, 9, 0, 2]
    assert sample_per_track([], 3) == []


def test_spread_over_tracks():
    tracks = [0, 0, 0, 0, 1, 1, 1, 2, 2]
    embedded = [0, 2, 4, 5, 6]
    labels = np.array([1, 1, 0, 2, 2])
    sims = np.array([0.9, 0.7, 0.2, 0.4, 0.6])
    out_labels, out_sims = spread_over_tracks(tracks, embedded, labels, sims)
    np.testing.assert_array_equal(out_labels, [1, 1, 1, 1, 0, 2, 2, -1, -1])
    np.testing.assert_allclose(out_sims[:7], [0.9, 0.8, 0.7, 0.8, 0.2, 0.4, 0.6])
    assert np.isnan(out_sims[7:]).all()  # a track with no embedded face stays unknown
    all_in = spread_over_tracks([3, 3], [0, 1], np.array([0, 1]), np.array([0.5, 0.6]))
    np.testing.assert_array_equal(all_in[0], [0, 1])  # embedded faces keep their own label


# ------------------------------------------------------------------------------ decision_summary
def test_decision_summary_counts():
    rows = [
        {"utterance": "a", "speaker": "Joey", "status": "ok"},
        {"utterance": "b", "speaker": "Joey", "status": "ok"},
        {"utterance": "c", "speaker": "Joey", "status": "no_face"},
        {"utterance": "d", "speaker": "Waiter", "status": "speaker_offscreen"},
        {"utterance": "e", "status": "failed"},
    ]
    summary = decision_summary(rows)
    assert summary["per_status"] == {"ok": 2, "no_face": 1, "speaker_offscreen": 1, "failed": 1}
    assert summary["per_speaker"] == {"Joey": {"ok": 2, "no_face": 1}, "Waiter": {"speaker_offscreen": 1},
                                      "": {"failed": 1}}
    assert decision_summary([]) == {"per_status": {}, "per_speaker": {}}


# ------------------------------------------------------------------------------ collect_split
def utt(dialogue, utterance, speaker, row):
    return Utterance("dev", dialogue, utterance, speaker, row)


def make_faces(facseq_dir: Path, name: str, crops: list[str]) -> None:
    folder = facseq_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for k, crop in enumerate(crops):
        (folder / crop).write_bytes(b"jpg")
        rows.append({"crop": crop, "frame": 2 * k, "time_s": 2 * k / 25, "x1": 1, "y1": 2, "x2": 3, "y2": 4,
                     "track": 0, "cluster": 0, "similarity": 0.95})
    write_tsv(folder / "faces.tsv", rows, FACE_COLUMNS)


@pytest.fixture
def split(tmp_path, monkeypatch):
    utterances = [utt(0, 0, "Joey", 0), utt(0, 1, "Rachel", 1), utt(2, 0, "Waiter", 2), utt(1, 0, "Ross", 3),
                  utt(1, 1, "Joey", 4)]
    facseq_dir = tmp_path / "results" / "facseqs" / "val"
    make_faces(facseq_dir, "dia0_utt0", ["000000.jpg", "000001.jpg", "000002.jpg"])
    make_faces(facseq_dir, "dia0_utt1", [])
    make_faces(facseq_dir, "dia2_utt0", ["000000.jpg"])
    make_faces(facseq_dir, "dia1_utt1", ["000000.jpg", "000001.jpg"])  # stale: its batch table lost it
    batch_a = tmp_path / "select" / "b0000" / "decisions.tsv"
    batch_b = tmp_path / "select" / "b0001" / "decisions.tsv"
    write_tsv(batch_a, [
        {"utterance": "dia0_utt0", "speaker": "Joey", "in_library": True, "status": "ok", "reason": "r",
         "n_faces": 3, "similarity": 0.97},
        {"utterance": "dia0_utt1", "speaker": "Rachel", "in_library": True, "status": "speaker_offscreen",
         "reason": "not on screen", "n_faces": 0},
    ], DECISION_COLUMNS)
    write_tsv(batch_b, [
        {"utterance": "dia2_utt0", "speaker": "Waiter", "in_library": False, "status": "ok", "reason": "r",
         "n_faces": 1},
    ], DECISION_COLUMNS)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "results" / "facseqs"
    decisions = collect_split(utterances, [batch_a, batch_b], Path("results/facseqs/val"),
                              out / "val_facseqs_160_paths_final.json", out / "val_utt_profile.json",
                              tmp_path / "results" / "decisions" / "val.tsv")
    return utterances, decisions, tmp_path


def test_collect_split_sequences(split):
    utterances, _, root = split
    sequences = json.loads((root / "results/facseqs/val_facseqs_160_paths_final.json").read_text())
    assert list(sequences) == [u.name for u in utterances]  # every CSV utterance, in CSV order
    base = (root / "results/facseqs/val").resolve()
    assert sequences["dia0_utt0"] == [str(base / "dia0_utt0" / f"00000{k}.jpg") for k in range(3)]
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in sequences["dia0_utt0"])
    assert sequences["dia0_utt1"] == []
    assert sequences["dia2_utt0"] == [str(base / "dia2_utt0" / "000000.jpg")]
    assert sequences["dia1_utt0"] == []  # no batch, no folder
    # an utterance recorded as failed never lists faces, even when an old faces.tsv is lying around
    assert sequences["dia1_utt1"] == []


def test_collect_split_sequence_order_follows_faces_tsv(tmp_path):
    facseq_dir = tmp_path / "f"
    make_faces(facseq_dir, "dia0_utt0", ["000000.jpg", "000001.jpg", "000002.jpg"])
    table = tmp_path / "d.tsv"
    write_tsv(table, [{"utterance": "dia0_utt0", "speaker": "Joey", "status": "ok"}], DECISION_COLUMNS)
    collect_split([utt(0, 0, "Joey", 0)], [table], facseq_dir, tmp_path / "s.json", tmp_path / "p.json", tmp_path / "d_all.tsv")
    paths = json.loads((tmp_path / "s.json").read_text())["dia0_utt0"]
    assert [Path(p).name for p in paths] == ["000000.jpg", "000001.jpg", "000002.jpg"]


def test_collect_split_decisions_and_profile(split):
    utterances, decisions, root = split
    table = read_tsv(root / "results/decisions/val.tsv")
    assert [r["utterance"] for r in table] == [u.name for u in utterances]
    assert list(table[0]) == DECISION_COLUMNS
    by_name = {r["utterance"]: r for r in table}
    assert by_name["dia0_utt0"]["status"] == "ok" and by_name["dia0_utt0"]["similarity"] == "0.97"
    assert by_name["dia0_utt1"]["status"] == "speaker_offscreen"
    for missing in ("dia1_utt0", "dia1_utt1"):
        assert by_name[missing]["status"] == "failed"
        assert by_name[missing]["reason"]
        assert by_name[missing]["speaker"] in ("Ross", "Joey")
    assert all(r["status"] in FINAL_STATUSES for r in table)
    assert decision_summary(decisions)["per_status"] == {"ok": 2, "speaker_offscreen": 1, "failed": 2}
    profile = json.loads((root / "results/facseqs/val_utt_profile.json").read_text())
    assert profile == {
        "0": ["dia0_utt0", "dia0", 0, 2, 0],
        "1": ["dia0_utt1", "dia0", 0, 2, 1],
        "2": ["dia2_utt0", "dia2", 1, 1, 0],
        "3": ["dia1_utt0", "dia1", 2, 2, 0],
        "4": ["dia1_utt1", "dia1", 2, 2, 1],
    }


# ------------------------------------------------------------------------------ stage status carry-forward
EYE = 100.0
LOWER_LIP = (17, 84, 181, 91, 146, 314, 405, 321, 375, 14, 87, 178, 88, 95, 317, 402, 318, 324)


def mesh(gap: float, x0: float) -> np.ndarray:
    face = np.random.default_rng(0).uniform(-60, 60, size=(468, 2))
    face[33], face[263], face[133], face[362], face[168], face[6] = (-50, 0), (50, 0), (-20, 0), (20, 0), (0, -5), (0, 15)
    for p, a in zip(LIP_POINTS, np.linspace(0, 2 * np.pi, len(LIP_POINTS), endpoint=False)):
        face[p] = (30 * np.cos(a), 80 + 10 * np.sin(a))
    face[13] = face[14] = (0, 80)
    face[78], face[308] = (-25, 80), (25, 80)
    face[list(LOWER_LIP), 1] += gap * EYE
    return face + [x0, 100]


def detection_rows(tracks_frames: list[tuple[int, list[int]]], fps=25.0):
    rows, det = [], 0
    for track, frames in tracks_frames:
        for f in frames:
            x = 100 + 300 * max(track, 0)
            rows.append({"det": det, "frame": f, "time_s": f / fps, "shot": 0, "track": track,
                         "x1": x, "y1": 50, "x2": x + 100, "y2": 170, "probability": 0.99 - 0.001 * f,
                         "landmarks": True, "crop": f"{det:05d}.jpg"})
            det += 1
    return rows


def test_speaker_evidence_scores_tracks_and_carries_status(tmp_path):
    faces_dir, audio_dir, out_dir = tmp_path / "faces", tmp_path / "audio", tmp_path / "evidence"
    n = 49
    gaps = 0.01 + 0.14 * np.sin(np.pi * np.arange(n) / 12) ** 2  # 4 open-close cycles
    # utterance 1: a talking face (track 0), a still one (track 1), an untracked flash (-1); audio follows the lips
    rows = detection_rows([(0, list(range(n))), (1, list(range(n))), (-1, [3])])
    marks = np.stack([mesh(gaps[r["frame"]], 0) if r["track"] == 0 else mesh(0.02, 300) for r in rows]).astype(np.float32)
    marks[-1] = np.nan
    (faces_dir / "dia0_utt0").mkdir(parents=True)
    write_tsv(faces_dir / "dia0_utt0" / "detections.tsv", rows, DETECTION_COLUMNS)
    np.save(faces_dir / "dia0_utt0" / "landmarks.npy", marks)
    audio_dir.mkdir()
    rate = 16_000
    # speech-like sound (the demo's synthesis, so that the VAD hears speech) as loud as the mouth is open
    t = np.arange(int(n / 25 * DEMO_RATE)) / DEMO_RATE
    loudness = np.interp(t * 25, np.arange(n), gaps) / 0.15
    voice = signal.resample_poly(synthesize_speech(loudness, np.random.default_rng(0)), 1, DEMO_RATE // rate)
    with wave.open(str(audio_dir / "dia0_utt0.wav"), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes((30000 * np.clip(voice, -1, 1)).astype("<i2").tobytes())
    write_tsv(audio_dir / "media.tsv", [
        {"utterance": "dia0_utt0", "fps": 25.0, "n_frames": n, "has_audio": True},
        {"utterance": "dia0_utt1", "fps": 25.0, "n_frames": n, "has_audio": False},
        {"utterance": "dia0_utt2", "fps": 25.0, "n_frames": n, "has_audio": True},
    ])
    write_status(faces_dir / "status.tsv", {"dia0_utt0": (PENDING, ""), "dia0_utt1": ("no_face", "no face detected"),
                                            "dia0_utt2": (PENDING, "")})  # utt2 has no detections file
    items = [BatchItem(f"dia0_utt{k}", "Joey", f"/clips/dia0_utt{k}.mp4") for k in range(3)]
    status = speaker_evidence(items, faces_dir, audio_dir, out_dir, RuleSettings(), 0.04)

    assert status["dia0_utt0"] == (PENDING, "")
    assert status["dia0_utt1"] == ("no_face", "no face detected")  # carried unchanged
    assert status["dia0_utt2"][0] == "failed" and status["dia0_utt2"][1].startswith("evidence: ")
    assert read_status(out_dir / "status.tsv") == status
    tracks = read_tsv(out_dir / "dia0_utt0.tsv")
    assert list(tracks[0]) == TRACK_EVIDENCE_COLUMNS
    assert [r["track"] for r in tracks] == ["0", "1"]
    talk, still = tracks
    assert talk["possible_speaker"] == "yes" and still["possible_speaker"] == "no"
    assert talk["open_close_count"] == "4" and still["open_close_count"] == "0"
    assert talk["n_rules"] == "3" and float(talk["av_correlation"]) > 0.8
    assert float(talk["first_time_s"]) == 0 and float(talk["last_time_s"]) == pytest.approx((n - 1) / 25)
    frames = read_tsv(out_dir / "dia0_utt0_frames.tsv")
    assert len(frames) == 2 * n
    assert frames[0]["movement"] == "" and float(frames[1]["movement"]) >= 0
    assert all(0 <= float(f["speech"]) <= 1 for f in frames) and float(talk["speech_movement"]) > 0.5
    assert not (out_dir / "dia0_utt1.tsv").exists()


# ------------------------------------------------------------------------------ select_speaker
DIM = 32


def face_vectors(axis: int, n: int, seed: int, noise: float = 0.02) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = np.zeros((n, DIM))
    v[:, axis] = 1.0
    v[:, 16:] = rng.normal(0, noise, size=(n, DIM - 16))
    return l2_normalise(v)


def build_selection_inputs(tmp_path: Path):
    d = {k: tmp_path / k for k in ("faces", "audio", "emb", "evidence", "select", "facseqs")}
    for p in d.values():
        p.mkdir()
    lib = {"Joey": face_vectors(0, 3, 100), "Rachel": face_vectors(1, 3, 101)}
    np.savez(tmp_path / "library.npz", **lib)

    def scene(name, people, possible):
        """people: (track, axis, frames); faces whose frame is 4 are left un-embedded."""
        rows, vectors = [], []
        for track, axis, frames in people:
            part = detection_rows([(track, frames)])
            vec = face_vectors(axis, len(frames), seed=track * 10 + axis, noise=0.02 + 0.02 * (track == 2))
            for r, v in zip(part, vec):
                r["det"] = len(rows)
                r["crop"] = f"{r['det']:05d}.jpg"
                r["probability"] = 0.9 + 0.001 * r["det"]
                rows.append(r)
                vectors.append(np.full(DIM, np.nan) if r["frame"] == 4 else v)
        (d["faces"] / name / "crops").mkdir(parents=True)
        for r in rows:
            image = np.full((160, 160, 3), r["det"] * 5 % 255, dtype=np.uint8)
            cv2.imwrite(str(d["faces"] / name / "crops" / r["crop"]), image)
        write_tsv(d["faces"] / name / "detections.tsv", rows, DETECTION_COLUMNS)
        np.save(d["emb"] / f"{name}.npy", np.array(vectors, dtype=np.float32))
        tracks = sorted({t for t, _, _ in people})
        write_tsv(d["evidence"] / f"{name}.tsv", [{"track": t, "possible_speaker": t in possible} for t in tracks])
        return rows

    # Joey speaks: track 0 (Joey, frames 0-7), track 1 (a stranger, 0-7), track 2 (Joey again, 5-9: overlaps)
    joey = scene("dia0_utt0", [(0, 0, list(range(8))), (1, 7, list(range(8))), (2, 0, list(range(5, 10)))], {0, 1, 2})
    # a waiter speaks next to Joey; nobody passed the speaking rules -> all tracks are candidates
    scene("dia0_utt1", [(0, 0, list(range(6))), (1, 7, list(range(6)))], set())
    # Ross speaks off screen
    scene("dia0_utt2", [(0, 0, list(range(6)))], {0})
    write_status(d["evidence"] / "status.tsv", {
        "dia0_utt0": (PENDING, ""), "dia0_utt1": (PENDING, ""), "dia0_utt2": (PENDING, ""),
        "dia0_utt3": ("no_face", "no face detected"), "dia0_utt4": (PENDING, ""),  # utt4: its files are missing
    })
    write_tsv(d["audio"] / "media.tsv", [{"utterance": f"dia0_utt{k}", "has_audio": True} for k in range(5)])
    (d["facseqs"] / "dia0_utt3").mkdir()
    (d["facseqs"] / "dia0_utt3" / "000000.jpg").write_bytes(b"stale")  # from an earlier run
    items = [BatchItem("dia0_utt0", "Joey", "c0"), BatchItem("dia0_utt1", "Waiter", "c1"),
             BatchItem("dia0_utt2", "Ross", "c2"), BatchItem("dia0_utt3", "Joey", "c3"),
             BatchItem("dia0_utt4", "Rachel", "c4"), BatchItem("dia0_utt5", "Joey", "c5")]
    return d, items, joey


def test_select_speaker_end_to_end(tmp_path):
    d, items, joey_rows = build_selection_inputs(tmp_path)
    decisions = select_speaker(items, d["faces"], d["audio"], d["emb"], d["evidence"], tmp_path / "library.npz",
                               d["select"], d["facseqs"], ClusterSettings(k=10, min_similarity=0.9),
                               MatchSettings(min_similarity=0.9, min_cluster_faces=3))
    by = {r["utterance"]: r for r in decisions}
    assert [r["utterance"] for r in decisions] == [i.name for i in items]
    assert read_tsv(d["select"] / "decisions.tsv")[0].keys() == set(DECISION_COLUMNS)

    # Joey: his two tracks form one cluster; one face per frame over frames 0-9, in time order
    assert by["dia0_utt0"]["status"] == "ok" and by["dia0_utt0"]["in_library"] is True
    assert by["dia0_utt0"]["n_clusters"] == 2
    faces = read_tsv(d["facseqs"] / "dia0_utt0" / "faces.tsv")
    assert list(faces[0]) == FACE_COLUMNS
    assert [int(f["frame"]) for f in faces] == list(range(10))
    assert [f["crop"] for f in faces] == [f"{k:06d}.jpg" for k in range(10)]
    assert by["dia0_utt0"]["n_faces"] == 10
    source = {r["crop"]: r for r in joey_rows}
    for f in faces:
        assert source[f["source_crop"]]["track"] in (0, 2)
        copied = (d["facseqs"] / "dia0_utt0" / f["crop"]).read_bytes()
        assert copied == (d["faces"] / "dia0_utt0" / "crops" / f["source_crop"]).read_bytes()
        assert float(f["similarity"]) > 0.9
    # where both Joey tracks are present (frames 5-7), the track more like the library wins
    assert {int(f["track"]) for f in faces if 5 <= int(f["frame"]) <= 7} == {0}
    # frame 4 was not embedded: it still comes, with its track's cluster and median similarity
    assert faces[4]["track"] == "0" and faces[4]["similarity"] != ""
    clusters = read_tsv(d["select"] / "dia0_utt0_clusters.tsv")
    assert [c["chosen"] for c in clusters] == ["yes", "no"]
    assert clusters[0]["tracks"] == "0 2" and clusters[1]["tracks"] == "1"

    # Waiter: the stranger's cluster, chosen among all tracks since nobody passed the rules
    assert by["dia0_utt1"]["status"] == "ok" and by["dia0_utt1"]["in_library"] is False
    assert by["dia0_utt1"]["n_possible_speakers"] == 0 and "all tracks" in by["dia0_utt1"]["candidates"]
    faces = read_tsv(d["facseqs"] / "dia0_utt1" / "faces.tsv")
    assert {f["track"] for f in faces} == {"1"} and len(faces) == 6

    # Ross is not there
    assert by["dia0_utt2"]["status"] == "speaker_offscreen" and by["dia0_utt2"]["chosen_cluster"] is None
    assert read_tsv(d["facseqs"] / "dia0_utt2" / "faces.tsv") == []
    # carried, failed and missing utterances: empty outputs, stale crops gone
    assert (by["dia0_utt3"]["status"], by["dia0_utt3"]["reason"]) == ("no_face", "no face detected")
    assert sorted(p.name for p in (d["facseqs"] / "dia0_utt3").iterdir()) == ["faces.tsv"]
    assert by["dia0_utt4"]["status"] == "failed" and by["dia0_utt4"]["reason"].startswith("selection: ")
    assert sorted(p.name for p in (d["facseqs"] / "dia0_utt4").iterdir()) == ["faces.tsv"]
    assert by["dia0_utt5"]["status"] == "failed" and "missing from the previous stage" in by["dia0_utt5"]["reason"]
    assert all(r["status"] in FINAL_STATUSES for r in decisions)
    assert all(r["n_faces"] == 0 for r in decisions if r["status"] != "ok")


# ------------------------------------------------------------------------------ extract_media (first stage)
@pytest.mark.skipif(__import__("shutil").which("ffmpeg") is None, reason="the ffmpeg CLI is not installed")
def test_extract_media_statuses(tmp_path):
    import subprocess

    good = tmp_path / "clips" / "dia0_utt0.mp4"
    good.parent.mkdir()
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=96x64:rate=24000/1001:duration=1", "-f", "lavfi", "-i", "sine=duration=1",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
                    str(good)], check=True)
    garbage = tmp_path / "clips" / "dia0_utt1.mp4"
    garbage.write_bytes(b"\x00\x01 not a video" * 100)
    missing = tmp_path / "clips" / "dia0_utt2.mp4"
    items = [BatchItem("dia0_utt0", "Joey", str(good)), BatchItem("dia0_utt1", "Ross", str(garbage)),
             BatchItem("dia0_utt2", "Rachel", str(missing))]
    audio_dir = tmp_path / "audio"
    status = extract_media(items, audio_dir, 25.0)
    assert status["dia0_utt0"] == (PENDING, "")
    for item in items[1:]:
        state, reason = status[item.name]
        assert state == "no_video" and item.clip in reason
    assert sorted(p.name for p in audio_dir.iterdir()) == ["dia0_utt0.wav", "media.tsv", "status.tsv"]  # no frames
    assert read_status(audio_dir / "status.tsv") == status
    media = media_info(audio_dir)
    assert list(media) == [i.name for i in items]
    row = media["dia0_utt0"]
    assert (row["width"], row["height"], row["fps"], row["has_audio"]) == ("96", "64", "25", "yes")
    assert float(row["source_fps"]) == pytest.approx(24000 / 1001, abs=1e-3)
    # the frames the faces stage will decode: 1 s at 25 fps
    assert int(row["n_frames"]) == len(decode_frames(probe_clip(good), 25.0)) == pytest.approx(25, abs=1)
    assert (audio_dir / "dia0_utt0.wav").is_file() and not (audio_dir / "dia0_utt1.wav").exists()
    assert media["dia0_utt2"]["n_frames"] == ""


@pytest.mark.skipif(__import__("shutil").which("ffmpeg") is None, reason="the ffmpeg CLI is not installed")
def test_extract_media_one_failed_audio_fails_alone(tmp_path):
    # the batch's audio comes from one ffmpeg run; a clip whose WAV cannot be written (a folder holds
    # its name) makes that run fail: redone clip by clip, only that clip ends as no_video
    import subprocess

    clips = []
    for k in range(3):
        clip = tmp_path / "clips" / f"dia0_utt{k}.mp4"
        clip.parent.mkdir(exist_ok=True)
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size=64x48:rate=25:duration={0.4 + 0.2 * k}", "-f", "lavfi", "-i",
                        f"sine=frequency={300 + 100 * k}:duration=1", "-c:v", "libx264", "-preset", "ultrafast",
                        "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(clip)], check=True)
        clips.append(clip)
    items = [BatchItem(c.stem, "Joey", str(c)) for c in clips]
    audio_dir = tmp_path / "audio"
    (audio_dir / "dia0_utt1.wav").mkdir(parents=True)
    status = extract_media(items, audio_dir, 25.0)
    assert status["dia0_utt0"] == status["dia0_utt2"] == (PENDING, "")
    state, reason = status["dia0_utt1"]
    assert state == "no_video" and str(clips[1]) in reason and "audio extraction failed" in reason
    media = media_info(audio_dir)
    assert media["dia0_utt1"]["n_frames"] == media["dia0_utt1"]["has_audio"] == ""  # nothing recorded for it
    for name in ("dia0_utt0", "dia0_utt2"):
        alone = tmp_path / f"{name}.wav"
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(tmp_path / "clips" / f"{name}.mp4"),
                        "-map", "0:a", "-ac", "1", "-ar", "16000", "-acodec", "pcm_s16le", str(alone)], check=True)
        assert (audio_dir / f"{name}.wav").read_bytes() == alone.read_bytes()
        assert media[name]["has_audio"] == "yes"
