"""Stage 6 (rules/collect.smk: collect_split): FacialMMT's files and the decisions table of one split."""

from __future__ import annotations

import json
from pathlib import Path

from facseq.stages.select import DECISION_COLUMNS
from facseq.tables import read_tsv, write_tsv


def collect_split(utterances, decision_tables: list[Path], facseq_dir: Path, out_json: Path, out_profile: Path, out_decisions: Path) -> list[dict]:
    """FacialMMT's two JSON files and the split's `decisions` table, in CSV order. Every utterance of
    the CSV gets a key; an utterance missing from every batch table is recorded as failed."""
    from facseq.meld import utterance_profile

    by_name = {}
    for path in decision_tables:
        for row in read_tsv(path):
            by_name[row["utterance"]] = row
    facseq_dir = Path(facseq_dir).resolve()
    sequences, decisions = {}, []
    for utt in utterances:
        row = by_name.get(utt.name) or {"utterance": utt.name, "speaker": utt.speaker, "status": "failed",
                                        "reason": "no batch produced a decision for this utterance"}
        faces_tsv = facseq_dir / utt.name / "faces.tsv"
        # A failed (missing) utterance never lists faces, even if an older run left a faces.tsv behind.
        crops = [r["crop"] for r in read_tsv(faces_tsv)] if utt.name in by_name and faces_tsv.is_file() else []
        sequences[utt.name] = [str(facseq_dir / utt.name / c) for c in crops]
        decisions.append(row)
    for path, payload in ((out_json, sequences), (out_profile, utterance_profile(utterances))):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    write_tsv(out_decisions, decisions, DECISION_COLUMNS)
    return decisions


def decision_summary(decisions: list[dict]) -> dict:
    """Counts per status and per speaker x status (for the report)."""
    per_status: dict[str, int] = {}
    per_speaker: dict[str, dict[str, int]] = {}
    for row in decisions:
        per_status[row["status"]] = per_status.get(row["status"], 0) + 1
        speaker = per_speaker.setdefault(row.get("speaker", ""), {})
        speaker[row["status"]] = speaker.get(row["status"], 0) + 1
    return {"per_status": per_status, "per_speaker": per_speaker}

