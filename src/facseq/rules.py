"""The multimodal speaking rules of FacialMMT (Appendix A.1) on mediapipe face-mesh landmarks.

Three rules per face track, each a score over time and a vote:
1. mouth open-close count: the inner-lip gap, normalised by the eye-corner distance, crosses an
   "open" threshold and comes back below a lower "closed" threshold (hysteresis stops jitter counting);
2. mouth movement: between consecutive frames, lip landmark motion relative to the eyes (so head motion
   does not count) + change of inner-corner width + change of inner-lip height;
3. lip/audio agreement ("voice activity detection"): which frames have speech (Silero VAD, `facseq.vad`)
   and whether the lips move with it. Its score is the correlation of the mouth-opening series with the
   audio energy where the VAD hears speech (non-speech sound counts as silence), best over small lags
   (lips lead or trail the voice by up to ~0.2 s); a track whose lips move only where there is no speech
   is not a possible speaker, whatever the other rules say. With `speech_activity: energy` (or without
   VAD) the raw energy envelope is used instead, as before; its correlation is always kept as a second
   score (`av_energy_correlation`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

# mediapipe face-mesh (468 points) indices
UPPER_INNER_LIP, LOWER_INNER_LIP = 13, 14
LEFT_INNER_CORNER, RIGHT_INNER_CORNER = 78, 308
LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 33, 263
EYE_ANCHOR = (33, 133, 362, 263, 168, 6)  # eyes and nose bridge: rigid with the head, not the jaw
LIP_POINTS = (
    61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146,
    78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95,
)  # fmt: skip


@dataclass(frozen=True)
class RuleSettings:
    open_threshold: float = 0.08  # inner-lip gap / eye-corner distance above which the mouth is open
    close_ratio: float = 0.6  # closed again below open_threshold * close_ratio
    min_open_close: int = 1  # open->close cycles a speaker shows at least
    movement_threshold: float = 0.02  # mean per-frame mouth movement (eye-corner units)
    relative_movement: float = 0.5  # ... and at least this share of the most moving track's
    av_threshold: float = 0.2  # lip/audio correlation of a speaker
    av_max_lag_s: float = 0.2
    min_frames: int = 8  # shorter tracks are not judged
    min_votes: int = 2  # rules (of those available) a possible speaker must pass
    speech_activity: str = "vad"  # "vad": Silero speech probability gates the audio; "energy": raw energy
    speech_threshold: float = 0.5  # VAD probability from which a frame has speech
    min_speech_movement: float = 0.3  # share of a track's mouth movement that must fall on speech frames


@dataclass
class MouthSeries:
    """Per-frame mouth measurements of one track (frames need not be contiguous)."""

    frames: np.ndarray  # (T,) int
    gap: np.ndarray  # (T,) inner-lip height / eye distance
    width: np.ndarray  # (T,) inner-corner width / eye distance
    lips: np.ndarray  # (T, L, 2) lip points relative to the eye anchor, in eye distances


@dataclass
class TrackEvidence:
    track: int
    n_frames: int
    open_close_count: int = 0
    open_fraction: float = float("nan")
    movement: float = float("nan")
    av_correlation: float = float("nan")
    av_lag_frames: int = 0
    av_energy_correlation: float = float("nan")  # the same correlation with the raw energy envelope
    speech_movement: float = float("nan")  # movement-weighted mean speech probability (VAD)
    vote_open_close: bool = False
    vote_movement: bool = False
    vote_av: bool | None = None  # None: no audio or too short to judge
    votes: int = 0
    n_rules: int = 0
    speaking_score: float = float("nan")
    possible_speaker: bool = False
    veto: str = ""  # why the track cannot be the speaker despite its votes
    note: str = ""
    extra: dict = field(default_factory=dict)

    def row(self) -> dict:
        row = asdict(self)
        row.update(row.pop("extra"))
        return row


def mouth_series(frames: np.ndarray, landmarks: np.ndarray) -> MouthSeries:
    """landmarks: (T, 468, 2) pixel coordinates (NaN where the mesh failed) -> MouthSeries of valid frames."""
    frames = np.asarray(frames)
    landmarks = np.asarray(landmarks, dtype=np.float64)
    valid = np.isfinite(landmarks).all(axis=(1, 2))
    frames, landmarks = frames[valid], landmarks[valid]
    order = np.argsort(frames, kind="stable")
    frames, landmarks = frames[order], landmarks[order]
    eye = np.linalg.norm(landmarks[:, LEFT_EYE_OUTER] - landmarks[:, RIGHT_EYE_OUTER], axis=1)
    eye = np.maximum(eye, 1e-6)
    gap = np.linalg.norm(landmarks[:, UPPER_INNER_LIP] - landmarks[:, LOWER_INNER_LIP], axis=1) / eye
    width = np.linalg.norm(landmarks[:, LEFT_INNER_CORNER] - landmarks[:, RIGHT_INNER_CORNER], axis=1) / eye
    anchor = landmarks[:, list(EYE_ANCHOR)].mean(axis=1, keepdims=True)
    lips = (landmarks[:, list(LIP_POINTS)] - anchor) / eye[:, None, None]
    return MouthSeries(frames, gap, width, lips)


def count_open_close(gap: np.ndarray, open_threshold: float, close_ratio: float) -> tuple[int, float]:
    """Open->closed cycles with hysteresis, and the fraction of frames with the mouth open."""
    is_open, cycles, open_frames = False, 0, 0
    for value in gap:
        if not is_open and value > open_threshold:
            is_open = True
        elif is_open and value < open_threshold * close_ratio:
            is_open = False
            cycles += 1
        open_frames += is_open
    return cycles, open_frames / max(len(gap), 1)


def mouth_movement(series: MouthSeries) -> np.ndarray:
    """Per consecutive-frame pair: lip motion + |d width| + |d height| (eye-distance units)."""
    step = np.diff(series.frames) == 1
    lip_motion = np.linalg.norm(np.diff(series.lips, axis=0), axis=2).mean(axis=1)
    change = lip_motion + np.abs(np.diff(series.width)) + np.abs(np.diff(series.gap))
    return change[step]


def audio_envelope(samples: np.ndarray, rate: int, times: np.ndarray, window_s: float) -> np.ndarray:
    """Log RMS energy (dB, floored 60 dB under the clip's peak) in a window centred on each time."""
    half = max(int(round(window_s * rate / 2)), 1)
    centres = np.round(np.asarray(times) * rate).astype(np.int64)
    power = np.concatenate([[0.0], np.cumsum(np.asarray(samples, dtype=np.float64) ** 2)])
    lo = np.clip(centres - half, 0, len(samples))
    hi = np.clip(centres + half, 0, len(samples))
    rms = np.sqrt((power[hi] - power[lo]) / np.maximum(hi - lo, 1))
    db = 20 * np.log10(rms + 1e-10)
    return np.maximum(db, db.max(initial=-200.0) - 60.0)


def lagged_correlation(x: np.ndarray, y: np.ndarray, max_lag: int, min_overlap: int) -> tuple[float, int]:
    """Best Pearson correlation of x[t] with y[t + lag] over |lag| <= max_lag (NaN if undefined)."""
    best, best_lag = float("nan"), 0
    n = len(x)
    for lag in range(-max_lag, max_lag + 1):
        if abs(lag) >= n:  # no overlap (negative slice ends would wrap around)
            continue
        # lag > 0: the voice comes after the mouth moves
        a, b = (x[: n - lag], y[lag:]) if lag >= 0 else (x[-lag:], y[: n + lag])
        if len(a) < min_overlap or a.std() < 1e-9 or b.std() < 1e-9:
            continue
        r = float(np.corrcoef(a, b)[0, 1])
        if np.isnan(best) or r > best:
            best, best_lag = r, lag
    return best, best_lag


def speech_gated(energy: np.ndarray, speech: np.ndarray, threshold: float) -> np.ndarray:
    """The energy envelope where there is speech, its floor elsewhere: noise and music count as silence."""
    energy = np.asarray(energy, dtype=np.float64)
    return np.where(np.asarray(speech) >= threshold, energy, energy.min(initial=0.0))


def speech_share_of_movement(moves: np.ndarray, speech_after: np.ndarray) -> float:
    """Movement-weighted mean speech probability: ~1 when the lips move while someone speaks, ~0 when
    they move only in silence or noise (NaN for lips that do not move)."""
    moves = np.asarray(moves, dtype=np.float64)
    total = moves.sum()
    return float((moves * np.asarray(speech_after)).sum() / total) if total > 1e-9 else float("nan")


def track_rule_scores(
    track: int,
    series: MouthSeries,
    fps: float,
    settings: RuleSettings,
    envelope_at_frame: np.ndarray | None,
    speech_at_frame: np.ndarray | None = None,
) -> TrackEvidence:
    """Scores of the three rules for one track; votes are set later by `vote_possible_speakers`.

    envelope_at_frame: (n_frames,) audio energy (dB) at each clip frame, None without audio;
    speech_at_frame: (n_frames,) VAD speech probability at each clip frame (used when
    `settings.speech_activity` is "vad")."""
    evidence = TrackEvidence(track=track, n_frames=len(series.frames))
    if len(series.frames) < settings.min_frames:
        evidence.note = f"too short to judge ({len(series.frames)} frames with landmarks)"
        return evidence
    evidence.open_close_count, evidence.open_fraction = count_open_close(
        series.gap, settings.open_threshold, settings.close_ratio
    )
    moves = mouth_movement(series)
    evidence.movement = float(moves.mean()) if len(moves) else float("nan")
    if envelope_at_frame is not None:
        # Correlate on a contiguous frame grid: fill gaps of the track by interpolation.
        grid = np.arange(series.frames[0], series.frames[-1] + 1)
        gap = np.interp(grid, series.frames, series.gap)
        at_grid = np.clip(grid, 0, len(envelope_at_frame) - 1)
        energy = envelope_at_frame[at_grid]
        max_lag = int(round(settings.av_max_lag_s * fps))
        evidence.av_energy_correlation, lag = lagged_correlation(gap, energy, max_lag, settings.min_frames)
        r = evidence.av_energy_correlation
        if settings.speech_activity == "vad" and speech_at_frame is not None:
            speech = np.asarray(speech_at_frame)[at_grid]
            r, lag = lagged_correlation(gap, speech_gated(energy, speech, settings.speech_threshold), max_lag,
                                        settings.min_frames)
            step = np.diff(series.frames) == 1
            after = np.asarray(speech_at_frame)[np.clip(series.frames[1:][step], 0, len(speech_at_frame) - 1)]
            evidence.speech_movement = speech_share_of_movement(moves, after)
        evidence.av_correlation, evidence.av_lag_frames = r, lag
    return evidence


def vote_possible_speakers(evidence: list[TrackEvidence], settings: RuleSettings) -> list[TrackEvidence]:
    """Set each rule's vote and the possible-speaker flag, comparing tracks of one utterance."""
    judged = [e for e in evidence if not e.note]
    most_movement = max((e.movement for e in judged if np.isfinite(e.movement)), default=0.0)
    for e in judged:
        e.vote_open_close = e.open_close_count >= settings.min_open_close
        e.vote_movement = bool(
            np.isfinite(e.movement)
            and e.movement >= settings.movement_threshold
            and e.movement >= settings.relative_movement * most_movement
        )
        e.vote_av = None if np.isnan(e.av_correlation) else bool(e.av_correlation >= settings.av_threshold)
        votes = [e.vote_open_close, e.vote_movement] + ([e.vote_av] if e.vote_av is not None else [])
        e.votes, e.n_rules = int(sum(votes)), len(votes)
        e.speaking_score = e.votes / e.n_rules
        e.possible_speaker = e.votes >= min(settings.min_votes, e.n_rules)
        lips_move = e.vote_open_close or e.vote_movement
        if lips_move and np.isfinite(e.speech_movement) and e.speech_movement < settings.min_speech_movement:
            e.possible_speaker = False
            e.veto = (f"lips move only where there is no speech ({e.speech_movement:.0%} of the mouth "
                      f"movement on speech frames < {settings.min_speech_movement:.0%})")
    return evidence
