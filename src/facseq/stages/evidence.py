"""Stage 4 (rules/evidence.smk: speaker_evidence): the paper's multimodal rules (and the ASD) per face track."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facseq.media import read_wav
from facseq.stages.common import BatchItem, _pending, _stage_start, log
from facseq.stages.faces import load_detections
from facseq.tables import failure_reason, read_tsv, write_status, write_tsv

TRACK_EVIDENCE_COLUMNS = [
    "track", "n_frames", "first_time_s", "last_time_s", "open_close_count", "open_fraction", "movement",
    "av_correlation", "av_lag_frames", "av_energy_correlation", "speech_movement", "vote_open_close",
    "vote_movement", "vote_av", "votes", "n_rules", "speaking_score", "veto", "rules_possible", "asd_mean",
    "asd_speaking_fraction", "asd_sure", "asd_speaking", "decided_by", "possible_speaker", "note",
]
# speech: Silero VAD speech probability at the frame (the lip/audio rule's activity); audio_db: raw energy
FRAME_EVIDENCE_COLUMNS = ["track", "frame", "time_s", "mouth_gap", "mouth_width", "movement", "audio_db", "speech",
                          "asd_score"]


def speaker_evidence(items: list[BatchItem], faces_dir: Path, audio_dir: Path, out_dir: Path, rule_settings,
                     envelope_window_s: float, asd_dir: Path | None = None, mode: str = "rules",
                     asd_settings=None, no_asd_note: str = "") -> dict:
    """Per utterance: `{utt}.tsv` (one row per track: every rule's score and vote, the ASD's verdict when
    it ran, which signal decided, possible speaker or not) and `{utt}_frames.tsv` (the per-frame series
    behind them); `detection.tsv` says per utterance how its possible speakers were found."""
    from facseq.rules import audio_envelope, mouth_series, track_rule_scores, vote_possible_speakers
    from facseq.speakers import AsdSettings, fuse, summarise_asd

    asd_settings = asd_settings or AsdSettings()
    detection_rows = []
    vad = None  # Silero VAD, loaded on the first clip with audio (once per batch)

    out_dir, status, media = _stage_start(out_dir, Path(faces_dir) / "status.tsv", audio_dir)
    for item in items:
        if not _pending(status, item.name):
            continue
        try:
            info = media[item.name]
            fps, n_frames = float(info["fps"]), int(info["n_frames"])
            rows = load_detections(faces_dir, item.name)
            landmarks = np.load(Path(faces_dir) / item.name / "landmarks.npy")
            wav = Path(audio_dir) / f"{item.name}.wav"
            envelope = speech = None
            if wav.is_file():
                samples, rate = read_wav(wav)
                if len(samples):
                    envelope = audio_envelope(samples, rate, np.arange(n_frames) / fps, envelope_window_s)
                    if rule_settings.speech_activity == "vad":
                        if vad is None:
                            from facseq.vad import SpeechDetector

                            vad = SpeechDetector()
                        speech = vad.speech_at_frames(samples, rate, np.arange(n_frames) / fps)
            frames = np.array([r["frame"] for r in rows], dtype=np.int64)
            track_of = np.array([r["track"] for r in rows], dtype=np.int64)
            evidence, frame_rows = [], []
            for track in sorted(set(track_of.tolist()) - {-1}):
                members = track_of == track
                series = mouth_series(frames[members], landmarks[members])
                result = track_rule_scores(track, series, fps, rule_settings, envelope, speech)
                times = frames[members] / fps
                result.extra = {"first_time_s": float(times.min()), "last_time_s": float(times.max())}
                evidence.append(result)
                moves = np.full(len(series.frames), np.nan)  # movement into each frame from the one before
                if len(series.frames) > 1:
                    moves[1:] = mouth_movement_all(series)
                for k, frame in enumerate(series.frames):
                    frame_rows.append({
                        "track": track, "frame": int(frame), "time_s": round(frame / fps, 4),
                        "mouth_gap": float(series.gap[k]), "mouth_width": float(series.width[k]),
                        "movement": float(moves[k]),
                        "audio_db": float(envelope[min(int(frame), len(envelope) - 1)]) if envelope is not None else float("nan"),
                        "speech": float(speech[min(int(frame), len(speech) - 1)]) if speech is not None else float("nan"),
                    })
            vote_possible_speakers(evidence, rule_settings)
            asd, asd_scores = None, {}
            if asd_dir is not None:
                asd_scores = read_asd_scores(Path(asd_dir), item.name)
                error = Path(asd_dir) / f"{item.name}.error"
                if not error.is_file():
                    asd = {t: summarise_asd(t, np.array(list(v.values())), asd_settings) for t, v in asd_scores.items()}
            possible, decided_by, how = fuse({e.track: e.possible_speaker for e in evidence}, asd, mode)
            if asd_dir is not None and asd is None:
                how = f"rules (ASD failed: {(Path(asd_dir) / f'{item.name}.error').read_text().strip()})"
            elif asd_dir is None:
                how = f"rules only ({no_asd_note})" if no_asd_note else "rules"
            for e in evidence:
                verdict = (asd or {}).get(e.track)
                e.extra.update(rules_possible=e.possible_speaker, decided_by=decided_by[e.track],
                               asd_mean=verdict.mean_score if verdict else float("nan"),
                               asd_speaking_fraction=verdict.speaking_fraction if verdict else float("nan"),
                               asd_sure=verdict.sure if verdict else None, asd_speaking=verdict.speaking if verdict else None)
                e.possible_speaker = possible[e.track]
            for row in frame_rows:
                row["asd_score"] = asd_scores.get(row["track"], {}).get(row["frame"], float("nan"))
            if envelope is None:
                how += "; no audio: lip/audio rule not used"
            elif speech is not None:
                how += f"; speech activity: Silero VAD ({np.mean(speech >= rule_settings.speech_threshold):.0%} of frames)"
            else:
                how += "; speech activity: audio energy"
            detection_rows.append({"utterance": item.name, "speaker_detection": how})
            write_tsv(out_dir / f"{item.name}.tsv", [e.row() for e in evidence], TRACK_EVIDENCE_COLUMNS)
            write_tsv(out_dir / f"{item.name}_frames.tsv", frame_rows, FRAME_EVIDENCE_COLUMNS)
        except Exception as err:  # noqa: BLE001
            log.exception("%s: speaker evidence failed", item.name)
            status[item.name] = ("failed", f"evidence: {failure_reason(err)}")
    write_tsv(out_dir / "detection.tsv", detection_rows, ["utterance", "speaker_detection"])
    write_status(out_dir / "status.tsv", status)
    return status


def read_asd_scores(asd_dir: Path, name: str) -> dict[int, dict[int, float]]:
    """track -> frame -> smoothed ASD score."""
    path = Path(asd_dir) / f"{name}.tsv"
    scores: dict[int, dict[int, float]] = {}
    if path.is_file():
        for row in read_tsv(path):
            value = float(row["asd_smoothed"]) if row["asd_smoothed"] else float("nan")
            scores.setdefault(int(row["track"]), {})[int(row["frame"])] = value
    return scores


def mouth_movement_all(series) -> np.ndarray:
    """Movement for every consecutive pair of the series (NaN where frames are not adjacent)."""
    from facseq.rules import mouth_movement

    values = np.full(len(series.frames) - 1, np.nan)
    values[np.diff(series.frames) == 1] = mouth_movement(series)
    return values

