"""How long Snakemake takes to build the DAG of all of MELD, and how many jobs it holds, per batch size.

A full-MELD *stand-in* is made from the real annotation CSVs (../shared/data/meld, or $FACSEQ_SHARED/data/meld):
the three CSVs and an EMPTY `dia{D}_utt{U}.mp4` for every CSV row (13,708 files) in MELD's split folders,
plus a face library with one role. Nothing is decoded: `snakemake -n` only builds the DAG.

    python benchmarks/dag_build.py                 # stand-in in a temporary folder, removed afterwards
    python benchmarks/dag_build.py /tmp/meld_standin --batches 8 --repeats 1   # kept (and reused) there

For each `dialogues_per_batch` (default 1, 8, 32) it runs `snakemake -n --quiet rules` --repeats times
(default 3), prints the jobs per rule (Snakemake's "Job stats" table) and the wall time of each run.
Prints a message and exits 0 when the shared CSVs are absent.

tests/test_scale.py and tests/test_profiles.py reuse `make_standin`, `snakemake_command`, `standin_config`
and `job_stats` from here.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# split -> (clip folder, annotation CSV), as in src/facseq/meld.py (kept independent of the package on purpose)
SPLITS = {
    "train": ("train_splits", "train_sent_emo.csv"),
    "dev": ("dev_splits_complete", "dev_sent_emo.csv"),
    "test": ("output_repeated_splits_test", "test_sent_emo.csv"),
}


def shared_dir() -> Path:
    return Path(os.environ.get("FACSEQ_SHARED", REPO.parent / "shared"))


def shared_meld() -> Path | None:
    """Folder with MELD's three annotation CSVs, or None when the shared data is absent."""
    meld = shared_dir() / "data" / "meld"
    return meld if all((meld / name).is_file() for _, name in SPLITS.values()) else None


def read_rows(csv_path: Path) -> list[tuple[int, int]]:
    """(Dialogue_ID, Utterance_ID) of every row, in CSV order."""
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        return [(int(r["Dialogue_ID"]), int(r["Utterance_ID"])) for r in csv.DictReader(handle)]


def dialogues_per_split(annotations: Path, splits=tuple(SPLITS)) -> dict[str, int]:
    return {s: len({d for d, _ in read_rows(annotations / SPLITS[s][1])}) for s in splits}


def expected_batches(annotations: Path, dialogues_per_batch: int, splits=tuple(SPLITS)) -> dict[str, int]:
    """Batches per split by the workflow's design: ceil(dialogues / dialogues_per_batch)."""
    return {s: math.ceil(n / dialogues_per_batch) for s, n in dialogues_per_split(annotations, splits).items()}


def make_standin(root: Path, source: Path, splits=tuple(SPLITS)) -> dict[str, Path]:
    """The stand-in under `root` (idempotent): annotations/ (copied CSVs), meld/<split folder>/ (empty clips),
    face_library/<role>/ (one image file). Returns the paths for --config."""
    root = Path(root)
    paths = {
        "annotations": root / "annotations",
        "meld_root": root / "meld",
        "face_library": root / "face_library",
        "results": root / "results",
    }
    paths["annotations"].mkdir(parents=True, exist_ok=True)
    for split in splits:
        folder, name = SPLITS[split]
        shutil.copyfile(source / name, paths["annotations"] / name)
        clips = paths["meld_root"] / folder
        clips.mkdir(parents=True, exist_ok=True)
        for dialogue, utterance in read_rows(source / name):
            (clips / f"dia{dialogue}_utt{utterance}.mp4").touch()
    role = paths["face_library"] / "Joey"
    role.mkdir(parents=True, exist_ok=True)
    (role / "joey_01.jpg").touch()
    return paths


def standin_config(paths: dict[str, Path], splits=tuple(SPLITS), dialogues_per_batch: int = 8) -> list[str]:
    return [
        "--config",
        f"meld_root={paths['meld_root']}",
        f"annotations={paths['annotations']}",
        f"splits=[{','.join(splits)}]",
        f"face_library={paths['face_library']}",
        f"results={paths['results']}",
        f"dialogues_per_batch={dialogues_per_batch}",
    ]


def snakemake_command() -> list[str]:
    """The snakemake of the running interpreter's environment (the repository's .venv)."""
    exe = Path(sys.executable).with_name("snakemake")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "snakemake"]


def job_stats(output: str) -> dict[str, int]:
    """Snakemake's first "Job stats:" table (rule -> jobs, and "total") from a dry run's output."""
    lines = output.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Job stats:")
    except StopIteration:
        raise ValueError("no 'Job stats:' table in the snakemake output") from None
    stats = {}
    for line in lines[start + 3 :]:  # skip the "job count" header and the dashes
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        stats[parts[0]] = int(parts[1])
    return stats


def dry_run(paths: dict[str, Path], dialogues_per_batch: int, splits=tuple(SPLITS),
            extra=()) -> tuple[float, dict[str, int], str]:
    """One `snakemake -n --quiet rules` from the repository root: (seconds, job stats, output)."""
    command = [*snakemake_command(), "-n", "--quiet", "rules", *extra, *standin_config(paths, splits, dialogues_per_batch)]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{output[-6000:]}")
    return seconds, job_stats(output), output


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("standin", nargs="?", type=Path, help="folder for the stand-in (kept); default: a temporary one")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32], help="dialogues_per_batch values")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    source = shared_meld()
    if source is None:
        print(f"dag_build: MELD annotation CSVs not found under {shared_dir() / 'data' / 'meld'} "
              "(set FACSEQ_SHARED to the shared folder): nothing to measure.")
        return 0

    tmp = None
    root = args.standin
    if root is None:
        tmp = tempfile.TemporaryDirectory(prefix="facseq_dag_")
        root = Path(tmp.name)
    try:
        start = time.perf_counter()
        paths = make_standin(root, source)
        n_clips = sum(1 for _ in paths["meld_root"].rglob("*.mp4"))
        print(f"stand-in: {root} ({n_clips} empty clips, made in {time.perf_counter() - start:.1f} s); "
              f"dialogues {dialogues_per_split(paths['annotations'])}")
        print(f"snakemake: {' '.join(snakemake_command())}, cwd {REPO}, {os.cpu_count()} CPUs\n")
        results = []
        for dpb in args.batches:
            times, stats = [], {}
            for _ in range(args.repeats):
                seconds, stats, _ = dry_run(paths, dpb)
                times.append(seconds)
            batches = expected_batches(paths["annotations"], dpb)
            results.append({"dialogues_per_batch": dpb, "batches": batches, "jobs": stats, "seconds": times})
            print(f"dialogues_per_batch={dpb}: batches {batches} = {sum(batches.values())}")
            for rule, count in stats.items():
                print(f"    {rule:<18} {count:>6}")
            print(f"    DAG build (snakemake -n wall time, {args.repeats} runs): "
                  + ", ".join(f"{t:.2f}" for t in times)
                  + f" s; median {statistics.median(times):.2f} s, "
                  f"{1000 * statistics.median(times) / stats.get('total', 1):.2f} ms/job\n")
        print(f"{'dialogues_per_batch':>20} {'jobs':>7} {'median s':>9} {'min s':>7} {'max s':>7}")
        for r in results:
            print(f"{r['dialogues_per_batch']:>20} {r['jobs'].get('total', 0):>7} {statistics.median(r['seconds']):>9.2f} "
                  f"{min(r['seconds']):>7.2f} {max(r['seconds']):>7.2f}")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=1) + "\n")
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
