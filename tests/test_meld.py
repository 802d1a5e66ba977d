"""facseq.meld: MELD annotation CSVs, utterance names, batches, FacialMMT's utterance profile.

The last tests read the real MELD CSVs from ../shared/data/meld (or $FACSEQ_SHARED/data/meld) and skip
when they are absent.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from facseq.meld import (
    SPLITS,
    AnnotationError,
    Utterance,
    annotation_path,
    clip_path,
    dialogue_order,
    make_batches,
    output_name,
    read_utterances,
    utterance_profile,
)

HEADER = ["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID",
          "Season", "Episode", "StartTime", "EndTime"]


def write_csv(folder: Path, split: str, rows: list[tuple], header=HEADER, bom: bool = False) -> Path:
    """rows: (speaker, dialogue, utterance) triples; the other MELD columns get plausible values."""
    path = annotation_path(folder, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for n, (speaker, dia, utt) in enumerate(rows, start=1):
            full = {"Sr No.": n, "Utterance": f"Line, “quoted” {n}", "Speaker": speaker,
                    "Emotion": "neutral", "Sentiment": "neutral", "Dialogue_ID": dia, "Utterance_ID": utt,
                    "Season": 1, "Episode": 2, "StartTime": "00:00:01,000", "EndTime": "00:00:02,500"}
            writer.writerow([full[c] for c in header])
    return path


# Dialogues in a non-sorted order of appearance (as in MELD's test split), ids with gaps.
ROWS = [
    ("Joey", 3, 0), ("Chandler", 3, 1), ("Joey", 3, 2),
    ("Rachel", 0, 0),
    ("Monica", 7, 0), ("The Waiter", 7, 1),
    ("Ross", 1, 0), ("Phoebe", 1, 1), ("Ross", 1, 2), ("  Ross ", 1, 3),
]


@pytest.fixture
def annotations(tmp_path):
    write_csv(tmp_path, "dev", ROWS)
    return tmp_path


# ------------------------------------------------------------------------------ names and paths
def test_output_name_maps_dev_to_val():
    assert output_name("dev") == "val"
    assert output_name("train") == "train"
    assert output_name("test") == "test"
    with pytest.raises(KeyError):
        output_name("validation")


def test_utterance_names_and_paths(tmp_path):
    utt = Utterance("test", 12, 5, "Joey", 40)
    assert utt.name == "dia12_utt5"
    assert utt.dialogue_name == "dia12"
    assert clip_path(tmp_path, utt) == tmp_path / "output_repeated_splits_test" / "dia12_utt5.mp4"
    assert clip_path(tmp_path, Utterance("dev", 0, 1, "", 0)) == tmp_path / "dev_splits_complete" / "dia0_utt1.mp4"
    assert clip_path("/m", Utterance("train", 1, 0, "", 0)) == Path("/m/train_splits/dia1_utt0.mp4")
    assert annotation_path(tmp_path, "train") == tmp_path / "train_sent_emo.csv"
    assert set(SPLITS) == {"train", "dev", "test"}


# ------------------------------------------------------------------------------ reading CSVs
def test_read_utterances_in_csv_order(annotations):
    utts = read_utterances(annotations, "dev")
    assert [u.name for u in utts] == [f"dia{d}_utt{u}" for _, d, u in ROWS]
    assert [u.row for u in utts] == list(range(len(ROWS)))
    assert all(u.split == "dev" for u in utts)
    assert [u.speaker for u in utts][:3] == ["Joey", "Chandler", "Joey"]
    assert utts[9].speaker == "Ross"  # surrounding blanks stripped
    assert utts[5].speaker == "The Waiter"
    assert isinstance(utts[0].dialogue, int) and isinstance(utts[0].utterance, int)


def test_read_utterances_accepts_bom_and_column_order(tmp_path):
    header = ["Utterance_ID", "Dialogue_ID", "Speaker", "Sr No."]  # minimal, shuffled columns
    write_csv(tmp_path, "train", [("Ross", 4, 1), ("Rachel", 4, 0)], header=header, bom=True)
    utts = read_utterances(tmp_path, "train")
    assert [(u.name, u.speaker, u.row) for u in utts] == [("dia4_utt1", "Ross", 0), ("dia4_utt0", "Rachel", 1)]


def test_empty_speaker_is_empty_string(tmp_path):
    write_csv(tmp_path, "test", [("", 0, 0)])
    assert read_utterances(tmp_path, "test")[0].speaker == ""


def test_missing_csv_names_the_file(tmp_path):
    with pytest.raises(AnnotationError) as info:
        read_utterances(tmp_path, "test")
    assert str(tmp_path / "test_sent_emo.csv") in str(info.value)


def test_missing_column_names_file_and_column(tmp_path):
    header = [c for c in HEADER if c != "Utterance_ID"]
    path = write_csv(tmp_path, "dev", [("Joey", 0, 0)], header=header)
    with pytest.raises(AnnotationError) as info:
        read_utterances(tmp_path, "dev")
    assert str(path) in str(info.value)
    assert "Utterance_ID" in str(info.value)
    assert "Dialogue_ID" not in str(info.value)


def test_empty_csv_is_missing_columns(tmp_path):
    path = annotation_path(tmp_path, "dev")
    path.write_text("")
    with pytest.raises(AnnotationError, match="missing column"):
        read_utterances(tmp_path, "dev")


@pytest.mark.parametrize("bad", ["x", "", "1.5"])
def test_bad_id_names_file_and_line(tmp_path, bad):
    path = write_csv(tmp_path, "dev", [("Joey", 0, 0), ("Ross", 0, 1), ("Monica", bad, 2)])
    with pytest.raises(AnnotationError) as info:
        read_utterances(tmp_path, "dev")
    message = str(info.value)
    assert str(path) in message
    assert "line 4" in message  # header is line 1, the third data row line 4
    assert "Dialogue_ID" in message


def test_duplicates_name_file_and_utterance(tmp_path):
    path = write_csv(tmp_path, "train", [("Joey", 0, 0), ("Ross", 0, 1), ("Joey", 0, 0), ("Ross", 2, 0)])
    with pytest.raises(AnnotationError) as info:
        read_utterances(tmp_path, "train")
    assert str(path) in str(info.value)
    assert "dia0_utt0" in str(info.value)
    assert "dia2_utt0" not in str(info.value)


# ------------------------------------------------------------------------------ dialogues and batches
def test_dialogue_order_is_first_appearance(annotations):
    assert dialogue_order(read_utterances(annotations, "dev")) == [3, 0, 7, 1]


@pytest.mark.parametrize("per_batch", [1, 2, 3, 4, 10])
def test_batches_hold_whole_dialogues(annotations, per_batch):
    utts = read_utterances(annotations, "dev")
    batches = make_batches(utts, per_batch)
    n_dialogues = 4
    expected = -(-n_dialogues // per_batch)
    assert list(batches) == [f"b{i:04d}" for i in range(expected)]
    # every utterance exactly once, and the batches in order concatenate to the CSV order
    assert [u for batch in batches.values() for u in batch] == utts
    owner = {}
    for name, batch in batches.items():
        dialogues = dialogue_order(batch)
        assert 1 <= len(dialogues) <= per_batch
        for d in dialogues:
            assert owner.setdefault(d, name) == name, f"dialogue {d} split across batches"
    # a dialogue's utterances are all in its batch
    for utt in utts:
        assert utt in batches[owner[utt.dialogue]]


def test_batches_group_dialogues_in_appearance_order(annotations):
    batches = make_batches(read_utterances(annotations, "dev"), 2)
    assert {k: dialogue_order(v) for k, v in batches.items()} == {"b0000": [3, 0], "b0001": [7, 1]}


def test_batches_reject_zero(annotations):
    with pytest.raises(ValueError):
        make_batches(read_utterances(annotations, "dev"), 0)


def test_batches_of_nothing():
    assert make_batches([], 5) == {}


# ------------------------------------------------------------------------------ utterance profile
def test_utterance_profile_format(annotations):
    utts = read_utterances(annotations, "dev")
    profile = utterance_profile(utts)
    assert list(profile) == [str(i) for i in range(len(ROWS))]
    assert profile["0"] == ["dia3_utt0", "dia3", 0, 3, 0]
    assert profile["2"] == ["dia3_utt2", "dia3", 0, 3, 2]
    assert profile["3"] == ["dia0_utt0", "dia0", 1, 1, 0]
    assert profile["5"] == ["dia7_utt1", "dia7", 2, 2, 1]
    assert profile["9"] == ["dia1_utt3", "dia1", 3, 4, 3]
    # FacialMMT unpacks exactly this: curr_utt_name, dia_name, dia_idx, dia_len, utt_in_dia_idx
    for index in range(len(utts)):
        curr_utt_name, dia_name, dia_idx, dia_len, utt_in_dia_idx = profile[str(index)]
        assert curr_utt_name == utts[index].name
        assert dia_name == f"dia{utts[index].dialogue}"
        assert 0 <= utt_in_dia_idx < dia_len
        assert all(isinstance(v, int) for v in (dia_idx, dia_len, utt_in_dia_idx))


def test_utterance_profile_position_is_order_in_csv_not_utterance_id(tmp_path):
    # utterance ids within a dialogue need not start at 0 or be contiguous
    write_csv(tmp_path, "dev", [("A", 5, 2), ("B", 5, 7), ("C", 5, 4)])
    profile = utterance_profile(read_utterances(tmp_path, "dev"))
    assert [profile[str(i)][4] for i in range(3)] == [0, 1, 2]
    assert {profile[str(i)][3] for i in range(3)} == {3}


def test_utterance_profile_is_json_round_trippable(annotations):
    import json

    profile = utterance_profile(read_utterances(annotations, "dev"))
    assert json.loads(json.dumps(profile)) == profile


# ------------------------------------------------------------------------------ the real MELD CSVs
def _meld_csvs() -> Path:
    env = os.environ.get("FACSEQ_SHARED")
    shared = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared"
    return shared / "data" / "meld"


@pytest.mark.shared
@pytest.mark.parametrize("split,n_utts,n_dialogues", [("train", 9989, 1038), ("dev", 1109, 114), ("test", 2610, 280)])
def test_real_meld_csvs(split, n_utts, n_dialogues):
    folder = _meld_csvs()
    if not annotation_path(folder, split).is_file():
        pytest.skip(f"{annotation_path(folder, split)} absent (set FACSEQ_SHARED to the shared folder)")
    utts = read_utterances(folder, split)
    assert len(utts) == n_utts
    assert len(dialogue_order(utts)) == n_dialogues
    assert all(u.speaker for u in utts)
    profile = utterance_profile(utts)
    assert len(profile) == n_utts
    assert sum(1 for v in profile.values() if v[4] == 0) == n_dialogues
    assert max(v[2] for v in profile.values()) == n_dialogues - 1
    batches = make_batches(utts, 25)
    assert len(batches) == -(-n_dialogues // 25)
    assert sum(len(b) for b in batches.values()) == n_utts
