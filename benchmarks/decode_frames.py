"""Decoding a clip into memory: `facseq.media.decode_frames` against the alternatives it was chosen from.

Every variant decodes the same clips at 25 fps to (T, H, W, 3) RGB and is compared with
`decode_frames` frame by frame (identical, or the largest difference of any pixel channel):

- `decode_frames`: rgb24 rawvideo pipe read straight into one preallocated array, 1 MiB pipe buffer;
- `bytes + frombuffer`: the same ffmpeg command read whole (`ffmpeg-python`'s `run(capture_stdout)`:
  32 KiB reads joined into one bytes object), the previous implementation;
- `-threads 1`, `-threads 2`: the preallocated read with the decoder's thread count fixed (default: auto);
- `yuv420p + cvtColor`: half the bytes through the pipe, converted to RGB by OpenCV instead of swscale.

Wall and CPU seconds (this process and ffmpeg's) are the median of `--repeats` rounds, the variants
interleaved in each round so that a change in the machine's load hits all of them alike.

    python benchmarks/decode_frames.py [--clips DIR] [--repeats 5]

Without --clips: the shared real footage (`../shared/fixtures/speaker/dev_splits_complete`, 1280x720),
else six 1280x720 test-pattern clips made with ffmpeg.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import ffmpeg
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from facseq.media import ClipInfo, _enlarge_pipe, _read_into, decode_frames, probe_clip  # noqa: E402

FPS = 25.0


def command(info: ClipInfo, n_frames: int, pix_fmt: str = "rgb24", threads: int | None = None) -> list[str]:
    source = ffmpeg.input(info.path, **({"threads": threads} if threads else {}))
    return (ffmpeg.output(source.video.filter("fps", fps=FPS), "pipe:", format="rawvideo", pix_fmt=pix_fmt,
                          **{"frames:v": n_frames}).global_args("-nostdin", "-loglevel", "error").compile())


def preallocated(info: ClipInfo, n_frames: int, pix_fmt: str = "rgb24", threads: int | None = None) -> np.ndarray:
    rows = info.height * 3 // 2 if pix_fmt == "yuv420p" else info.height
    out = np.empty((n_frames, rows, info.width) + (() if pix_fmt == "yuv420p" else (3,)), dtype=np.uint8)
    process = subprocess.Popen(command(info, n_frames, pix_fmt, threads), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    with process.stdout:
        _enlarge_pipe(process.stdout)
        _read_into(process.stdout, out)
    process.wait()
    return out


def whole_bytes(info: ClipInfo, n_frames: int) -> np.ndarray:
    raw = subprocess.run(command(info, n_frames), capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, info.height, info.width, 3)


def yuv_then_opencv(info: ClipInfo, n_frames: int) -> np.ndarray:
    return np.stack([cv2.cvtColor(f, cv2.COLOR_YUV2RGB_I420) for f in preallocated(info, n_frames, "yuv420p")])


VARIANTS = {
    "decode_frames": lambda info, n: decode_frames(info, FPS, n),
    "bytes + frombuffer": whole_bytes,
    "-threads 1": lambda info, n: preallocated(info, n, threads=1),
    "-threads 2": lambda info, n: preallocated(info, n, threads=2),
    "yuv420p + cvtColor": yuv_then_opencv,
}


def test_clips(folder: Path) -> list[Path]:
    clips = []
    for k in range(6):
        clip = folder / f"pattern{k}.mp4"
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                        f"testsrc2=size=1280x720:rate=24000/1001:duration={2 + k % 3}", "-c:v", "libx264",
                        "-pix_fmt", "yuv420p", str(clip)], check=True)
        clips.append(clip)
    return clips


def cpu_seconds() -> tuple[float, float]:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time(), children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, help="a folder of .mp4 clips")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    shared = Path(os.environ.get("FACSEQ_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    folder = args.clips or shared / "fixtures" / "speaker" / "dev_splits_complete"
    with tempfile.TemporaryDirectory() as tmp:
        clips = sorted(folder.glob("*.mp4")) if folder.is_dir() else test_clips(Path(tmp))
        infos = [probe_clip(c) for c in clips]
        counts = [info.frames_at(FPS) for info in infos]
        reference = [decode_frames(info, FPS, n) for info, n in zip(infos, counts)]
        times = {name: [] for name in VARIANTS}
        difference = {}
        for _ in range(args.repeats):
            for name, decode in VARIANTS.items():
                spent = np.zeros(3)
                for info, n, expected in zip(infos, counts, reference):  # one clip in memory at a time
                    start, (own, children) = time.perf_counter(), cpu_seconds()
                    frames = decode(info, n)
                    end, (own_end, children_end) = time.perf_counter(), cpu_seconds()
                    spent += (end - start, own_end - own, children_end - children)
                    gap = int(np.abs(frames.astype(np.int16) - expected).max())
                    difference[name] = max(difference.get(name, 0), gap)
                    del frames
                times[name].append(spent)
    megapixels = sum(n * i.width * i.height for i, n in zip(infos, counts)) / 1e6
    print(f"{len(clips)} clips from {folder if folder.is_dir() else 'ffmpeg testsrc2'}: {sum(counts)} frames at "
          f"{FPS:g} fps, {megapixels:.0f} Mpx; median of {args.repeats} rounds")
    print(f"{'variant':20s} {'wall s':>7s} {'python CPU s':>13s} {'ffmpeg CPU s':>13s}  frames against decode_frames")
    for name, rows in times.items():
        wall, own, children = np.median(np.array(rows), axis=0)
        same = "identical" if difference[name] == 0 else f"max difference {difference[name]} levels"
        print(f"{name:20s} {wall:7.2f} {own:13.2f} {children:13.2f}  {same}")


if __name__ == "__main__":
    main()
