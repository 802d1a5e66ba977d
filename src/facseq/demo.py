"""Deterministic, offline generator of a small MELD-layout demo data set.

Only material that installed packages ship is used: scikit-image's
``skimage.data.astronaut()`` (Eileen Collins, identity EILEEN, the only leading
role, so the only person in the face library) and matplotlib's sample
``grace_hopper.jpg`` (Grace Hopper, identity GRACE, a passer-by who is *not*
in the library).  Mouth motion is synthesised: a speech-like audio track is
built from a syllable envelope, and the same per-frame envelope opens the
mouth of the face photo (a jaw-drop warp around the mouth that mediapipe's
face mesh located on the still photo).

Layout written under ``root`` (mirrors MELD)::

    meld/dev_splits_complete/dia{D}_utt{U}.mp4   H.264 yuv420p 640x360 @ 24000/1001,
                                                  AAC 48 kHz stereo (except dia1_utt2)
    meld/dev_sent_emo.csv                         MELD's exact columns
    face_library/Eileen/eileen_{00..19}.jpg       160x160 RGB face crops
    ground_truth.json                             plan + expectations per utterance

Scenarios (clip -> CSV speaker -> expected status / identity):

=============  =======  =================  ========  =============================================
clip           speaker  expected_status    identity  what is on screen / in the audio
=============  =======  =================  ========  =============================================
dia0_utt0      Eileen   ok                 EILEEN    Eileen alone, mouth driven by her voice
dia0_utt1      Eileen   ok                 EILEEN    Eileen talking (left) + Grace still, mouth
                                                     closed (right)
dia0_utt2      Grace    ok                 GRACE     Grace talking (left) + Eileen still (right);
                                                     Grace is not in the library
dia0_utt3      Grace    ok                 GRACE     both mouths move; only Grace's follows the
                                                     audio, Eileen's an independent envelope
dia1_utt0      Eileen   speaker_offscreen  NONE      only Grace on screen, her mouth moving with
                                                     an envelope independent of the (Eileen) voice
dia1_utt1      Grace    no_face            NONE      gravel texture (skimage.data.gravel), voice
dia1_utt2      Eileen   ok                 EILEEN    Eileen alone talking; NO audio stream
dia2_utt0      Eileen   no_video           NONE      CSV row, clip file missing
dia2_utt1      Grace    no_video           NONE      zero-byte clip
dia2_utt2      Eileen   no_video           NONE      random bytes named .mp4
=============  =======  =================  ========  =============================================

``build_demo(root, seed=0)`` is idempotent: it returns the existing ground
truth when ``root/ground_truth.json`` carries the same generator version and
seed, otherwise it builds into a temporary sibling directory and renames it
into place.  Command line: ``python -m facseq.demo ROOT [--seed N] [--force]``.

ground_truth.json (per utterance, keyed ``dia{D}_utt{U}``): ``speaker`` (CSV
name), ``expected_status``, ``expected_identity``, ``has_video``,
``has_audio``, ``n_frames``, ``audio_envelope`` (per video frame, max 1; the
RMS envelope of the audio; null without audio) and ``faces``: per face
``identity``, ``is_speaker``, ``mouth_moves``, ``mouth_follows_audio``,
``mouth_envelope`` (per frame mouth opening 0..1), ``still``, ``box``
(x1, y1, x2, y2 of frame 0, clip pixels) and ``boxes`` (one per frame; all
equal when ``still``).  Boxes are the extent of mediapipe's 468 face-mesh
landmarks (forehead to chin, cheek to cheek), moved with the head sway and
with the chin following the jaw drop.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GENERATOR_VERSION = "facseq-demo-1"

WIDTH, HEIGHT = 640, 360
FPS_NUM, FPS_DEN = 24000, 1001  # MELD's frame rate (23.976 fps)
SAMPLE_RATE = 48000
# 48000 * 1001 / 24000 = 2002 exactly, so every video frame owns a whole
# number of audio samples and the per-frame envelope is unambiguous.
SAMPLES_PER_FRAME = SAMPLE_RATE * FPS_DEN // FPS_NUM

CSV_COLUMNS = [
    "Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID",
    "Utterance_ID", "Season", "Episode", "StartTime", "EndTime",
]
LIBRARY_SIZE = 20
LIBRARY_CROP = 160

# mediapipe face-mesh (468 points) indices used below.
_UPPER_INNER_LIP = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
_LOWER_INNER_LIP = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
_MOUTH_CORNERS = (61, 291)
_EYE_CORNERS = (33, 263)
_CHIN, _FOREHEAD = 152, 10
_JAW = (172, 397)  # lower jaw angles, left / right


# --------------------------------------------------------------------------
# Audio: syllable envelope and speech-like synthesis (pure functions)
# --------------------------------------------------------------------------

def syllable_envelope(n_samples: int, rng: np.random.Generator,
                      sr: int = SAMPLE_RATE, rate_hz: tuple[float, float] = (3.0, 5.0),
                      pause_prob: float = 0.22) -> np.ndarray:
    """Sample-rate amplitude envelope in [0, 1]: syllables at 3-5 Hz with pauses.

    Each syllable is a raised-cosine bump of random height; neighbours overlap a
    little so that within a phrase the envelope dips without reaching zero, as
    in connected speech, while pauses (0.15-0.4 s) are true silence.
    """
    env = np.zeros(n_samples)
    dur = n_samples / sr
    t = rng.uniform(0.05, 0.2)  # short lead-in silence
    while t < dur - 0.1:
        if t > 0.35 and rng.random() < pause_prob:
            t += rng.uniform(0.15, 0.4)
            continue
        length = 1.0 / rng.uniform(*rate_hz)
        amp = rng.uniform(0.35, 1.0)
        a, b = int(t * sr), min(int((t + 1.25 * length) * sr), n_samples)
        if b - a > 2:
            u = np.linspace(0.0, 1.0, b - a)
            bump = amp * np.sin(np.pi * u) ** 1.5
            env[a:b] = np.maximum(env[a:b], bump)
        t += length
    # a gentle tail so the end of the clip is not cut mid-syllable
    tail = int(0.06 * sr)
    env[-tail:] *= np.linspace(1.0, 0.0, tail)
    peak = env.max()
    return env / peak if peak > 0 else env


def frame_rms(x: np.ndarray, samples_per_frame: int = SAMPLES_PER_FRAME) -> np.ndarray:
    """RMS of each video frame's block of samples (mono or [n, ch])."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    n = len(x) // samples_per_frame
    blocks = x[: n * samples_per_frame].reshape(n, samples_per_frame)
    return np.sqrt((blocks ** 2).mean(axis=1))


