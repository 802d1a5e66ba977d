"""Stage 1 (rules/media.smk: extract_media): what each clip holds and its 16 kHz mono audio.

The video is not decoded here: the faces stage decodes it once, into memory (`facseq.media.decode_frames`)."""

from __future__ import annotations

from pathlib import Path

from facseq.media import MediaError, extract_audios, probe_clip
from facseq.stages.common import BatchItem, log
from facseq.tables import PENDING, failure_reason, write_status, write_tsv


def extract_media(items: list[BatchItem], audio_dir: Path, fps: float | None) -> dict:
    """16 kHz mono audio (`audio_dir/{utt}.wav`) per clip; `audio_dir/media.tsv` records what each clip
    holds (`n_frames`: the frames the faces stage will decode at `fps`), `audio_dir/status.tsv` the status.

    Each clip is probed alone (ffprobe reads one file); the audio of the whole batch comes from few ffmpeg
    runs (`facseq.media.extract_audios`), a broken clip failing alone."""
    audio_dir = Path(audio_dir)
    audio_dir.mkdir(parents=True, exist_ok=True)
    status, media_rows, audio_jobs = {}, [], {}
    for item in items:
        row = {"utterance": item.name, "clip": item.clip}
        try:
            info = probe_clip(item.clip)
            rate = fps or info.fps
            if not rate:
                raise MediaError(f"{item.clip}: frame rate unknown")
            n_frames = info.frames_at(fps)
            if n_frames == 0:
                raise MediaError(f"{item.clip}: the video stream holds no frame")
            if info.has_audio:
                audio_jobs[item.name] = (item.clip, audio_dir / f"{item.name}.wav", row)
            row.update(width=info.width, height=info.height, source_fps=info.fps, fps=rate,
                       duration_s=info.duration_s, has_audio=info.has_audio, n_frames=n_frames)
            status[item.name] = (PENDING, "")
        except MediaError as err:
            status[item.name] = ("no_video", str(err))
        except Exception as err:  # noqa: BLE001 - recorded, never lost
            log.exception("%s: media extraction failed", item.clip)
            status[item.name] = ("failed", f"media: {failure_reason(err)}")
        media_rows.append(row)
    audio_failed = extract_audios([(clip, wav) for clip, wav, _ in audio_jobs.values()])
    for name, (clip, wav, row) in audio_jobs.items():
        err = audio_failed.get(wav)
        if err is None:
            continue
        for key in set(row) - {"utterance", "clip"}:  # a clip whose audio failed records nothing it holds
            del row[key]
        if isinstance(err, MediaError):
            status[name] = ("no_video", str(err))
        else:  # recorded, never lost
            log.error("%s: media extraction failed", clip, exc_info=err)
            status[name] = ("failed", f"media: {failure_reason(err)}")
    write_tsv(audio_dir / "media.tsv", media_rows,
              ["utterance", "clip", "width", "height", "source_fps", "fps", "duration_s", "has_audio", "n_frames"])
    write_status(audio_dir / "status.tsv", status)
    return status
