"""facseq.rules: the speaking rules on synthetic 468-point face meshes with planted mouth motion."""

from __future__ import annotations

import numpy as np
import pytest

from facseq.rules import (
    EYE_ANCHOR,
    LEFT_EYE_OUTER,
    LEFT_INNER_CORNER,
    LIP_POINTS,
    LOWER_INNER_LIP,
    RIGHT_EYE_OUTER,
    RIGHT_INNER_CORNER,
    UPPER_INNER_LIP,
    RuleSettings,
    TrackEvidence,
    audio_envelope,
    count_open_close,
    lagged_correlation,
    mouth_movement,
    mouth_series,
    track_rule_scores,
    vote_possible_speakers,
)

EYE = 100.0  # eye-corner distance of the neutral face, pixels
# lower-lip points of the mediapipe mesh (outer and inner contour): they follow the jaw
LOWER_LIP = (17, 84, 181, 91, 146, 314, 405, 321, 375, 14, 87, 178, 88, 95, 317, 402, 318, 324)


def neutral_face() -> np.ndarray:
    """(468, 2) face at the origin: eyes at y=0 (outer corners 100 px apart), mouth at y=80, closed."""
    rng = np.random.default_rng(42)
    face = rng.uniform(-60, 60, size=(468, 2))  # the rest of the mesh: anywhere on the face
    face[LEFT_EYE_OUTER], face[RIGHT_EYE_OUTER] = (-EYE / 2, 0), (EYE / 2, 0)
    face[133], face[362], face[168], face[6] = (-20, 0), (20, 0), (0, -5), (0, 15)
    angles = np.linspace(0, 2 * np.pi, len(LIP_POINTS), endpoint=False)
    for p, a in zip(LIP_POINTS, angles):
        face[p] = (30 * np.cos(a), 80 + 10 * np.sin(a))
    face[UPPER_INNER_LIP] = face[LOWER_INNER_LIP] = (0, 80)
    face[LEFT_INNER_CORNER], face[RIGHT_INNER_CORNER] = (-25, 80), (25, 80)
    return face


def face_with(gap: float, shift=(0.0, 0.0), scale: float = 1.0) -> np.ndarray:
    """The neutral face with the jaw lowered by `gap` eye distances, then scaled and moved."""
    face = neutral_face()
    face[list(LOWER_LIP), 1] += gap * EYE
    return face * scale + np.asarray(shift)


def landmarks_for(gaps, shifts=None, scales=None) -> np.ndarray:
    n = len(gaps)
    shifts = np.zeros((n, 2)) if shifts is None else shifts
    scales = np.ones(n) if scales is None else scales
    return np.stack([face_with(g, s, k) for g, s, k in zip(gaps, shifts, scales)])


def talking_gaps(cycles: int, period: int = 12, closed: float = 0.01, peak: float = 0.15) -> np.ndarray:
    """`cycles` full open->close cycles, closed at both ends."""
    t = np.arange(cycles * period + 1)
    return closed + (peak - closed) * np.sin(np.pi * t / period) ** 2


# ------------------------------------------------------------------------------ mouth_series
def test_mouth_series_normalises_by_eye_distance():
    gaps = np.array([0.0, 0.05, 0.12])
    series = mouth_series(np.arange(3), landmarks_for(gaps, scales=[1.0, 2.5, 0.4]))
    np.testing.assert_allclose(series.gap, gaps, atol=1e-12)
    np.testing.assert_allclose(series.width, 0.5)
    assert series.lips.shape == (3, len(LIP_POINTS), 2)
    # lips are expressed relative to the eye anchor, in eye distances: scale-free
    neutral_anchor = neutral_face()[list(EYE_ANCHOR)].mean(axis=0)
    expected = (neutral_face()[list(LIP_POINTS)] - neutral_anchor) / EYE
    np.testing.assert_allclose(series.lips[0], expected, atol=1e-12)


def test_mouth_series_drops_failed_frames_and_sorts():
    marks = landmarks_for([0.1, 0.2, 0.3, 0.4])
    marks[2, 100] = np.nan  # the mesh failed on one point of this frame
    series = mouth_series(np.array([7, 5, 6, 4]), marks)
    np.testing.assert_array_equal(series.frames, [4, 5, 7])
    np.testing.assert_allclose(series.gap, [0.4, 0.2, 0.1], atol=1e-12)