def frame_envelope(env_samples: np.ndarray,
                   samples_per_frame: int = SAMPLES_PER_FRAME) -> np.ndarray:
    """Per-frame envelope (RMS of the sample envelope), normalised to max 1.

    Defined as an RMS so that it equals, up to scale, the RMS of the audio the
    envelope modulates: ``frame_rms(audio) / max`` recovers it.
    """
    e = frame_rms(env_samples, samples_per_frame)
    return e / e.max() if e.max() > 0 else e


def envelope_from_audio(audio: np.ndarray,
                        samples_per_frame: int = SAMPLES_PER_FRAME) -> np.ndarray:
    """Recover the per-frame envelope from audio: frame RMS over its maximum."""
    e = frame_rms(audio, samples_per_frame)
    return e / e.max() if e.max() > 0 else e


def _smooth_noise(n: int, rng: np.random.Generator, width: int) -> np.ndarray:
    """Low-pass random signal (zero mean, unit max) of length n."""
    k = np.hanning(2 * width + 1)
    x = np.convolve(rng.standard_normal(n + 2 * width), k / k.sum(), mode="same")
    x = x[width: width + n]
    x -= x.mean()
    return x / (np.abs(x).max() + 1e-12)


_VOWELS = {  # formant centre frequencies (Hz), adult averages
    "a": (730, 1090, 2440),
    "e": (530, 1840, 2480),
    "i": (300, 2200, 2950),
    "o": (570, 840, 2410),
    "u": (320, 900, 2300),
}


