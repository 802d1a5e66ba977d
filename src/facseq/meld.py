"""MELD layout: splits, annotation CSVs, utterance names and batches of dialogues.

A *batch* is a run of consecutive dialogues of one split; every per-clip stage of the workflow runs
once per batch so that the scheduler sees hundreds of jobs for all of MELD, not tens of thousands.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

# split -> (clip folder, annotation CSV, name FacialMMT uses in its file names)
SPLITS: dict[str, tuple[str, str, str]] = {
    "train": ("train_splits", "train_sent_emo.csv", "train"),
    "dev": ("dev_splits_complete", "dev_sent_emo.csv", "val"),
    "test": ("output_repeated_splits_test", "test_sent_emo.csv", "test"),
}
REQUIRED_COLUMNS = ("Speaker", "Dialogue_ID", "Utterance_ID")


class AnnotationError(ValueError):
    """An annotation CSV that cannot be used; the message names the file."""


@dataclass(frozen=True)
class Utterance:
    split: str
    dialogue: int
    utterance: int
    speaker: str
    row: int  # 0-based position in the CSV: FacialMMT's utterance index

    @property
    def name(self) -> str:
        return f"dia{self.dialogue}_utt{self.utterance}"

    @property
    def dialogue_name(self) -> str:
        return f"dia{self.dialogue}"


def output_name(split: str) -> str:
    """FacialMMT's name for a MELD split (`dev` -> `val`)."""
    return SPLITS[split][2]


def clip_path(meld_root: str | Path, utt: Utterance) -> Path:
    return Path(meld_root) / SPLITS[utt.split][0] / f"{utt.name}.mp4"


def annotation_path(annotations: str | Path, split: str) -> Path:
    return Path(annotations) / SPLITS[split][1]


def read_utterances(annotations: str | Path, split: str) -> list[Utterance]:
    """Utterances of one split in CSV order; a malformed CSV raises AnnotationError naming it."""
    path = annotation_path(annotations, split)
    if not path.is_file():
        raise AnnotationError(f"{path}: annotation CSV not found (expected MELD's {SPLITS[split][1]})")
    # MELD's CSVs are UTF-8 with curly quotes; utf-8-sig also accepts a BOM.
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise AnnotationError(f"{path}: missing column(s) {', '.join(missing)}")
        utterances = []
        for row_index, row in enumerate(reader):
            try:
                dialogue, utterance = int(row["Dialogue_ID"]), int(row["Utterance_ID"])
            except (TypeError, ValueError) as err:
                raise AnnotationError(f"{path}: line {row_index + 2}: bad Dialogue_ID/Utterance_ID") from err
            speaker = (row["Speaker"] or "").strip()
            utterances.append(Utterance(split, dialogue, utterance, speaker, row_index))
    names = [u.name for u in utterances]
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})[:5]
        raise AnnotationError(f"{path}: duplicated utterances {duplicated}")
    return utterances


def dialogue_order(utterances: list[Utterance]) -> list[int]:
    """Dialogue ids in order of first appearance."""
    return list(dict.fromkeys(u.dialogue for u in utterances))


def make_batches(utterances: list[Utterance], dialogues_per_batch: int) -> dict[str, list[Utterance]]:
    """Group whole dialogues into batches named b0000, b0001, ... (stable for a given CSV)."""
    if dialogues_per_batch < 1:
        raise ValueError("dialogues_per_batch must be >= 1")
    dialogues = dialogue_order(utterances)
    batch_of = {d: i // dialogues_per_batch for i, d in enumerate(dialogues)}
    batches: dict[str, list[Utterance]] = {}
    for utt in utterances:
        batches.setdefault(f"b{batch_of[utt.dialogue]:04d}", []).append(utt)
    return batches


def utterance_profile(utterances: list[Utterance]) -> dict[str, list]:
    """FacialMMT's `{split}_utt_profile.json`:
    `{"<row>": [utt_name, dia_name, dia_idx, dia_len, utt_in_dia_idx]}`.

    `row` is the utterance's index in the split (CSV order), `dia_idx` the dialogue's index in order of
    appearance (the row of its text input in FacialMMT), `utt_in_dia_idx` the position inside the dialogue.
    """
    dialogue_index = {d: i for i, d in enumerate(dialogue_order(utterances))}
    members: dict[int, list[Utterance]] = {}
    for utt in utterances:
        members.setdefault(utt.dialogue, []).append(utt)
    profile = {}
    for utt in utterances:
        in_dialogue = members[utt.dialogue]
        profile[str(utt.row)] = [
            utt.name,
            utt.dialogue_name,
            dialogue_index[utt.dialogue],
            len(in_dialogue),
            in_dialogue.index(utt),
        ]
    return profile
