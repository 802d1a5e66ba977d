"""ASD speed: seconds of compute per second of face track, batched scorer vs the faithful reference loop.

Uses the fixture inputs in ../shared/fixtures/asd (or $FACSEQ_SHARED/fixtures/asd):
TalkNet (random-weight checkpoint, same cost as the real one) on the 5.48 s demo_T137 track and
Light-ASD (finetuning_TalkSet.model) on the 7.96 s matched track.

    python benchmarks/asd_speed.py [--repeats 2] [--threads N] [--device cpu]
"""

from __future__ import annotations

import argparse
import lzma
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _fixtures() -> Path:
    env = os.environ.get("FACSEQ_SHARED")
    shared = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared"
    return shared / "fixtures" / "asd"


def _best_time(fn, repeats: int):
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per method (best is reported)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    args = ap.parse_args()

    fix = _fixtures()
    tn, la = fix / "talknet_random", fix / "light_asd"
    if not (tn / "talknet_random_seed0.model.xz").is_file() or not (la / "finetuning_TalkSet.model").is_file():
        print(f"asd_speed: ASD fixtures not found under {fix} (set FACSEQ_SHARED); nothing to benchmark.")
        return 0

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from facseq.asd import load_detector
    from facseq.asd.scoring import align_lengths, batched_per_duration, reference_per_duration

    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        talknet_weights = Path(tmp) / "talknet_random_seed0.model"
        with lzma.open(tn / "talknet_random_seed0.model.xz") as fin, open(talknet_weights, "wb") as fout:
            shutil.copyfileobj(fin, fout)
        cases = [
            ("talknet", talknet_weights, np.load(tn / "demo_T137_video_gray112.npy"),
             np.load(tn / "demo_T137_audio_mfcc.npy")),
            ("light_asd", la / "finetuning_TalkSet.model", np.load(la / "video_gray112.npy"),
             np.load(la / "audio_mfcc_matched.npy")),
        ]
        dets = {name: load_detector(name, w, device=args.device) for name, w, _, _ in cases}

    print(f"torch {torch.__version__}, device {args.device}, {torch.get_num_threads()} CPU threads, "
          f"best of {args.repeats}")
    print(f"{'backend':<10} {'clip_s':>6} {'batched_s':>9} {'ref_loop_s':>10} {'batched s/clip-s':>16} "
          f"{'ref s/clip-s':>12} {'speed-up':>8} {'max|diff|':>9}")
    for name, _, video, mfcc in cases:
        det = dets[name]
        length, n_a, n_v = align_lengths(len(mfcc), len(video), name)
        v, a = video[:n_v], mfcc[:n_a]
        batched_per_duration(det.net, v[:50], a[:200], device=det.device)  # warm-up (kernel set-up)
        tb, pb = _best_time(lambda: batched_per_duration(det.net, v, a, device=det.device), args.repeats)
        tr, pr = _best_time(lambda: reference_per_duration(det.net, v, a, device=det.device), args.repeats)
        print(f"{name:<10} {length:>6.2f} {tb:>9.2f} {tr:>10.2f} {tb / length:>16.3f} {tr / length:>12.3f} "
              f"{tr / tb:>7.1f}x {np.abs(pb - pr).max():>9.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