def synthesize_speech(env_samples: np.ndarray, rng: np.random.Generator,
                      f0_hz: float = 170.0, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Speech-like mono signal whose local RMS follows ``env_samples``.

    Voiced source: harmonic series (1/k roll-off up to 5 kHz) on a slowly
    varying f0 kept within 120-220 Hz, plus breath noise.  It is band-pass
    filtered at formant frequencies of vowels that change every 0.12-0.3 s
    (cross-faded), then normalised to unit short-time RMS so that the final
    amplitude modulation by the envelope alone sets the loudness.
    """
    from scipy import signal

    n = len(env_samples)
    # f0: slow intonation (+-12 %) plus a little jitter; clamp to 120-220 Hz
    t = np.arange(n) / sr
    f0 = f0_hz * (1.0 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.4, 0.9) * t + rng.uniform(0, 6.3))
                  + 0.04 * _smooth_noise(n, rng, sr // 10))
    f0 = np.clip(f0, 120.0, 220.0)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    src = np.zeros(n)
    for k in range(1, int(5000 // 220) + 1):
        src += np.sin(k * phase) / k
    src += 0.15 * rng.standard_normal(n)  # aspiration / breath noise

    # formant filtering per vowel, then cross-fade between vowel versions
    names = list(_VOWELS)
    seq, pos = [], 0
    while pos < n:
        seg = int(rng.uniform(0.12, 0.3) * sr)
        seq.append((pos, min(pos + seg, n), int(rng.integers(len(names)))))
        pos += seg
    weights = np.zeros((len(names), n))
    for a, b, v in seq:
        weights[v, a:b] = 1.0
    fade = np.hanning(int(0.04 * sr))
    fade /= fade.sum()
    weights = np.stack([np.convolve(w, fade, mode="same") for w in weights])
    voiced = np.zeros(n)
    for vi, name in enumerate(names):
        if not weights[vi].any():
            continue
        y = np.zeros(n)
        for gain, fc in zip((1.0, 0.6, 0.3), _VOWELS[name]):
            bw = 80.0 + 0.08 * fc
            sos = signal.butter(2, [fc - bw / 2, fc + bw / 2], btype="bandpass", fs=sr, output="sos")
            y += gain * signal.sosfilt(sos, src)
        voiced += weights[vi] * y

    # unit short-time RMS (20 ms window, longer than a pitch period)
    win = np.ones(int(0.02 * sr)) / int(0.02 * sr)
    local = np.sqrt(np.convolve(voiced ** 2, win, mode="same")) + 1e-9
    carrier = voiced / local
    out = carrier * env_samples + 0.002 * rng.standard_normal(n)  # faint room noise
    return (0.9 * out / np.abs(out).max()).astype(np.float32)


# --------------------------------------------------------------------------
# Faces: landmarks once per photo, mouth warp (pure), tiles
# --------------------------------------------------------------------------

def load_photos() -> dict[str, np.ndarray]:
    """The two identities' photos as RGB uint8 arrays (shipped with packages)."""
    import skimage.data
    from matplotlib import cbook
    from PIL import Image

    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    with Image.open(path) as im:
        grace = np.asarray(im.convert("RGB")).copy()
    return {"EILEEN": np.ascontiguousarray(skimage.data.astronaut()), "GRACE": grace}


def face_mesh_landmarks(img: np.ndarray) -> np.ndarray:
    """468 mediapipe face-mesh landmarks (pixel x, y) of the single face in img."""
    import mediapipe as mp

    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                         refine_landmarks=False,
                                         min_detection_confidence=0.5) as fm:
        res = fm.process(np.ascontiguousarray(img))
    if not res.multi_face_landmarks:
        raise RuntimeError("mediapipe found no face in the source photo")
    h, w = img.shape[:2]
    return np.array([[p.x * w, p.y * h] for p in res.multi_face_landmarks[0].landmark])


def mouth_geometry(lm: np.ndarray) -> dict:
    """Mouth line, widths and distances the jaw-drop warp needs."""
    upper, lower = lm[_UPPER_INNER_LIP], lm[_LOWER_INNER_LIP]
    mid = (upper + lower) / 2.0  # the line between the lips (inner contours)
    order = np.argsort(mid[:, 0])
    # quadratic through the lip midline: smooth, defined for every column
    coef = np.polyfit(mid[order, 0], mid[order, 1], 2)
    cx = float((lm[_MOUTH_CORNERS[0], 0] + lm[_MOUTH_CORNERS[1], 0]) / 2)
    mouth_half = float(abs(lm[_MOUTH_CORNERS[1], 0] - lm[_MOUTH_CORNERS[0], 0]) / 2)
    jaw_half = float(abs(lm[_JAW[1], 0] - lm[_JAW[0], 0]) / 2)
    eye_dist = float(np.linalg.norm(lm[_EYE_CORNERS[0]] - lm[_EYE_CORNERS[1]]))
    y_mouth = float(np.polyval(coef, cx))
    chin = float(lm[_CHIN, 1])
    return {"coef": coef, "cx": cx, "mouth_half": mouth_half, "jaw_half": jaw_half,
            "eye_dist": eye_dist, "y_mouth": y_mouth, "chin_drop": chin - y_mouth}


def max_jaw_drop(lm: np.ndarray) -> float:
    """Jaw drop in pixels at full opening: 22 % of the eye-corner distance.

    That raises mediapipe's inner-lip gap / eye-distance ratio by ~0.2, the
    order of a wide-open real mouth, without tearing the face apart.
    """
    return 0.22 * mouth_geometry(lm)["eye_dist"]