# ------------------------------------------------------------------------------ count_open_close
@pytest.mark.parametrize("cycles", [0, 1, 3, 7])
def test_open_close_counts_planted_cycles(cycles):
    gaps = talking_gaps(cycles) if cycles else np.full(30, 0.01)
    series = mouth_series(np.arange(len(gaps)), landmarks_for(gaps))
    count, fraction = count_open_close(series.gap, 0.08, 0.6)
    assert count == cycles
    if cycles:
        # open while sin^2 above (0.08-0.01)/0.14 = 0.5 rising, closed below 0.038/0.14 falling
        assert 0.4 < fraction < 0.7
    else:
        assert fraction == 0.0


def test_hysteresis_ignores_jitter_around_threshold():
    jitter = 0.08 + 0.012 * np.where(np.arange(60) % 2, 1, -1)  # 0.068 / 0.092, flipping every frame
    count, fraction = count_open_close(jitter, 0.08, 0.6)
    assert count == 0  # opens once, never falls under 0.048
    assert fraction == pytest.approx(59 / 60)
    # without hysteresis the same jitter would count as talking
    assert count_open_close(jitter, 0.08, 1.0)[0] == 29


def test_open_fraction_and_unfinished_cycle():
    gap = np.array([0.0] * 4 + [0.2] * 6 + [0.0] * 5 + [0.2] * 5)  # ends open
    count, fraction = count_open_close(gap, 0.08, 0.6)
    assert count == 1  # the last opening never closes
    assert fraction == pytest.approx(11 / 20)
    assert count_open_close(np.zeros(0), 0.08, 0.6) == (0, 0.0)


# ------------------------------------------------------------------------------ mouth_movement
def test_movement_zero_for_still_face():
    series = mouth_series(np.arange(20), landmarks_for(np.full(20, 0.03)))
    moves = mouth_movement(series)
    assert moves.shape == (19,)
    np.testing.assert_allclose(moves, 0.0, atol=1e-12)


def test_head_motion_is_not_mouth_motion():
    n = 25
    t = np.arange(n)
    shifts = np.stack([40 * np.sin(t / 3), 7.0 * t], axis=1)  # sways and walks down the frame
    scales = 1 + 0.02 * t  # and comes closer
    still = mouth_movement(mouth_series(t, landmarks_for(np.full(n, 0.03), shifts, scales)))
    np.testing.assert_allclose(still, 0.0, atol=1e-9)
    # the same head motion with a talking mouth
    talking = mouth_movement(mouth_series(t, landmarks_for(talking_gaps(2)[:n], shifts, scales)))
    plain = mouth_movement(mouth_series(t, landmarks_for(talking_gaps(2)[:n])))
    np.testing.assert_allclose(talking, plain, atol=1e-9)
    assert talking.mean() > 0.02


def test_movement_grows_with_mouth_motion_and_skips_non_adjacent_frames():
    gaps = talking_gaps(3)
    series = mouth_series(np.arange(len(gaps)), landmarks_for(gaps))
    moves = mouth_movement(series)
    d = np.abs(np.diff(gaps))
    # lower-lip points move by d each: mean over the 40 lip points + |d gap|; width constant
    np.testing.assert_allclose(moves, d * len(LOWER_LIP) / len(LIP_POINTS) + d, atol=1e-9)
    assert moves.mean() > 0.02
    frames = np.r_[0:5, 9:14]  # a hole: the pair (4, 9) is not a frame-to-frame movement
    series = mouth_series(frames, landmarks_for(np.r_[np.zeros(5), np.full(5, 0.5)]))
    moves = mouth_movement(series)
    assert moves.shape == (8,)
    np.testing.assert_allclose(moves, 0.0, atol=1e-12)


# ------------------------------------------------------------------------------ lagged_correlation
def smooth_noise(n, seed):
    rng = np.random.default_rng(seed)
    return np.convolve(rng.normal(size=n + 6), np.ones(7) / 7, mode="valid")


@pytest.mark.parametrize("lag", [-4, -1, 0, 2, 5])
def test_lagged_correlation_finds_planted_lag(lag):
    x = smooth_noise(80, seed=1)
    y = np.roll(x, lag)  # y[t + lag] = x[t]
    r, found = lagged_correlation(x, y, max_lag=5, min_overlap=8)
    assert found == lag
    assert r == pytest.approx(1.0, abs=1e-9)


def test_lagged_correlation_anticorrelated_and_noise():
    x = smooth_noise(200, seed=2)
    r, _ = lagged_correlation(x, -x, max_lag=0, min_overlap=8)
    assert r == pytest.approx(-1.0)
    r, _ = lagged_correlation(x, smooth_noise(200, seed=3), max_lag=3, min_overlap=8)
    assert abs(r) < 0.5


