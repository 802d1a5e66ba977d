"""Clips composed with ffmpeg from the shared real footage (../shared/fixtures/speaker), with labels in the
layout `facseq.evaluate` reads: hard cuts between two people framed alike, and between two shots of one.

Each source clip of the fixture shows ALEX and/or KATIE on the same dark grey canvas; cutting a 640x720
half out of the two-face clips gives each person's 600x600 panel at the same place (20, 60), so a cut from
one half to the other changes the person and nothing else."""

from __future__ import annotations

import csv
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

FPS = Fraction(24000, 1001)  # the fixture clips' rate, kept by the composition
WIDTH, HEIGHT = 640, 720


@dataclass(frozen=True)
class Segment:
    source: str  # fixture utterance, e.g. "dia0_utt1"
    first: int  # source frames first..last (inclusive)
    last: int
    crop_x: int  # left edge of the 640x720 window cut out of the 1280x720 source


@dataclass(frozen=True)
class Composition:
    name: str  # dia{D}_utt{U} of the composed clip
    speaker: str  # CSV Speaker (library role)
    identity: str  # ground-truth identity of the speaker (ALEX, KATIE)
    video: tuple[Segment, ...]
    audio: tuple[Segment, ...]  # the sound of these source frames, in order (crop_x unused)
    scenario: str


def _seconds(frame: int) -> float:
    return float(frame / FPS)


def compose_clip(fixture: Path, composition: Composition, out: Path) -> None:
    """One ffmpeg run: video segments cropped and concatenated, audio segments concatenated."""
    inputs, parts, labels = [], [], []
    for i, seg in enumerate(composition.video):
        inputs += ["-i", str(fixture / "dev_splits_complete" / f"{seg.source}.mp4")]
        parts.append(f"[{i}:v]trim=start_frame={seg.first}:end_frame={seg.last + 1},setpts=PTS-STARTPTS,"
                     f"crop={WIDTH}:{HEIGHT}:{seg.crop_x}:0,setsar=1[v{i}]")
        labels.append(f"[v{i}]")
    base = len(composition.video)
    for j, seg in enumerate(composition.audio):
        inputs += ["-i", str(fixture / "dev_splits_complete" / f"{seg.source}.mp4")]
        parts.append(f"[{base + j}:a]atrim=start={_seconds(seg.first):.6f}:end={_seconds(seg.last + 1):.6f},"
                     f"asetpts=PTS-STARTPTS[a{j}]")
    parts.append("".join(labels) + f"concat=n={len(labels)}:v=1:a=0[v]")
    parts.append("".join(f"[a{j}]" for j in range(len(composition.audio))) + f"concat=n={len(composition.audio)}:v=0:a=1[a]")
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", *inputs, "-filter_complex", ";".join(parts),
                    "-map", "[v]", "-map", "[a]", "-r", "24000/1001", "-c:v", "libx264", "-preset", "veryfast",
                    "-crf", "21", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-ar", "48000", str(out)],
                   check=True)


def composed_labels(fixture: Path, composition: Composition) -> list[dict]:
    """ground_truth_frames.csv rows of the composed clip, from the fixture's boxes of the source frames
    (shifted by the crop; faces outside the window dropped)."""
    source_rows: dict[tuple[str, int], list[dict]] = {}
    with open(fixture / "ground_truth_frames.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            source_rows.setdefault((row["utterance"], int(row["frame"])), []).append(row)
    rows, frame = [], 0
    for seg in composition.video:
        for source_frame in range(seg.first, seg.last + 1):
            for r in source_rows.get((seg.source, source_frame), []):
                x1, x2 = float(r["x1"]) - seg.crop_x, float(r["x2"]) - seg.crop_x
                if not 0 <= (x1 + x2) / 2 < WIDTH:
                    continue
                rows.append({"split": "dev", "utterance": composition.name, "frame": frame,
                             "time_s": f"{_seconds(frame):.3f}", "identity": r["identity"],
                             "is_speaker": "yes" if r["identity"] == composition.identity else "no",
                             "x1": round(max(x1, 0.0), 1), "y1": r["y1"], "x2": round(min(x2, WIDTH), 1), "y2": r["y2"]})
            frame += 1
    return rows


def _ranges(frames: list[int]) -> str:
    frames, out = sorted(set(frames)), []
    for f in frames:
        if out and f == out[-1][1] + 1:
            out[-1][1] = f
        else:
            out.append([f, f])
    return ",".join(f"{a}-{b}" for a, b in out)


def write_dataset(fixture: Path, compositions: list[Composition], root: Path) -> Path:
    """A MELD-layout dataset + labels under `root` (both meld_root, annotations and LABELS folder)."""
    meld_rows, truth_rows, frame_rows = [], [], []
    for k, comp in enumerate(compositions):
        compose_clip(fixture, comp, root / "dev_splits_complete" / f"{comp.name}.mp4")
        labels = composed_labels(fixture, comp)
        frame_rows += labels
        dialogue, utterance = comp.name.removeprefix("dia").split("_utt")
        meld_rows.append({"Sr No.": k + 1, "Utterance": comp.scenario, "Speaker": comp.speaker, "Emotion": "neutral",
                          "Sentiment": "neutral", "Dialogue_ID": dialogue, "Utterance_ID": utterance, "Season": 1,
                          "Episode": 1, "StartTime": "00:00:00,000", "EndTime": "00:00:03,000"})
        truth_rows.append({"split": "dev", "dialogue_id": dialogue, "utterance_id": utterance, "speaker": comp.speaker,
                           "expected_status": "ok", "expected_identity": comp.identity,
                           "speaker_visible_frames": _ranges([r["frame"] for r in labels if r["is_speaker"] == "yes"]),
                           "fps": "24000/1001", "scenario": comp.scenario})
    for name, rows in (("dev_sent_emo.csv", meld_rows), ("ground_truth.csv", truth_rows),
                       ("ground_truth_frames.csv", frame_rows)):
        with open(root / name, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return root


# Speaker ALEX before a hard cut, silent listener KATIE after (ALEX's voice goes on); and the reverse with
# KATIE speaking after the cut; and a cut between two shots (other size and place) of ALEX.
CUT_TO_LISTENER = Composition(
    "dia0_utt0", "Alex", "ALEX",
    (Segment("dia0_utt1", 0, 30, 0), Segment("dia0_utt1", 31, 61, 640)),
    (Segment("dia0_utt1", 0, 61, 0),),
    "speaker ALEX, hard cut to silent listener KATIE at the same place and size")
CUT_TO_SPEAKER = Composition(
    "dia0_utt1", "Katie", "KATIE",
    (Segment("dia0_utt2", 0, 35, 0), Segment("dia0_utt2", 36, 71, 640)),
    (Segment("dia0_utt2", 0, 71, 0),),
    "silent listener ALEX, hard cut to speaker KATIE at the same place and size")
SAME_PERSON_CUT = Composition(
    "dia0_utt2", "Alex", "ALEX",
    (Segment("dia0_utt0", 0, 35, 320), Segment("dia0_utt1", 0, 35, 0)),
    (Segment("dia0_utt0", 0, 35, 0), Segment("dia0_utt1", 0, 35, 0)),
    "speaker ALEX in two shots (close-up, then smaller and to the left)")
COMPOSITIONS = [CUT_TO_LISTENER, CUT_TO_SPEAKER, SAME_PERSON_CUT]
CUT_FRAME = {"dia0_utt0": 31, "dia0_utt1": 36, "dia0_utt2": 36}  # first frame after the cut (clip rate)