def open_mouth(img: np.ndarray, lm: np.ndarray, amount: float) -> np.ndarray:
    """Open the mouth of the face in ``img`` by ``amount`` (0 closed .. 1 wide).

    Jaw-drop warp: every pixel below the lip line moves down by
    ``amount * max_jaw_drop``, weighted horizontally by a profile that is as
    wide as the mouth at the lips and as wide as the jaw at the chin (so the
    opening is lens-shaped while the whole chin drops), and fading out
    smoothly under the chin (the neck stretches).  The gap that opens between
    the lips is painted as a dark mouth interior, anti-aliased.  Pure: returns
    a new array, ``amount <= 0`` returns a copy.
    """
    out = img.copy()
    if amount <= 0:
        return out
    g = mouth_geometry(lm)
    drop = float(amount) * max_jaw_drop(lm)
    h, w = img.shape[:2]
    # only the lower face changes: work in a region of interest
    x0 = int(max(0, g["cx"] - 1.6 * g["jaw_half"]))
    x1 = int(min(w, g["cx"] + 1.6 * g["jaw_half"] + 1))
    y0 = int(max(0, g["y_mouth"] - 0.5 * g["mouth_half"]))
    fall = 1.2 * g["chin_drop"]  # fade-out length under the chin
    y1 = int(min(h, g["y_mouth"] + g["chin_drop"] + fall + drop + 2))
    if x1 <= x0 or y1 <= y0:
        return out
    xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float32),
                         np.arange(y0, y1, dtype=np.float32))
    y_line = np.polyval(g["coef"], xs).astype(np.float32)
    s = (ys - y_line) / g["chin_drop"]  # 0 at the lips, 1 at the chin
    sc = np.clip(s, 0.0, 1.0)
    half = g["mouth_half"] * 0.92 * (1 - sc) + g["jaw_half"] * 0.85 * sc
    u = np.abs(xs - g["cx"]) / half
    prof = np.clip(1.0 - u ** 2, 0.0, 1.0) ** 0.6  # elliptic: round, smooth ends
    below = np.clip((s - 1.0) * g["chin_drop"] / fall, 0.0, 1.0)
    vert = np.where(s < 0, 0.0, 0.5 * (1 + np.cos(np.pi * below)))
    dy = (drop * prof * vert).astype(np.float32)
    src_y = ys - dy
    import cv2

    warped = cv2.remap(img, xs, src_y, interpolation=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    # mouth interior: source row lies above the lip line though the pixel is below
    depth = y_line - src_y  # > 0 inside the opening (pixels)
    alpha = np.clip(depth + 0.5, 0, 1) * np.clip(ys - y_line + 0.5, 0, 1)
    alpha *= np.clip(dy / 1.5, 0, 1)  # no sliver where the opening is < 1.5 px
    # dark throat in the middle, reddish (tongue) towards the lower lip
    rel = np.clip((ys - y_line) / np.maximum(dy, 1e-3), 0, 1)[..., None]
    throat = np.array([28, 10, 12], np.float32)
    tongue = np.array([120, 45, 50], np.float32)
    interior = throat + (tongue - throat) * np.clip((rel - 0.55) / 0.45, 0, 1) ** 2
    warped = warped * (1 - alpha[..., None]) + interior * alpha[..., None]
    out[y0:y1, x0:x1] = np.clip(warped + 0.5, 0, 255).astype(np.uint8)
    return out


@dataclass
class FaceTile:
    """A head-and-shoulders crop of a photo, its landmarks and a feathered alpha."""

    identity: str
    image: np.ndarray  # RGB uint8
    lm: np.ndarray  # 468 x 2, tile pixels
    alpha: np.ndarray  # float32 in [0, 1]

    @property
    def face_box(self) -> np.ndarray:
        """Landmark extent (x1, y1, x2, y2) with the mouth closed."""
        return np.concatenate([self.lm.min(0), self.lm.max(0)])


def make_tile(identity: str, photo: np.ndarray, lm: np.ndarray,
              face_width: float) -> FaceTile:
    """Crop around the face and scale it so the face is ``face_width`` px wide."""
    import cv2

    x1, y1 = lm.min(0)
    x2, y2 = lm.max(0)
    fw, fh = x2 - x1, y2 - y1
    s = face_width / fw
    # crop: 0.7 face widths each side, 0.6 face heights above (hair), 0.85 below
    cx = (x1 + x2) / 2
    left, right = cx - 1.2 * fw, cx + 1.2 * fw
    top, bottom = y1 - 0.6 * fh, y2 + 0.85 * fh
    out_w, out_h = int(round((right - left) * s)), int(round((bottom - top) * s))
    m = np.array([[s, 0, -left * s], [0, s, -top * s]], np.float32)
    tile = cv2.warpAffine(photo, m, (out_w, out_h), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_REFLECT)
    lm_t = (lm - [left, top]) * s
    # feathered rounded-rectangle alpha: the face area stays fully opaque
    yy, xx = np.mgrid[0:out_h, 0:out_w].astype(np.float32)
    feather = 0.12 * out_w
    d = np.minimum.reduce([xx, out_w - 1 - xx, yy, out_h - 1 - yy + 2 * feather])
    alpha = np.clip(d / feather, 0, 1) ** 1.5
    return FaceTile(identity, tile, lm_t, alpha.astype(np.float32))


def studio_background(rng: np.random.Generator, width: int = WIDTH,
                      height: int = HEIGHT) -> np.ndarray:
    """Smooth, faceless set: vertical colour gradient with soft blotches."""
    import cv2

    top = rng.uniform(60, 140, 3)
    bottom = top * rng.uniform(0.45, 0.75)
    t = np.linspace(0, 1, height)[:, None, None]
    bg = (top * (1 - t) + bottom * t) * np.ones((1, width, 1))
    blotch = cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32),
                              (0, 0), 25)
    bg += 12 * blotch[..., None] / (np.abs(blotch).max() + 1e-6)
    return np.clip(bg, 0, 255).astype(np.uint8)


