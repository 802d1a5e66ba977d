"""Throughput of the whole workflow on the demo and on the shared real footage.

Runs `snakemake` from scratch into benchmarks/out/<dataset>/ and prints, per dataset: clips per minute,
seconds per clip for each stage (from the per-job `benchmark:` tables), peak memory of any job, and the
ratio of the pipeline's wall time to the time ffmpeg alone needs to decode the same clips (the physical
floor). Usage: python benchmarks/pipeline_throughput.py [--cores N] [demo] [fixture]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STAGES = ["extract_media", "detect_faces", "embed_faces", "speaker_evidence", "select_speaker", "contact_sheets"]


def shared() -> Path:
    return Path(os.environ.get("FACSEQ_SHARED", REPO.parent / "shared"))


def datasets() -> dict[str, dict]:
    demo = REPO / "resources" / "demo"
    fixture = shared() / "fixtures" / "speaker"
    return {
        "demo": {"meld_root": demo / "meld", "annotations": demo / "meld", "face_library": demo / "face_library",
                 "clips": demo / "meld" / "dev_splits_complete"},
        "fixture": {"meld_root": fixture, "annotations": fixture, "face_library": fixture / "face_library",
                    "clips": fixture / "dev_splits_complete"},
    }


def decode_seconds(clips: list[Path]) -> float:
    """ffmpeg decoding every clip to nothing: the floor for anything that must look at every frame."""
    start = time.perf_counter()
    for clip in clips:
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(clip), "-f", "null", "-"],
                       check=False, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def stage_seconds(results: Path) -> tuple[dict[str, float], float]:
    totals, peak_mb = {}, 0.0
    for table in (results / "benchmarks").rglob("*.tsv"):
        rule = table.relative_to(results / "benchmarks").parts[0]
        with open(table, newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                totals[rule] = totals.get(rule, 0.0) + float(row["s"])
                try:
                    peak_mb = max(peak_mb, float(row["max_rss"]))
                except ValueError:
                    pass
    return totals, peak_mb


def run(name: str, spec: dict, cores: int) -> None:
    clips = sorted(p for p in Path(spec["clips"]).glob("*.mp4") if p.stat().st_size > 0)
    if not clips:
        print(f"{name}: no clips at {spec['clips']} (demo: run `make demo-data`; fixture: needs ../shared)")
        return
    results = REPO / "benchmarks" / "out" / name
    shutil.rmtree(results, ignore_errors=True)
    command = [str(BIN / "snakemake"), "--cores", str(cores), "--quiet", "all", "--config",
               f"meld_root={spec['meld_root']}", f"annotations={spec['annotations']}", "splits=[dev]",
               f"face_library={spec['face_library']}", f"results={results}"]
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True, capture_output=True)
    wall = time.perf_counter() - start
    floor = decode_seconds(clips)
    totals, peak_mb = stage_seconds(results)
    print(f"\n## {name}: {len(clips)} clips, {cores} cores")
    print(f"wall time            {wall:8.1f} s   ({60 * len(clips) / wall:.2f} clips/min)")
    print(f"ffmpeg decode only   {floor:8.2f} s   (pipeline / decode = {wall / max(floor, 1e-9):.0f}x)")
    print(f"peak job memory      {peak_mb:8.0f} MB")
    print("stage                seconds/clip")
    for stage in STAGES + sorted(set(totals) - set(STAGES)):
        if stage in totals:
            print(f"  {stage:18s} {totals[stage] / len(clips):8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="*", help="demo and/or fixture (default: both)")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    specs = datasets()
    unknown = set(args.which) - set(specs)
    if unknown:
        parser.error(f"unknown dataset(s) {sorted(unknown)}; choose from {sorted(specs)}")
    for name in args.which or ["demo", "fixture"]:
        run(name, specs[name], args.cores)


if __name__ == "__main__":
    main()
