"""Checks of every output that CONTRACT.md fixes, shared by the workflow tests."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from PIL import Image

DECISION_COLUMNS = {"utterance", "speaker", "in_library", "status", "reason", "n_tracks", "n_possible_speakers",
                    "n_clusters", "chosen_cluster", "similarity"}
FACE_COLUMNS = {"crop", "time_s", "x1", "y1", "x2", "y2", "cluster", "similarity"}
STATUSES = {"ok", "no_face", "speaker_offscreen", "no_video", "failed"}


def read_tsv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def check_split_outputs(results: Path, name: str, utterance_names: list[str]) -> dict[str, dict]:
    """Assert the contract for one split; return the decisions by utterance."""
    sequences = json.loads((results / "facseqs" / f"{name}_facseqs_160_paths_final.json").read_text())
    assert list(sequences) == utterance_names, "every CSV utterance has a key, in CSV order"
    profile = json.loads((results / "facseqs" / f"{name}_utt_profile.json").read_text())
    assert sorted(profile, key=int) == [str(i) for i in range(len(utterance_names))]
    for row, entry in profile.items():
        utt_name, dia_name, dia_idx, dia_len, utt_in_dia_idx = entry  # as FacialMMT's utils/dataset.py unpacks
        assert utt_name == utterance_names[int(row)] and utt_name.startswith(dia_name + "_utt")
        assert isinstance(dia_idx, int) and 0 <= utt_in_dia_idx < dia_len
    decisions = read_tsv(results / "decisions" / f"{name}.tsv")
    assert [d["utterance"] for d in decisions] == utterance_names
    assert DECISION_COLUMNS <= set(decisions[0])
    by_name = {d["utterance"]: d for d in decisions}
    for utt, paths in sequences.items():
        decision = by_name[utt]
        assert decision["status"] in STATUSES, decision
        assert decision["reason"] or decision["status"] == "ok"
        faces_tsv = results / "facseqs" / name / utt / "faces.tsv"
        assert faces_tsv.is_file(), f"{faces_tsv} missing"
        faces = read_tsv(faces_tsv)
        assert len(faces) == len(paths)
        if decision["status"] != "ok":
            assert paths == [], f"{utt}: {decision['status']} must return no face"
            continue
        assert paths, f"{utt}: ok with an empty sequence"
        assert FACE_COLUMNS <= set(faces[0])
        times = [float(f["time_s"]) for f in faces]
        assert times == sorted(times), "crops in temporal order"
        for path, face in zip(paths, faces):
            assert Path(path).is_absolute() and Path(path).name == face["crop"]
        for path in paths[:: max(1, len(paths) // 5)]:
            with Image.open(path) as image:
                assert image.format == "JPEG" and image.size == (160, 160) and image.mode == "RGB"
    return by_name