def texture_background(rng: np.random.Generator, width: int = WIDTH,
                       height: int = HEIGHT) -> np.ndarray:
    """Tinted gravel texture (skimage.data.gravel), larger than the frame for panning."""
    import cv2
    import skimage.data

    g = skimage.data.gravel().astype(np.float32) / 255.0
    g = cv2.resize(g, (width + 64, int((width + 64) * g.shape[0] / g.shape[1])))
    tint = rng.uniform(0.6, 1.0, 3) * 255
    return np.clip(g[..., None] * tint, 0, 255).astype(np.uint8)


def paste(frame: np.ndarray, tile_img: np.ndarray, alpha: np.ndarray,
          x: int, y: int) -> None:
    """Alpha-blend ``tile_img`` into ``frame`` at top-left (x, y), clipped, in place."""
    h, w = tile_img.shape[:2]
    fx0, fy0 = max(x, 0), max(y, 0)
    fx1, fy1 = min(x + w, frame.shape[1]), min(y + h, frame.shape[0])
    if fx1 <= fx0 or fy1 <= fy0:
        return
    t = tile_img[fy0 - y: fy1 - y, fx0 - x: fx1 - x].astype(np.float32)
    a = alpha[fy0 - y: fy1 - y, fx0 - x: fx1 - x, None]
    region = frame[fy0:fy1, fx0:fx1].astype(np.float32)
    frame[fy0:fy1, fx0:fx1] = (region * (1 - a) + t * a + 0.5).astype(np.uint8)


# --------------------------------------------------------------------------
# Scenario plan
# --------------------------------------------------------------------------

@dataclass
class FacePlan:
    identity: str
    slot: str  # "center", "left" or "right"
    mouth: str  # "audio" (follows the voice), "other" (independent envelope), "still"
    is_speaker: bool


@dataclass
class ClipPlan:
    dia: int
    utt: int
    speaker: str  # CSV name
    text: str
    emotion: str
    sentiment: str
    expected_status: str
    expected_identity: str
    scenario: str
    faces: tuple[FacePlan, ...] = ()
    voice: str | None = "EILEEN"  # whose voice the audio is (None: no audio stream)
    kind: str = "video"  # "video", "missing", "empty", "corrupt"
    background: str = "studio"

    @property
    def clip_id(self) -> str:
        return f"dia{self.dia}_utt{self.utt}"


def scenario_plan() -> list[ClipPlan]:
    """The ten utterances (see the module docstring)."""
    E, G = "EILEEN", "GRACE"
    return [
        ClipPlan(0, 0, "Eileen", "Houston, we are ready for the next burn.", "neutral", "neutral",
                 "ok", E, "Eileen alone, talking",
                 (FacePlan(E, "center", "audio", True),), voice=E),
        ClipPlan(0, 1, "Eileen", "Grace, did you see the checklist?", "surprise", "positive",
                 "ok", E, "Eileen talking (left), Grace still listener (right)",
                 (FacePlan(E, "left", "audio", True), FacePlan(G, "right", "still", False)), voice=E),
        ClipPlan(0, 2, "Grace", "It is easier to ask forgiveness than permission.", "joy", "positive",
                 "ok", G, "Grace talking (left, passer-by), Eileen still listener (right)",
                 (FacePlan(G, "left", "audio", True), FacePlan(E, "right", "still", False)), voice=G),
        ClipPlan(0, 3, "Grace", "A ship in port is safe, but that is not what ships are for.",
                 "neutral", "neutral", "ok", G,
                 "both mouths move; only Grace's follows the audio",
                 (FacePlan(E, "left", "other", False), FacePlan(G, "right", "audio", True)), voice=G),
        ClipPlan(1, 0, "Eileen", "I will be right there, keep going.", "neutral", "neutral",
                 "speaker_offscreen", "NONE",
                 "speaker Eileen off screen; only Grace on screen, mouth moving independently",
                 (FacePlan(G, "center", "other", False),), voice=E),
        ClipPlan(1, 1, "Grace", "Nobody is here, but you can hear me.", "fear", "negative",
                 "no_face", "NONE", "no face: gravel texture, speech audio",
                 (), voice=G, background="texture"),
        ClipPlan(1, 2, "Eileen", "The microphone is off, but I am talking.", "anger", "negative",
                 "ok", E, "Eileen alone, talking; clip has no audio stream",
                 (FacePlan(E, "center", "audio", True),), voice=None),
        ClipPlan(2, 0, "Eileen", "This clip was never cut.", "sadness", "negative",
                 "no_video", "NONE", "CSV row whose clip is missing", kind="missing"),
        ClipPlan(2, 1, "Grace", "This clip is empty.", "disgust", "negative",
                 "no_video", "NONE", "zero-byte clip", kind="empty"),
        ClipPlan(2, 2, "Eileen", "This clip is garbage.", "anger", "negative",
                 "no_video", "NONE", "corrupt clip (random bytes)", kind="corrupt"),
    ]


