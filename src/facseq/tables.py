"""Small TSV helpers and the per-utterance status that every stage carries forward.

Each batch stage writes `status.tsv` (utterance, status, reason) covering every utterance of its batch.
`pending` means "go on"; any other status is final and later stages copy it unchanged, so every
utterance ends with exactly one recorded status.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

PENDING = "pending"
FINAL_STATUSES = ("ok", "no_face", "speaker_offscreen", "no_video", "failed")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return str(value).replace("\t", " ").replace("\n", " ")


def write_tsv(path: str | Path, rows: list[dict], columns: list[str] | None = None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if columns is None:
        columns = list(dict.fromkeys(k for row in rows for k in row))
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
    tmp.replace(path)


def read_tsv(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def read_status(path: str | Path) -> dict[str, tuple[str, str]]:
    return {row["utterance"]: (row["status"], row["reason"]) for row in read_tsv(path)}


def write_status(path: str | Path, status: dict[str, tuple[str, str]]) -> None:
    write_tsv(
        path,
        [{"utterance": u, "status": s, "reason": r} for u, (s, r) in status.items()],
        ["utterance", "status", "reason"],
    )


def failure_reason(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"
