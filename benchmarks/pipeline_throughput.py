"""Throughput of the whole workflow against the decoder, on real 1280x720 footage.

From one run: the workflow's wall time divided by the time ffmpeg alone needs to decode the same clips
(same machine, same run), and the same ratio in CPU seconds (all processes of the workflow against
ffmpeg's; on a machine shared with other work the wall ratio moves with the load, the CPU ratio much less), seconds per clip for each stage (from the per-job `benchmark:` tables), peak
job memory, and each stage's per-job fixed cost (start-up, model loading) apart from its steady-state
cost per clip. The fixed/steady split comes from a second, small run on the same data: per stage
`T(n) = fixed + n * per_clip`, solved from the two clip counts.

Each run splits the clips into `--batches` batches (default: one per core, the way a full MELD run keeps
every core busy with batches of many clips; 1 = one job per stage, so that job start-up does not hide the
per-clip cost; the second, small run is always one batch). Datasets:
* `fixture` (default): `--clips` (default 24) MELD-layout clips made in a temporary folder by repeating
  the shared real footage (`../shared/fixtures/speaker/`, 1280x720, six clips) under new dialogue ids;
* `demo`: the bundled demo (640x360, `make demo-data`).

Usage: python benchmarks/pipeline_throughput.py [--cores N] [--batches N] [--clips N] [--small N] [demo] [fixture]
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STAGES = ["extract_media", "detect_faces", "embed_faces", "active_speaker", "speaker_evidence", "select_speaker",
          "contact_sheets"]
DEV_CSV = "dev_sent_emo.csv"
DEV_CLIPS = "dev_splits_complete"


def shared() -> Path:
    return Path(os.environ.get("FACSEQ_SHARED", REPO.parent / "shared"))


def make_dataset(source: Path, out: Path, n_clips: int) -> Path:
    """A MELD-layout dev split of `n_clips` clips: the source's utterances repeated under new dialogue
    ids (copies of the clips, rows of the CSV), in the source's order."""
    with open(source / DEV_CSV, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames, list(reader)
    rows = [r for r in rows if (source / DEV_CLIPS / f"dia{r['Dialogue_ID']}_utt{r['Utterance_ID']}.mp4").is_file()]
    if not rows:
        raise SystemExit(f"{source / DEV_CLIPS}: no clips listed in {source / DEV_CSV}")
    n_dialogues = max(int(r["Dialogue_ID"]) for r in rows) + 1
    (out / DEV_CLIPS).mkdir(parents=True, exist_ok=True)
    made = []
    for k in range(n_clips):
        row = dict(rows[k % len(rows)])
        dialogue = int(row["Dialogue_ID"]) + n_dialogues * (k // len(rows))
        shutil.copyfile(source / DEV_CLIPS / f"dia{row['Dialogue_ID']}_utt{row['Utterance_ID']}.mp4",
                        out / DEV_CLIPS / f"dia{dialogue}_utt{row['Utterance_ID']}.mp4")
        made.append({**row, "Sr No.": str(k + 1), "Dialogue_ID": str(dialogue)})
    with open(out / DEV_CSV, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(made)
    return out


def children_cpu_seconds() -> float:
    """User + system CPU of every finished child process (and theirs) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def decode_seconds(clips: list[Path]) -> tuple[float, float]:
    """(wall, CPU) seconds of ffmpeg decoding every clip to nothing: the floor for anything that must look
    at every frame."""
    start, cpu = time.perf_counter(), children_cpu_seconds()
    for clip in clips:
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(clip), "-f", "null", "-"],
                       check=False, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, children_cpu_seconds() - cpu


def stage_seconds(results: Path) -> tuple[dict[str, float], float, dict[str, float], dict[str, int]]:
    """Wall seconds per rule (summed over its jobs), the peak resident memory of any job (MB), CPU
    seconds per rule and jobs per rule."""
    totals, peak_mb, cpu, jobs = {}, 0.0, {}, {}
    for table in (results / "benchmarks").rglob("*.tsv"):
        rule = table.relative_to(results / "benchmarks").parts[0]
        with open(table, newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                totals[rule] = totals.get(rule, 0.0) + float(row["s"])
                jobs[rule] = jobs.get(rule, 0) + 1
                cpu[rule] = cpu.get(rule, 0.0) + float(row.get("cpu_time") or 0.0)
                try:
                    peak_mb = max(peak_mb, float(row["max_rss"]))
                except ValueError:
                    pass
    return totals, peak_mb, cpu, jobs


def run_workflow(meld: Path, face_library: Path, results: Path, cores: int, extra: list[str],
                 configfile: list[str] = (), batches: int = 1) -> tuple[float, float]:
    """(wall, CPU) seconds of the whole workflow from scratch (CPU: Snakemake and every job), its
    dialogues split evenly into `batches` batches."""
    shutil.rmtree(results, ignore_errors=True)
    with open(meld / DEV_CSV, newline="", encoding="utf-8") as handle:
        n_dialogues = len({row["Dialogue_ID"] for row in csv.DictReader(handle)})
    per_batch = -(-n_dialogues // max(1, batches))
    command = [str(BIN / "snakemake"), "--cores", str(cores), "--quiet", "all", *configfile, "--config",
               f"meld_root={meld}", f"annotations={meld}", "splits=[dev]", f"face_library={face_library}",
               f"results={results}", f"dialogues_per_batch={per_batch}", *extra]
    start, cpu = time.perf_counter(), children_cpu_seconds()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"workflow failed ({' '.join(command)}):\n{done.stderr[-3000:]}")
    return time.perf_counter() - start, children_cpu_seconds() - cpu


def report(name: str, n_clips: int, n_small: int, cores: int, batches: int, wall: float, wall_small: float, floor: float,
           totals: dict, totals_small: dict, peak_mb: float, cpu: float, cpu_floor: float, stage_cpu: dict,
           jobs: dict, jobs_small: dict) -> None:
    def split(big: float, small: float, jobs_big: int = 1, jobs_small: int = 1) -> tuple[float, float]:
        """(per clip, fixed per job) from T = jobs * fixed + clips * per_clip in the two runs."""
        per_clip = (big * jobs_small - small * jobs_big) / (n_clips * jobs_small - n_small * jobs_big)
        return per_clip, (small - n_small * per_clip) / jobs_small

    wall_per_clip, wall_fixed = split(wall, wall_small)
    print(f"\n## {name}: {n_clips} clips in {batches} batch(es), {cores} cores (fixed cost from a second run on {n_small} in one batch)")
    print(f"wall time            {wall:8.1f} s   ({60 * n_clips / wall:.2f} clips/min)")
    print(f"ffmpeg decode only   {floor:8.2f} s   (pipeline / decode = {wall / max(floor, 1e-9):.1f}x)")
    print(f"steady state         {wall_per_clip:8.2f} s/clip  (= {wall_per_clip * n_clips / max(floor, 1e-9):.1f}x decode"
          f" without the fixed cost); workflow fixed cost {wall_fixed:.1f} s (the small run is one batch: with more"
          f" batches this split is approximate)")
    print(f"CPU time             {cpu:8.1f} s   against ffmpeg's {cpu_floor:.2f} s (pipeline / decode = "
          f"{cpu / max(cpu_floor, 1e-9):.1f}x in CPU seconds)")
    print(f"peak job memory      {peak_mb:8.0f} MB")
    print(f"{'stage':20s} {'s/clip (run)':>12s} {'steady s/clip':>14s} {'fixed s/job':>12s} {'CPU s/clip':>11s}")
    for stage in STAGES + sorted(set(totals) - set(STAGES)):
        if stage in totals:
            per_clip, fixed = split(totals[stage], totals_small.get(stage, 0.0), jobs[stage], max(jobs_small.get(stage, 1), 1))
            print(f"  {stage:18s} {totals[stage] / n_clips:12.2f} {per_clip:14.2f} {fixed:12.2f} "
                  f"{stage_cpu.get(stage, 0.0) / n_clips:11.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="*", help="fixture and/or demo (default: fixture)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--clips", type=int, default=24, help="clips of the fixture set (>= 24 for the README)")
    parser.add_argument("--batches", type=int, help="batches the clips are split into (default: --cores)")
    parser.add_argument("--small", type=int, default=3, help="clips of the second run that measures fixed costs")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out",
                        help="results folder (one per run: two benchmarks at once need two)")
    parser.add_argument("--config", nargs="*", default=[], help="more workflow config overrides (key=value)")
    parser.add_argument("--configfile", help="a YAML file of overrides (nested numbers stay numbers)")
    args = parser.parse_args()
    batches = args.batches or args.cores
    unknown = set(args.which) - {"fixture", "demo"}
    if unknown:
        parser.error(f"unknown dataset(s) {sorted(unknown)}; choose from demo, fixture")
    if not 0 < args.small < args.clips:
        parser.error("--small must be between 1 and --clips - 1")
    out = args.out.resolve()
    for name in args.which or ["fixture"]:
        with tempfile.TemporaryDirectory(prefix=f"facseq_bench_{name}_") as tmp:
            if name == "fixture":
                source, library = shared() / "fixtures" / "speaker", shared() / "fixtures" / "speaker" / "face_library"
            else:
                source, library = REPO / "resources" / "demo" / "meld", REPO / "resources" / "demo" / "face_library"
            if not (source / DEV_CSV).is_file():
                print(f"{name}: no data at {source} (demo: run `make demo-data`; fixture: needs ../shared)")
                continue
            big = make_dataset(source, Path(tmp) / "big", args.clips)
            small = make_dataset(source, Path(tmp) / "small", args.small)
            configfile = ["--configfile", str(Path(args.configfile).resolve())] if args.configfile else []
            wall, cpu = run_workflow(big, library, out / name, args.cores, args.config, configfile, batches)
            totals, peak_mb, stage_cpu, jobs = stage_seconds(out / name)
            floor, cpu_floor = decode_seconds(sorted((big / DEV_CLIPS).glob("*.mp4")))
            wall_small, _ = run_workflow(small, library, out / f"{name}_small", args.cores, args.config, configfile)
            totals_small, _, _, jobs_small = stage_seconds(out / f"{name}_small")
            report(name, args.clips, args.small, args.cores, batches, wall, wall_small, floor, totals, totals_small, peak_mb,
                   cpu, cpu_floor, stage_cpu, jobs, jobs_small)


if __name__ == "__main__":
    main()