_F0 = {"EILEEN": 205.0, "GRACE": 160.0}  # voice pitch per speaker
_FACE_WIDTH = {"center": 118.0, "left": 100.0, "right": 100.0}
_SLOT_X = {"center": 0.5, "left": 0.27, "right": 0.73}


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (np.sqrt((a * a).sum() * (b * b).sum()) + 1e-12))


def independent_envelope(reference: np.ndarray, n_samples: int, seed: int, key: int,
                         max_abs_corr: float = 0.2) -> np.ndarray:
    """A syllable envelope whose per-frame version is nearly uncorrelated with
    ``reference`` (per frame): random draws are retried deterministically."""
    best, best_c = None, 2.0
    for attempt in range(50):
        env = syllable_envelope(n_samples, _rng(seed, key, attempt))
        c = abs(_pearson(frame_envelope(env), reference))
        if c < best_c:
            best, best_c = env, c
        if c <= max_abs_corr:
            break
    return best


# --------------------------------------------------------------------------
# Rendering and encoding
# --------------------------------------------------------------------------

def _ffmpeg_encode(frames, n_frames: int, wav: Path | None, out: Path) -> None:
    """Pipe raw RGB frames to ffmpeg (libx264, yuv420p) and mux the wav as AAC."""
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{WIDTH}x{HEIGHT}",
           "-framerate", f"{FPS_NUM}/{FPS_DEN}", "-i", "pipe:0"]
    if wav is not None:
        cmd += ["-i", str(wav), "-map", "0:v", "-map", "1:a",
                "-c:a", "aac", "-b:a", "128k", "-ar", str(SAMPLE_RATE), "-ac", "2"]
    cmd += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
            "-g", "48",
            # bit-exact: no encoder version strings, so rebuilds are byte-identical
            "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
            "-map_metadata", "-1", "-movflags", "+faststart", str(out)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for frame in frames:
            proc.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    err = proc.stderr.read().decode(errors="replace")
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg failed for {out.name}: {err}")


def _write_wav(path: Path, mono: np.ndarray) -> None:
    from scipy.io import wavfile

    pcm = np.clip(mono * 32767.0, -32768, 32767).astype(np.int16)
    wavfile.write(str(path), SAMPLE_RATE, np.stack([pcm, pcm], axis=1))


def _sway(n: int, rng: np.random.Generator) -> np.ndarray:
    """Small integer head motion (px) of a talking face: a slow nod plus drift."""
    t = np.arange(n) / (FPS_NUM / FPS_DEN)
    dx = 3.0 * np.sin(2 * np.pi * rng.uniform(0.3, 0.6) * t + rng.uniform(0, 6.3))
    dy = 2.0 * np.sin(2 * np.pi * rng.uniform(0.4, 0.8) * t + rng.uniform(0, 6.3))
    return np.round(np.stack([dx, dy], 1)).astype(int)