def test_lagged_correlation_undefined_is_nan():
    x = smooth_noise(40, seed=4)
    for a, b in ((np.full(40, 0.3), x), (x, np.full(40, -20.0))):
        r, lag = lagged_correlation(a, b, max_lag=3, min_overlap=8)
        assert np.isnan(r) and lag == 0
    r, lag = lagged_correlation(x[:6], x[:6], max_lag=2, min_overlap=8)  # too short
    assert np.isnan(r) and lag == 0


def test_lagged_correlation_max_lag_longer_than_series():
    # lags beyond the series have no overlap: skipped, not wrapped around (nor a crash)
    x = np.array([0.0, 1.0, 0.0, 2.0, 0.5])
    r, lag = lagged_correlation(x, x, max_lag=8, min_overlap=2)
    assert lag == 0 and r == pytest.approx(1.0)
    y = np.array([9.0, 0.0, 1.0, 0.0, 2.0])  # y[t + 1] = x[t]
    r, lag = lagged_correlation(x[:4], y[:4], max_lag=6, min_overlap=3)
    assert lag == 1 and r == pytest.approx(1.0)


def test_short_track_with_audio_and_small_min_frames():
    # settings a user may pick: judge tracks from 3 frames at 25 fps (lags up to 5 frames)
    settings = RuleSettings(min_frames=3)
    gaps = np.array([0.01, 0.12, 0.02, 0.13])
    e = evidence_for(0, gaps, envelope_following(gaps, n=10), settings=settings)
    assert e.note == "" and e.n_frames == 4
    assert e.av_correlation == pytest.approx(1.0) and e.av_lag_frames == 0


# ------------------------------------------------------------------------------ audio_envelope
def test_audio_envelope_recovers_bursts():
    rate, fps = 16_000, 25.0
    t = np.arange(2 * rate) / rate
    bursts = [(0.5, 1.0), (1.5, 1.8)]
    loud = np.zeros_like(t, dtype=bool)
    for a, b in bursts:
        loud |= (t >= a) & (t < b)
    samples = np.where(loud, 0.5 * np.sin(2 * np.pi * 440 * t), 0.0)
    times = np.arange(50) / fps
    window = 0.04
    env = audio_envelope(samples, rate, times, window)
    assert env.shape == (50,)
    peak = 20 * np.log10(0.5 / np.sqrt(2))
    assert env.max() == pytest.approx(peak, abs=0.2)
    assert env.min() == pytest.approx(env.max() - 60.0)  # silence floored 60 dB under the peak
    near_edge = np.array([min(abs(x - e) for pair in bursts for e in pair) <= window / 2 for x in times])
    inside = np.array([any(a <= x < b for a, b in bursts) for x in times])
    found = env > peak - 30
    np.testing.assert_array_equal(found[~near_edge], inside[~near_edge])
    # frames well inside a burst are at full level, well outside at the floor
    np.testing.assert_allclose(env[inside & ~near_edge], peak, atol=0.2)
    np.testing.assert_allclose(env[~inside & ~near_edge], env.max() - 60.0)


