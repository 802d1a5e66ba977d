"""Model inputs, prepared exactly like the official demos (TalkNet `demoTalkNet.py`, Light-ASD
`Columbia_test.py`): 13 MFCCs at 100 Hz and 112x112 gray face crops at 25 fps.

Two lossy steps of the demos are deliberately *not* reproduced (the fixtures skip them too): the
ffmpeg re-encode / JPEG frame dump of the whole video, and the XVID round trip of the 224x224 crop.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import cv2
import numpy as np
from scipy import signal

CROP_SCALE = 0.40  # demo `--cropScale`
MEDFILT_KERNEL = 13
PAD_VALUE = 110
MIN_TRACK_FRAMES = 7  # below this the zero-padded median filter drives every box size to 0


def mfcc_16k(audio: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """(N,) mono 16 kHz audio -> (Ta, 13) float32 MFCCs at 100 Hz, as the reference computes them.

    int16 input is used as is, like `scipy.io.wavfile.read` output in the demo (raw int16 scale, not
    [-1, 1]). Float input is taken to be in [-1, 1] and multiplied by 32768 to get to that scale.
    python_speech_features defaults apply: 26 filters, nfft 512, preemph 0.97, ceplifter 22,
    appendEnergy=True (column 0 = log frame energy), rectangular window, last frame zero padded.
    Ta = 1 + ceil((N - 400) / 160) for N >= 400.
    """
    import python_speech_features  # pinned 0.6

    if sample_rate != 16000:
        raise ValueError(f"mfcc_16k needs 16 kHz audio, got {sample_rate} Hz")
    x = np.asarray(audio)
    if x.ndim != 1:
        raise ValueError(f"mfcc_16k needs mono audio of shape (N,), got {x.shape}")
    if np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64) * 32768.0
    elif x.dtype != np.int16:
        raise ValueError(f"mfcc_16k takes int16 or float audio, got {x.dtype}")
    feats = python_speech_features.mfcc(x, 16000, numcep=13, winlen=0.025, winstep=0.010)
    return feats.astype(np.float32)


def smooth_boxes(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, 4) x1y1x2y2 -> half-size s, centre y, centre x, each median filtered over 13 frames.

    scipy's medfilt pads with zeros, so the first and last 6 values are pulled low (official
    behaviour, kept).
    """
    b = np.asarray(boxes, dtype=np.float64)
    s = np.maximum(b[:, 3] - b[:, 1], b[:, 2] - b[:, 0]) / 2
    y = (b[:, 1] + b[:, 3]) / 2
    x = (b[:, 0] + b[:, 2]) / 2
    with warnings.catch_warnings():  # "kernel_size exceeds volume extent" for tracks < 13 frames
        warnings.simplefilter("ignore", UserWarning)
        return (signal.medfilt(s, kernel_size=MEDFILT_KERNEL),
                signal.medfilt(y, kernel_size=MEDFILT_KERNEL),
                signal.medfilt(x, kernel_size=MEDFILT_KERNEL))


def crop_face_224(frame: np.ndarray, bs: float, y: float, x: float, crop_scale: float = CROP_SCALE) -> np.ndarray:
    """One frame (H, W, 3) uint8 and its smoothed box -> (224, 224, 3) crop (demo `crop_video`).

    The window reaches 1 bs above the box centre, (1 + 2 cs) bs below, (1 + cs) bs left and right,
    on the frame padded with the value 110 by int(bs (1 + 2 cs)) pixels.
    """
    bsi = int(bs * (1 + 2 * crop_scale))
    padded = np.pad(frame, ((bsi, bsi), (bsi, bsi), (0, 0)), "constant", constant_values=(PAD_VALUE, PAD_VALUE))
    my, mx = y + bsi, x + bsi
    face = padded[int(my - bs):int(my + bs * (1 + 2 * crop_scale)),
                  int(mx - bs * (1 + crop_scale)):int(mx + bs * (1 + crop_scale))]
    if face.size == 0:
        raise ValueError(f"empty face crop window (box half-size {bs:.2f} at x={x:.1f}, y={y:.1f})")
    return cv2.resize(face, (224, 224))  # INTER_LINEAR


def gray112(face224: np.ndarray, color: str = "bgr") -> np.ndarray:
    """(224, 224, 3) crop -> (112, 112) uint8: to gray, (no-op) resize to 224, centre crop."""
    code = cv2.COLOR_BGR2GRAY if color == "bgr" else cv2.COLOR_RGB2GRAY
    g = cv2.resize(cv2.cvtColor(face224, code), (224, 224))
    return g[56:168, 56:168]


def interpolate_track(frames: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every frame from the track's first to its last, with boxes linearly interpolated over gaps
    (frames (N,), boxes (N, 4) -> (F,), (F, 4))."""
    order = np.argsort(frames)
    frames, boxes = np.asarray(frames)[order], np.asarray(boxes, dtype=np.float64)[order]
    full = np.arange(frames[0], frames[-1] + 1)
    return full, np.stack([np.interp(full, frames, boxes[:, k]) for k in range(4)], axis=1)


def crop_track_gray112(frames: Sequence[np.ndarray] | np.ndarray, boxes: np.ndarray, color: str = "bgr",
                       crop_scale: float = CROP_SCALE) -> np.ndarray:
    """The reference face-track crop: frames + raw track boxes -> (T, 112, 112) uint8 model input.

    frames: T frames of the track, (H, W, 3) uint8, **BGR by default** (as cv2 decodes them); pass
            color="rgb" for RGB frames (the result is the same up to the gray conversion order).
    boxes:  (T, 4) x1, y1, x2, y2 in frame pixels, one per frame at 25 fps (gaps already filled,
            e.g. by linear interpolation as in the demo's `track_shot`).
    Tracks must have at least 7 frames (the demo keeps tracks of > 10 frames); shorter ones would give
    empty crops in the reference and raise ValueError here.
    """
    if color not in ("bgr", "rgb"):
        raise ValueError("color must be 'bgr' or 'rgb'")
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(frames) != len(boxes):
        raise ValueError(f"{len(frames)} frames but {len(boxes)} boxes")
    if len(boxes) < MIN_TRACK_FRAMES:
        raise ValueError(f"track of {len(boxes)} frames is too short (need >= {MIN_TRACK_FRAMES})")
    s, y, x = smooth_boxes(boxes)
    out = np.empty((len(boxes), 112, 112), dtype=np.uint8)
    for i, frame in enumerate(frames):
        out[i] = gray112(crop_face_224(np.asarray(frame), s[i], y[i], x[i], crop_scale), color)
    return out