def _render_clip(plan: ClipPlan, idx: int, seed: int, photos: dict, landmarks: dict,
                 out_dir: Path, tmp: Path) -> dict:
    rng = _rng(seed, 100 + idx)
    n_frames = int(rng.integers(50, 59))  # 2.09-2.46 s
    n_samples = n_frames * SAMPLES_PER_FRAME
    voice_env = syllable_envelope(n_samples, _rng(seed, 200 + idx))
    audio_env = frame_envelope(voice_env)
    entry = {
        "dialogue_id": plan.dia, "utterance_id": plan.utt, "speaker": plan.speaker,
        "scenario": plan.scenario, "expected_status": plan.expected_status,
        "expected_identity": plan.expected_identity,
        "clip": f"meld/dev_splits_complete/{plan.clip_id}.mp4",
        "has_video": True, "has_audio": plan.voice is not None, "n_frames": n_frames,
        "duration_s": round(n_frames * FPS_DEN / FPS_NUM, 4),
        "voice": plan.voice,
        "audio_envelope": [round(float(v), 4) for v in audio_env] if plan.voice else None,
        "faces": [],
    }

    wav = None
    if plan.voice is not None:
        speech = synthesize_speech(voice_env, _rng(seed, 300 + idx), f0_hz=_F0[plan.voice])
        wav = tmp / f"{plan.clip_id}.wav"
        _write_wav(wav, speech)

    bg_rng = _rng(seed, 400 + idx)
    if plan.background == "texture":
        texture = texture_background(bg_rng)
        pan = np.round(np.linspace(0, 60, n_frames)).astype(int)  # slow camera pan
        backgrounds = (texture[:HEIGHT, p:p + WIDTH] for p in pan)
    else:
        bg = studio_background(bg_rng)
        backgrounds = (bg for _ in range(n_frames))

    layers = []
    for k, fp in enumerate(plan.faces):
        tile = make_tile(fp.identity, photos[fp.identity], landmarks[fp.identity],
                         _FACE_WIDTH[fp.slot])
        th, tw = tile.image.shape[:2]
        fx1, fy1, fx2, fy2 = tile.face_box
        # face centred on its slot; the tile sits on the bottom edge of the frame
        x = int(round(_SLOT_X[fp.slot] * WIDTH - (fx1 + fx2) / 2))
        y = HEIGHT - th + int(0.1 * th)
        if fp.mouth == "audio":
            env = audio_env
        elif fp.mouth == "other":
            env = frame_envelope(independent_envelope(audio_env, n_samples, seed, 500 + 10 * idx + k))
        else:
            env = np.zeros(n_frames)
        moving = fp.mouth != "still"
        sway = _sway(n_frames, _rng(seed, 600 + 10 * idx + k)) if moving else np.zeros((n_frames, 2), int)
        drop_px = max_jaw_drop(tile.lm)
        boxes = []
        for i in range(n_frames):
            d = env[i] * drop_px
            boxes.append([round(float(v), 1) for v in (
                fx1 + x + sway[i, 0], fy1 + y + sway[i, 1],
                fx2 + x + sway[i, 0], fy2 + y + sway[i, 1] + d)])
        layers.append((tile, x, y, env, sway))
        entry["faces"].append({
            "identity": fp.identity, "slot": fp.slot, "is_speaker": fp.is_speaker,
            "mouth_moves": moving, "mouth_follows_audio": fp.mouth == "audio",
            "still": not moving,
            "mouth_envelope": [round(float(v), 4) for v in env],
            "box": boxes[0], "boxes": boxes,
        })

    def frames():
        for i, bg in enumerate(backgrounds):
            frame = bg.copy()
            for tile, x, y, env, sway in layers:
                img = open_mouth(tile.image, tile.lm, float(env[i])) if env[i] > 0 else tile.image
                paste(frame, img, tile.alpha, x + sway[i, 0], y + sway[i, 1])
            yield frame

    _ffmpeg_encode(frames(), n_frames, wav, out_dir / f"{plan.clip_id}.mp4")
    if wav is not None:
        wav.unlink()
    return entry


def library_image(photo: np.ndarray, lm: np.ndarray, rng: np.random.Generator,
                  mouth: float, size: int = LIBRARY_CROP) -> np.ndarray:
    """One augmented ``size`` x ``size`` face crop: shift, scale, rotation,
    brightness/contrast and a mouth state, the face filling ~70 % of the crop."""
    import cv2

    img = open_mouth(photo, lm, mouth)
    x1, y1 = lm.min(0)
    x2, y2 = lm.max(0)
    side = 1.45 * max(x2 - x1, y2 - y1) * rng.uniform(0.92, 1.08)
    cx = (x1 + x2) / 2 + rng.uniform(-0.06, 0.06) * side
    cy = (y1 + y2) / 2 + rng.uniform(-0.06, 0.06) * side
    angle = rng.uniform(-6.0, 6.0)
    s = size / side
    m = cv2.getRotationMatrix2D((float(cx), float(cy)), angle, s)
    m[:, 2] += [size / 2 - cx, size / 2 - cy]
    crop = cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_REFLECT).astype(np.float32)
    gain, contrast = rng.uniform(0.8, 1.2), rng.uniform(0.85, 1.15)
    mean = crop.mean()
    crop = ((crop - mean) * contrast + mean) * gain
    return np.clip(crop, 0, 255).astype(np.uint8)