def test_audio_envelope_times_past_the_end_and_silence():
    rate = 16_000
    samples = 0.1 * np.ones(rate // 2)  # 0.5 s of DC at -20 dB
    env = audio_envelope(samples, rate, np.array([0.0, 0.25, 0.7, 5.0]), 0.04)
    assert np.isfinite(env).all()
    assert env[1] == pytest.approx(-20.0, abs=1e-6)
    assert env[2] == env[3] == pytest.approx(-80.0)  # after the end: floor
    silent = audio_envelope(np.zeros(rate), rate, np.arange(10) / 25, 0.04)
    assert np.isfinite(silent).all() and np.ptp(silent) == 0


# ------------------------------------------------------------------------------ track scores and votes
FPS = 25.0


def evidence_for(track, gaps, envelope=None, frames=None, settings=RuleSettings()):
    frames = np.arange(len(gaps)) if frames is None else frames
    series = mouth_series(frames, landmarks_for(gaps))
    return track_rule_scores(track, series, FPS, settings, envelope)


def envelope_following(gaps, lag=0, n=None):
    """dB envelope that follows the mouth opening `lag` frames later (voice after the lips)."""
    n = len(gaps) if n is None else n
    env = np.full(n, -70.0)
    env[: len(gaps)] = -60 + 300 * gaps
    return np.roll(env, lag)


def test_track_rule_scores_of_a_talking_face():
    gaps = talking_gaps(4)  # 49 frames
    e = evidence_for(0, gaps, envelope_following(gaps, lag=3))
    assert e.n_frames == len(gaps) and e.note == ""
    assert e.open_close_count == 4
    assert e.movement > 0.02
    assert e.av_correlation == pytest.approx(1.0, abs=1e-6)
    assert e.av_lag_frames == 3  # within av_max_lag_s * fps = 5


def test_track_rule_scores_fill_track_holes_for_the_audio_rule():
    gaps = talking_gaps(4)
    frames = np.arange(len(gaps))
    keep = np.ones(len(gaps), dtype=bool)
    keep[[10, 11, 30]] = False  # mesh failed there: the track has holes
    e = evidence_for(0, gaps[keep], envelope_following(gaps), frames=frames[keep])
    assert e.n_frames == keep.sum()
    assert e.av_lag_frames == 0
    assert e.av_correlation > 0.95


def test_talking_face_is_a_speaker_still_face_is_not():
    settings = RuleSettings()
    gaps = talking_gaps(4)
    rng = np.random.default_rng(5)
    still = 0.02 + rng.normal(0, 1e-4, size=len(gaps))
    env = envelope_following(gaps, lag=1)
    evidence = [evidence_for(0, gaps, env), evidence_for(1, still, env)]
    vote_possible_speakers(evidence, settings)
    talk, quiet = evidence
    assert (talk.vote_open_close, talk.vote_movement, talk.vote_av) == (True, True, True)
    assert talk.votes == talk.n_rules == 3
    assert talk.speaking_score == 1.0 and talk.possible_speaker
    assert not quiet.vote_open_close and not quiet.vote_movement
    assert quiet.n_rules == 3 and quiet.votes <= 1
    assert not quiet.possible_speaker
    assert quiet.speaking_score < 0.5


def test_no_audio_uses_two_rules():
    settings = RuleSettings()
    gaps = talking_gaps(3)
    evidence = vote_possible_speakers([evidence_for(0, gaps), evidence_for(1, np.full(len(gaps), 0.02))], settings)
    talk, quiet = evidence
    assert talk.vote_av is None and np.isnan(talk.av_correlation)
    assert (talk.n_rules, talk.votes, talk.possible_speaker) == (2, 2, True)
    assert (quiet.n_rules, quiet.votes, quiet.possible_speaker) == (2, 0, False)
    # with two rules, both must pass: a mouth that opens and closes once but barely moves is not enough
    slow = np.r_[np.full(20, 0.0), np.linspace(0, 0.1, 50), np.linspace(0.1, 0.0, 50)]
    half = vote_possible_speakers([evidence_for(2, slow)], RuleSettings(movement_threshold=0.01))[0]
    assert half.vote_open_close and not half.vote_movement
    assert (half.n_rules, half.votes, half.possible_speaker) == (2, 1, False)


def test_silent_audio_gives_no_av_vote():
    gaps = talking_gaps(3)
    e = vote_possible_speakers([evidence_for(0, gaps, np.full(len(gaps), -80.0))], RuleSettings())[0]
    assert np.isnan(e.av_correlation) and e.vote_av is None and e.n_rules == 2
    assert e.possible_speaker


def test_movement_vote_is_relative_to_the_most_moving_face():
    loud = talking_gaps(4, peak=0.4)
    soft = talking_gaps(4, closed=0.01, peak=0.12)  # opens and closes, but moves far less
    evidence = vote_possible_speakers([evidence_for(0, loud), evidence_for(1, soft)], RuleSettings())
    assert evidence[1].movement > 0.02  # passes the absolute threshold ...
    assert evidence[1].movement < 0.5 * evidence[0].movement  # ... not the relative one
    assert evidence[0].vote_movement and not evidence[1].vote_movement
    assert evidence[0].possible_speaker and not evidence[1].possible_speaker


def test_too_short_tracks_are_noted_and_never_speakers():
    settings = RuleSettings(min_frames=8)
    short = evidence_for(3, talking_gaps(1, period=6), envelope_following(talking_gaps(1, period=6)))  # 7 frames
    assert short.n_frames == 7
    assert "too short" in short.note and "7" in short.note
    assert short.open_close_count == 0 and np.isnan(short.movement) and np.isnan(short.av_correlation)
    # judged next to a talking face, it gets no vote and does not count in the comparison
    gaps = talking_gaps(3)
    evidence = vote_possible_speakers([short, evidence_for(0, gaps)], settings)
    assert not evidence[0].possible_speaker and evidence[0].votes == 0 and evidence[0].n_rules == 0
    assert evidence[1].possible_speaker


def test_evidence_row_flattens_extra():
    e = TrackEvidence(track=2, n_frames=10, extra={"first_time_s": 0.4, "last_time_s": 0.8})
    row = e.row()
    assert row["track"] == 2 and row["first_time_s"] == 0.4 and row["last_time_s"] == 0.8
    assert "extra" not in row
