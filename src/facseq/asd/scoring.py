"""The reference multi-duration scoring procedure of TalkNet / Light-ASD, faithful and batched.

Per track (official `evaluate_network`):
1. Align lengths. TalkNet: length = min((Ta - Ta % 4) / 100, T / 25). Light-ASD's Columbia_test uses
   min((Ta - Ta % 4) / 100, T) (video term not divided by 25, so it is the audio duration). Audio is
   cut to int(round(length * 100)) frames, video to int(round(length * 25)).
2. For each duration d in {1, 2, 3, 4, 5, 6} (the code writes {1,1,1,2,2,2,3,3,4,5,6}, a Python set),
   split into ceil(length / d) chunks, audio [i*100d:(i+1)*100d] and video [i*25d:(i+1)*25d], run an
   independent forward pass per chunk and concatenate the scores.
3. Average the 6 rows in float32, round to 1 decimal (numpy.round, still float32), cast to float64.
4. Smoothing (demo `visualization` / `evaluate_col_ASD`): for each of the track's frames f,
   mean(final[max(f-2, 0) : min(f+3, len(final)-1)]). The upper bound len-1 is the reference's
   off-by-one and is kept; an empty window gives NaN (the reference's numpy.mean of an empty slice).

`reference_per_duration` re-runs step 2 literally (one B=1 forward per chunk). `batched_per_duration`
gives the same numbers (to float32 round-off) much faster. Each network splits into a part that is
local in time, `frame_features` (TalkNet: the visual front end, whose only temporal op is a 5-frame
Conv3d; Light-ASD: both encoders and their sum), and the rest, `chunk_scores`, which needs the whole
chunk (V-TCN global layer norm, SE gates, attention, GRU). The local part is computed once for the
whole track; only frames within its temporal reach (`net.feature_halo` frames) of a chunk edge, where
the reference sees zero padding, are recomputed from a short standalone segment. `chunk_scores` then
runs on all chunks of equal length in one batch.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import torch

DURATIONS = (1, 2, 3, 4, 5, 6)  # set iteration order of {1,1,1,2,2,2,3,3,4,5,6}


def align_lengths(n_audio: int, n_video: int, rule: str) -> tuple[float, int, int]:
    """-> (length in seconds, audio frames used, video frames used), per the backend's reference.

    rule "talknet": min((Ta - Ta%4)/100, T/25). rule "light_asd": min((Ta - Ta%4)/100, T). When the
    audio is longer than the video the Light-ASD reference would fail (or broadcast) in the fusion sum;
    there we fall back to the TalkNet rule, which gives the same result whenever the reference works.
    """
    a_len = (n_audio - n_audio % 4) / 100
    if rule == "talknet":
        length = min(a_len, n_video / 25)
    elif rule == "light_asd":
        length = min(a_len, n_video)
        if int(round(length * 25)) > n_video:
            length = min(a_len, n_video / 25)
    else:
        raise ValueError(f"unknown alignment rule {rule!r}")
    return length, int(round(length * 100)), int(round(length * 25))


def chunk_bounds(length: float, duration: int, n_audio: int, n_video: int):
    """[(a0, a1, v0, v1), ...] for one duration: Python slice bounds, clipped like the reference's."""
    out = []
    for i in range(int(math.ceil(length / duration))):
        a0, a1 = i * duration * 100, min((i + 1) * duration * 100, n_audio)
        v0, v1 = i * duration * 25, min((i + 1) * duration * 25, n_video)
        out.append((a0, a1, v0, v1))
    return out