def _write_csv(path: Path, plans: list[ClipPlan], entries: dict) -> None:
    def stamp(sec: float) -> str:
        ms = int(round(sec * 1000))
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        clock = {}
        for sr_no, p in enumerate(plans, start=1):
            dur = entries[p.clip_id].get("duration_s") or 2.25
            start = clock.get(p.dia, 312.31 + 97.0 * p.dia)  # 00:05:12,310 ...
            clock[p.dia] = start + dur + 0.4
            w.writerow([sr_no, p.text, p.speaker, p.emotion, p.sentiment, p.dia, p.utt,
                        3, 7 + p.dia, stamp(start), stamp(start + dur)])


def _build(root: Path, seed: int) -> dict:
    from PIL import Image

    clips = root / "meld" / "dev_splits_complete"
    clips.mkdir(parents=True)
    lib = root / "face_library" / "Eileen"
    lib.mkdir(parents=True)
    work = root / ".work"
    work.mkdir()

    photos = load_photos()
    landmarks = {k: face_mesh_landmarks(v) for k, v in photos.items()}

    plans = scenario_plan()
    entries = {}
    for idx, p in enumerate(plans):
        path = clips / f"{p.clip_id}.mp4"
        if p.kind == "video":
            entries[p.clip_id] = _render_clip(p, idx, seed, photos, landmarks, clips, work)
            continue
        if p.kind == "empty":
            path.write_bytes(b"")
        elif p.kind == "corrupt":
            path.write_bytes(_rng(seed, 700 + idx).integers(0, 256, 8192, dtype=np.uint8).tobytes())
        entries[p.clip_id] = {
            "dialogue_id": p.dia, "utterance_id": p.utt, "speaker": p.speaker,
            "scenario": p.scenario, "expected_status": p.expected_status,
            "expected_identity": p.expected_identity,
            "clip": f"meld/dev_splits_complete/{p.clip_id}.mp4",
            "has_video": False, "has_audio": False, "n_frames": 0, "duration_s": None,
            "voice": None, "audio_envelope": None, "faces": [], "file": p.kind,
        }
    _write_csv(root / "meld" / "dev_sent_emo.csv", plans, entries)

    lib_rng = _rng(seed, 800)
    library = []
    for i in range(LIBRARY_SIZE):
        mouth = (0.0, 0.3, 0.6, 0.9)[i % 4]
        img = library_image(photos["EILEEN"], landmarks["EILEEN"], lib_rng, mouth)
        name = f"eileen_{i:02d}.jpg"
        Image.fromarray(img).save(lib / name, quality=92)
        library.append(f"face_library/Eileen/{name}")
    shutil.rmtree(work)

    gt = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "fps": f"{FPS_NUM}/{FPS_DEN}",
        "width": WIDTH, "height": HEIGHT, "sample_rate": SAMPLE_RATE,
        "samples_per_frame": SAMPLES_PER_FRAME,
        "csv": "meld/dev_sent_emo.csv",
        "clips_dir": "meld/dev_splits_complete",
        "face_library": "face_library",
        "leading_roles": ["Eileen"],
        "identities": {
            "EILEEN": {"csv_name": "Eileen", "in_library": True,
                       "source": "skimage.data.astronaut()"},
            "GRACE": {"csv_name": "Grace", "in_library": False,
                      "source": "matplotlib sample_data grace_hopper.jpg"},
        },
        "library": {"Eileen": library},
        "box_definition": "extent of mediapipe face-mesh landmarks (x1, y1, x2, y2), clip pixels",
        "utterances": entries,
    }
    (root / "ground_truth.json").write_text(json.dumps(gt, indent=1))
    return gt


def _read_gt(root: Path) -> dict | None:
    try:
        return json.loads((root / "ground_truth.json").read_text())
    except (OSError, ValueError):
        return None


def build_demo(root: Path, seed: int = 0, force: bool = False) -> dict:
    """Build the demo data set under ``root`` (idempotent); return the ground truth."""
    root = Path(root).absolute()
    gt = _read_gt(root)
    if not force and gt and gt.get("generator_version") == GENERATOR_VERSION and gt.get("seed") == seed:
        return gt
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        gt = _build(tmp, seed)
        if root.exists():
            # directories cannot be renamed over non-empty ones: move the old aside
            trash = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
            os.rename(root, trash / "old")
            os.rename(tmp, root)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            try:
                os.rename(tmp, root)
            except OSError:
                # a concurrent builder won the race; keep its (identical) result
                other = _read_gt(root)
                if not (other and other.get("generator_version") == GENERATOR_VERSION
                        and other.get("seed") == seed):
                    raise
                gt = other
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return gt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m facseq.demo", description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = ap.parse_args(argv)
    t0 = time.time()
    gt = build_demo(args.root, seed=args.seed, force=args.force)
    print(f"demo data set at {args.root} ({time.time() - t0:.1f} s)")
    for cid, u in gt["utterances"].items():
        print(f"  {cid:10s} {u['speaker']:7s} {u['expected_status']:17s} {u['expected_identity']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
