"""facseq.vad (Silero VAD from the wheel) and the VAD-based lip/audio rule of facseq.rules.

The audio is made here: speech-like syllables from the demo generator (`facseq.demo.synthesize_speech`)
and noise bursts shaped like speech (same syllable envelope, same loudness) that are not speech."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from facseq.demo import SAMPLE_RATE as DEMO_RATE, syllable_envelope, synthesize_speech
from facseq.rules import RuleSettings, audio_envelope, mouth_series, track_rule_scores, vote_possible_speakers
from facseq.vad import CHUNK_SAMPLES, VAD_RATE, SpeechDetector, probability_at_times
from test_rules import landmarks_for

FPS = 25.0


@pytest.fixture(scope="module")
def vad():
    return SpeechDetector()


def speech(seconds: float, seed: int = 1) -> np.ndarray:
    """Speech-like syllables at 16 kHz (made at the demo's 48 kHz, resampled like the media stage)."""
    rng = np.random.default_rng(seed)
    envelope = syllable_envelope(int(seconds * DEMO_RATE), rng)
    return signal.resample_poly(synthesize_speech(envelope, rng), 1, DEMO_RATE // VAD_RATE).astype(np.float32)


def shaped_noise(seconds: float, seed: int = 2) -> np.ndarray:
    """Pink-ish noise with a syllable envelope at speech level: loud like speech, but no voice."""
    rng = np.random.default_rng(seed)
    n = int(seconds * VAD_RATE)
    noise = signal.lfilter([1.0], [1.0, -0.95], rng.standard_normal(n))
    x = noise * syllable_envelope(n, rng, sr=VAD_RATE)
    return (0.9 * x / np.abs(x).max()).astype(np.float32)


def test_probability_at_times_maps_chunks_to_frames():
    chunk_s = CHUNK_SAMPLES / VAD_RATE
    probs = np.array([0.0, 1.0, 1.0, 0.0])
    at = probability_at_times(probs, chunk_s, np.array([0.5, 1.5, 2.5, 4.5]) * chunk_s)
    np.testing.assert_allclose(at, [0.0, 1.0, 1.0, 0.0])
    assert probability_at_times(probs, chunk_s, np.array([10 * chunk_s]))[0] == 0.0  # past the audio
    assert probability_at_times(np.zeros(0), chunk_s, np.arange(3) / FPS).tolist() == [0.0, 0.0, 0.0]


def test_vad_hears_speech_not_speech_shaped_noise(vad):
    said = vad.chunk_probabilities(speech(3.0), VAD_RATE)
    noise = vad.chunk_probabilities(shaped_noise(3.0), VAD_RATE)
    assert len(said) == int(np.ceil(3.0 * VAD_RATE / CHUNK_SAMPLES))
    assert said.mean() > 0.6, said.round(2)
    assert noise.max() < 0.5, noise.round(2)
    # the two are equally loud: energy alone cannot tell them apart
    assert abs(20 * np.log10(np.std(speech(3.0)) / np.std(shaped_noise(3.0)))) < 6


def test_vad_rejects_other_rates_and_takes_empty_audio(vad):
    with pytest.raises(ValueError, match="16000 Hz"):
        vad.chunk_probabilities(np.zeros(4800), 48000)
    assert vad.speech_at_frames(np.zeros(0), VAD_RATE, np.arange(5) / FPS).tolist() == [0.0] * 5


def test_vad_is_silero_s_own_model_and_needs_no_torch(vad):
    # the wheel's ONNX model on onnxruntime: exactly what silero's own ONNX wrapper returns, within 1e-5
    # of its TorchScript model, and a job that scores speech never imports torch (1.3-1.6 s)
    import os
    import subprocess
    import sys
    import warnings

    import torch
    from silero_vad import load_silero_vad

    audio = np.concatenate([speech(2.0), shaped_noise(1.0), speech(0.7, seed=3)])
    ours = vad.chunk_probabilities(audio, VAD_RATE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        jit, wrapper = load_silero_vad(), load_silero_vad(onnx=True)
    with torch.no_grad():
        np.testing.assert_allclose(ours, jit.audio_forward(torch.from_numpy(audio), VAD_RATE)[0].numpy(), atol=1e-5)
    np.testing.assert_array_equal(ours, wrapper.audio_forward(torch.from_numpy(audio), VAD_RATE)[0].numpy())
    assert len(vad.chunk_probabilities(audio[:300], VAD_RATE)) == 1  # shorter than one chunk: zero-padded
    check = ("import sys; import numpy as np; from facseq.vad import SpeechDetector; "
             "SpeechDetector().chunk_probabilities(np.zeros(1600, np.float32), 16000); assert 'torch' not in sys.modules")
    from conftest import REPO

    subprocess.run([sys.executable, "-c", check], check=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})


def lips_and_sound(segment_s: float = 0.48, n_segments: int = 6, sound_when_still=None, sound_when_moving=None):
    """One face whose lips open and close (4 Hz) in even segments and stay shut in odd ones, and the
    clip's 16 kHz audio: `sound_when_moving` under the moving segments, `sound_when_still` under the others
    (near-silence where None)."""
    frames_per = int(round(segment_s * FPS))
    gaps, audio = [], []
    rng = np.random.default_rng(5)
    for k in range(n_segments):
        moving = k % 2 == 0
        t = np.arange(frames_per) / FPS
        gaps += list(0.12 * (1 - np.cos(2 * np.pi * 4 * t)) / 2 if moving else np.zeros(frames_per))
        source = sound_when_moving if moving else sound_when_still
        n = int(round(segment_s * VAD_RATE))
        audio.append(source(segment_s, seed=k)[:n] if source else 1e-4 * rng.standard_normal(n).astype(np.float32))
    frames = np.arange(len(gaps))
    return frames, landmarks_for(gaps), np.concatenate(audio)


def judge(frames, landmarks, audio, vad, activity: str):
    settings = RuleSettings(speech_activity=activity)
    n = int(frames.max()) + 1
    times = np.arange(n) / FPS
    envelope = audio_envelope(audio, VAD_RATE, times, 0.04)
    speech_at = vad.speech_at_frames(audio, VAD_RATE, times)
    evidence = track_rule_scores(0, mouth_series(frames, landmarks), FPS, settings, envelope, speech_at)
    return vote_possible_speakers([evidence], settings)[0]


def test_lips_moving_in_silence_while_noise_plays_are_rejected_by_vad_not_by_energy(vad):
    frames, landmarks, audio = lips_and_sound(sound_when_still=shaped_noise)
    energy_only = judge(frames, landmarks, audio, vad, "energy")
    with_vad = judge(frames, landmarks, audio, vad, "vad")
    # energy-only: the noise makes the audio rule vote no, but open-close and movement carry the track
    assert energy_only.vote_open_close and energy_only.vote_movement
    assert energy_only.possible_speaker and energy_only.veto == ""
    # VAD: no speech under the moving lips -> not a possible speaker
    assert with_vad.speech_movement < 0.3
    assert not with_vad.possible_speaker
    assert "no speech" in with_vad.veto
    # the raw-energy correlation is kept as a second score in both modes
    assert with_vad.av_energy_correlation == pytest.approx(energy_only.av_energy_correlation)
    assert energy_only.vote_av is False and energy_only.av_energy_correlation < RuleSettings().av_threshold


def test_lips_moving_with_speech_stay_possible_speakers(vad):
    frames, landmarks, audio = lips_and_sound(sound_when_moving=speech, sound_when_still=shaped_noise)
    with_vad = judge(frames, landmarks, audio, vad, "vad")
    assert with_vad.speech_movement > 0.5
    assert with_vad.possible_speaker and with_vad.veto == ""
    # gating the noise out makes the lips agree with the audio better than the raw energy does
    assert with_vad.av_correlation > with_vad.av_energy_correlation