def combine_durations(per_duration: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(6, N) float32 -> (float32 mean, float64 final) exactly like the reference."""
    mean = np.mean(np.asarray(per_duration, dtype=np.float32), axis=0)  # float32 mean
    final = np.round(mean, 1).astype(float)
    return mean, final


def smooth_scores(final: np.ndarray, n_track_frames: int) -> np.ndarray:
    """Reference 5-frame smoothing over the track's frames (upper bound len-1 kept), float64."""
    n = len(final)
    out = np.full(n_track_frames, np.nan)
    for f in range(n_track_frames):
        window = final[max(f - 2, 0):min(f + 3, n - 1)]
        if len(window):
            out[f] = np.mean(window)
    return out


def _as_inputs(video: np.ndarray, mfcc: np.ndarray, device) -> tuple[torch.Tensor, torch.Tensor]:
    # uint8 (T,112,112) and (Ta,13) -> float32 tensors, like torch.FloatTensor(...) in the reference
    v = torch.from_numpy(np.ascontiguousarray(video)).to(device=device, dtype=torch.float32)
    a = torch.from_numpy(np.ascontiguousarray(mfcc, dtype=np.float32)).to(device)
    return v, a


@torch.no_grad()
def reference_per_duration(net, video: np.ndarray, mfcc: np.ndarray, durations=DURATIONS,
                           device="cpu") -> np.ndarray:
    """Literal re-run of the reference loop on aligned inputs: one B=1 forward pass per chunk.

    video (N, 112, 112) uint8, mfcc (4N, 13), both already aligned -> (len(durations), N) float32.
    """
    v, a = _as_inputs(video, mfcc, device)
    n_video, n_audio = v.shape[0], a.shape[0]
    length = n_audio / 100
    rows = []
    for d in durations:
        scores = []
        for a0, a1, v0, v1 in chunk_bounds(length, d, n_audio, n_video):
            scores.append(net(v[None, v0:v1], a[None, a0:a1])[0].cpu().numpy())
        rows.append(np.concatenate(scores))
    return np.stack(rows).astype(np.float32)


def _sub_batches(items: list, seg_len: int, max_frames: int):
    step = max(1, max_frames // max(seg_len, 1))
    for i in range(0, len(items), step):
        yield items[i:i + step]


@torch.no_grad()
def batched_per_duration(net, video: np.ndarray, mfcc: np.ndarray, durations=DURATIONS, device="cpu",
                         tile: int = 32, max_frames: int = 24) -> np.ndarray:
    """Same result as `reference_per_duration`, computed with shared visual features and batching.

    video (N, 112, 112) uint8, mfcc (4N, 13), aligned -> (len(durations), N) float32.
    tile: frames per piece of the whole-track feature pass; max_frames: video frames per forward batch.
    Both bound memory and were tuned for CPU speed (small blocks stay in cache); results do not depend
    on them beyond float32 round-off.
    """
    v, a = _as_inputs(video, mfcc, device)
    n_video, n_audio = v.shape[0], a.shape[0]
    length = n_audio / 100
    if n_audio != 4 * n_video:
        raise ValueError(f"inputs not aligned: {n_audio} audio frames for {n_video} video frames")
    r = int(net.feature_halo)

    # 1. Feature requests: (seg0, seg1, keep0, keep1) = run frames seg0:seg1 as a standalone
    #    sequence (zero temporal padding at both ends) and keep the outputs of frames keep0:keep1.
    pieces = []  # the whole track, in overlapping pieces
    for t0 in range(0, n_video, tile):
        t1 = min(t0 + tile, n_video)
        pieces.append((max(0, t0 - r), min(n_video, t1 + r), t0, t1))
    requests: set[tuple[int, int, int, int]] = set(pieces)
    chunks = []  # (row, a0, a1, v0, v1, edge requests)
    for row, d in enumerate(durations):
        for a0, a1, v0, v1 in chunk_bounds(length, d, n_audio, n_video):
            edges = []
            if v1 - v0 <= 2 * r:
                if (v0, v1) != (0, n_video):
                    edges.append((v0, v1, v0, v1))
            else:
                if v0 > 0:  # frames v0 : v0+r see the chunk's left edge
                    edges.append((v0, v0 + 2 * r, v0, v0 + r))
                if v1 < n_video:  # frames v1-r : v1 see its right edge
                    edges.append((v1 - 2 * r, v1, v1 - r, v1))
            requests.update(edges)
            chunks.append((row, a0, a1, v0, v1, edges))

    # 2. Run the requests, batched by (segment length, keep offset, keep length).
    groups = defaultdict(list)
    for req in sorted(requests):
        s0, s1, k0, k1 = req
        groups[(s1 - s0, k0 - s0, k1 - k0)].append(req)
    feats: dict[tuple[int, int, int, int], torch.Tensor] = {}
    for (seg_len, k_off, k_len), reqs in groups.items():
        for batch in _sub_batches(reqs, seg_len, max_frames):
            x = torch.stack([v[s0:s1] for s0, s1, _, _ in batch])  # (B, L, 112, 112)
            xa = torch.stack([a[4 * s0:4 * s1] for s0, s1, _, _ in batch])  # (B, 4L, 13)
            out = net.frame_features(x, xa, keep=(k_off, k_off + k_len))  # (B, K, C)
            for req, f in zip(batch, out):
                feats[req] = f
    full = torch.empty(n_video, net.frame_dim, device=v.device)
    for req in pieces:
        full[req[2]:req[3]] = feats[req]

    # 3. Per-chunk back ends, batched by chunk length.
    per_duration = np.empty((len(durations), n_video), dtype=np.float32)
    by_len = defaultdict(list)
    for ch in chunks:
        by_len[(ch[2] - ch[1], ch[4] - ch[3])].append(ch)
    for (a_len, v_len), group in by_len.items():
        for batch in _sub_batches(group, v_len, 4 * max_frames):
            fb, ab = [], []
            for _, a0, a1, v0, v1, edges in batch:
                f = full[v0:v1].clone()
                for req in edges:
                    f[req[2] - v0:req[3] - v0] = feats[req]
                fb.append(f)
                ab.append(a[a0:a1])
            scores = net.chunk_scores(torch.stack(fb), torch.stack(ab)).cpu().numpy()  # (B, L)
            for (row, _, _, v0, v1, _), s in zip(batch, scores):
                per_duration[row, v0:v1] = s
    return per_duration
