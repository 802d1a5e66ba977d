"""Stage 1 (rules/media.smk: extract_media): frames and 16 kHz mono audio of each clip."""

from __future__ import annotations

import shutil
from pathlib import Path

from facseq.media import MediaError, extract_audio, extract_frames, probe_clip
from facseq.stages.common import BatchItem, log
from facseq.tables import PENDING, failure_reason, write_status, write_tsv


def extract_media(items: list[BatchItem], frames_dir: Path, audio_dir: Path, fps: float | None) -> dict:
    """Frames (`frames_dir/{utt}/%06d.jpg`) and 16 kHz mono audio (`audio_dir/{utt}.wav`) per clip;
    `audio_dir/media.tsv` records what each clip holds, `audio_dir/status.tsv` the status."""
    frames_dir, audio_dir = Path(frames_dir), Path(audio_dir)
    frames_dir.mkdir(parents=True, exist_ok=True)
    audio_dir.mkdir(parents=True, exist_ok=True)
    status, media_rows = {}, []
    for item in items:
        row = {"utterance": item.name, "clip": item.clip}
        try:
            info = probe_clip(item.clip)
            rate = fps or info.fps
            if not rate:
                raise MediaError(f"{item.clip}: frame rate unknown")
            n_frames = extract_frames(item.clip, frames_dir / item.name, fps)
            if info.has_audio:
                extract_audio(item.clip, audio_dir / f"{item.name}.wav")
            row.update(width=info.width, height=info.height, source_fps=info.fps, fps=rate,
                       duration_s=info.duration_s, has_audio=info.has_audio, n_frames=n_frames)
            status[item.name] = (PENDING, "")
        except MediaError as err:
            status[item.name] = ("no_video", str(err))
            shutil.rmtree(frames_dir / item.name, ignore_errors=True)
        except Exception as err:  # noqa: BLE001 - recorded, never lost
            log.exception("%s: media extraction failed", item.clip)
            status[item.name] = ("failed", f"media: {failure_reason(err)}")
        media_rows.append(row)
    write_tsv(audio_dir / "media.tsv", media_rows,
              ["utterance", "clip", "width", "height", "source_fps", "fps", "duration_s", "has_audio", "n_frames"])
    write_status(audio_dir / "status.tsv", status)
    return status

