"""All of MELD as a dry run: the DAG holds one job per batch of dialogues for each per-clip rule.

The stand-in (benchmarks/dag_build.py) is the real annotation CSVs from ../shared plus an EMPTY clip file
for every row (13,708 files): `snakemake -n` builds the whole DAG without decoding anything. The wall time
is printed for information only; benchmarks/dag_build.py measures it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
from conftest import dag_build, meld_standin  # noqa: E402

DIALOGUES_PER_BATCH = 8
# MELD as published: dialogues per split and the batches of 8 they make.
MELD_DIALOGUES = {"train": 1038, "dev": 114, "test": 280}
MELD_BATCHES_OF_8 = {"train": 130, "dev": 15, "test": 35}
# The batching design keeps the whole of MELD well under this many jobs (one per utterance would be >80,000).
MAX_JOBS = 1500

pytestmark = pytest.mark.shared


def rule_blocks() -> dict[str, str]:
    """rule name -> its text, from the Snakefile and workflow/rules/*.smk."""
    blocks = {}
    for path in [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]:
        text = path.read_text()
        starts = list(re.finditer(r"^(?:rule|checkpoint)\s+(\w+)\s*:", text, flags=re.M))
        for match, following in zip(starts, starts[1:] + [None]):
            end = following.start() if following else len(text)
            body = text[match.end() : end]
            # the block ends at the first line back at column 0 (a def, another statement...)
            stop = re.search(r"^\S", body, flags=re.M)
            blocks[match.group(1)] = body[: stop.start()] if stop else body
    return blocks


def directive(block: str, name: str) -> str:
    """Text of one directive of a rule block (`output:` ...) up to the next directive."""
    match = re.search(rf"^(\s+){name}:(.*?)(?=^\1\w+:|\Z)", block, flags=re.M | re.S)
    return match.group(2) if match else ""


def per_batch_rules() -> set[str]:
    """Rules whose output is per batch (`batch_dir(...)` or a `{batch}` wildcard)."""
    return {name for name, block in rule_blocks().items()
            if re.search(r"batch_dir\(|\{batch\}", directive(block, "output"))}


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    return meld_standin(tmp_path_factory, "meld_standin")


def test_standin_is_full_meld(standin):
    clips = {split: len(list((standin["meld_root"] / folder).glob("*.mp4")))
             for split, (folder, _) in dag_build.SPLITS.items()}
    assert sum(clips.values()) == 13708, clips
    assert all(p.stat().st_size == 0 for p in (standin["meld_root"] / "dev_splits_complete").glob("*.mp4"))
    assert dag_build.dialogues_per_split(standin["annotations"]) == MELD_DIALOGUES
    assert dag_build.expected_batches(standin["annotations"], DIALOGUES_PER_BATCH) == MELD_BATCHES_OF_8


def test_per_batch_rules_are_found():
    # the parser behind the next test finds the per-clip stages of the workflow
    assert {"extract_media", "detect_faces", "embed_faces", "speaker_evidence", "select_speaker",
            "contact_sheets"} <= per_batch_rules()


def test_full_meld_dry_run_jobs_per_rule(standin):
    start = time.perf_counter()
    seconds, stats, output = dag_build.dry_run(standin, DIALOGUES_PER_BATCH)
    print(f"\nfull-MELD dry run (dialogues_per_batch={DIALOGUES_PER_BATCH}): {seconds:.1f} s wall "
          f"({time.perf_counter() - start:.1f} s with the call), {stats.get('total')} jobs: {stats}")

    n_batches = sum(MELD_BATCHES_OF_8.values())
    assert n_batches == 180
    batch_rules = per_batch_rules()
    expected = {}
    for rule in stats:
        if rule == "total":
            continue
        if rule in batch_rules:
            expected[rule] = n_batches
        elif rule == "embed_library":
            expected[rule] = 1  # the face library is embedded once
        elif rule == "collect_split":
            expected[rule] = len(MELD_BATCHES_OF_8)  # one per split
        elif rule == "all":
            expected[rule] = 1
        else:
            pytest.fail(f"rule {rule!r} ({stats[rule]} jobs) is not per batch and has no expected count here: "
                        "add it to this test")
    assert {r: n for r, n in stats.items() if r != "total"} == expected
    assert {"extract_media", "detect_faces", "embed_faces", "select_speaker", "embed_library", "collect_split"} <= set(stats)
    assert stats["total"] == sum(expected.values())
    assert stats["total"] < MAX_JOBS, f"{stats['total']} jobs for MELD: the batching design keeps it under {MAX_JOBS}"
