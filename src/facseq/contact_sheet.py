"""Contact sheet PNG per utterance: each face cluster's faces with its similarities, the chosen one
framed in green, and the speaker evidence of every track, so a person can see why a decision was made."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

THUMB = 72
PER_ROW = 10
PAD = 6
LINE = 14
WIDTH = PAD * 2 + 190 + PER_ROW * (THUMB + 2)


def _font():
    return ImageFont.load_default()


def _evenly(items: list, n: int) -> list:
    if len(items) <= n:
        return items
    return [items[int(round(i))] for i in np.linspace(0, len(items) - 1, n)]


STRIP_HEIGHT = 36


def _series(values: list[str]) -> np.ndarray:
    return np.array([float(v) if v not in ("", None) else np.nan for v in values], dtype=np.float64)


def draw_track_strip(draw: ImageDraw.ImageDraw, x0: int, y0: int, width: int, frames: list[dict], n_frames: int) -> None:
    """Per-frame evidence of one track over the clip's frames: ASD score as bars (green >= 0, red < 0),
    mouth opening as a blue line, audio energy as a grey line, VAD speech probability (0..1, not rescaled)
    as an orange line."""
    draw.rectangle((x0, y0, x0 + width, y0 + STRIP_HEIGHT), outline=(200, 200, 200))
    if not frames:
        return
    step = width / max(n_frames, 1)
    mid = y0 + STRIP_HEIGHT / 2
    index = np.array([int(f["frame"]) for f in frames])
    asd = _series([f.get("asd_score", "") for f in frames])
    for i, value in zip(index, asd):
        if np.isfinite(value):
            top = mid - np.clip(value, -4, 4) / 4 * (STRIP_HEIGHT / 2 - 1)
            draw.rectangle((x0 + i * step, min(mid, top), x0 + (i + 1) * step - 1, max(mid, top)),
                           fill=(60, 170, 60) if value >= 0 else (210, 80, 80))
    for key, colour in (("audio_db", (140, 140, 140)), ("mouth_gap", (40, 70, 220))):
        values = _series([f.get(key, "") for f in frames])
        finite = np.isfinite(values)
        if finite.sum() < 2:
            continue
        lo, hi = np.nanmin(values), np.nanmax(values)
        scaled = (values - lo) / (hi - lo if hi > lo else 1.0)
        points = [(x0 + (i + 0.5) * step, y0 + STRIP_HEIGHT - 2 - v * (STRIP_HEIGHT - 4)) for i, v, ok in zip(index, scaled, finite) if ok]
        draw.line(points, fill=colour, width=1)
    speech = _series([f.get("speech", "") for f in frames])
    points = [(x0 + (i + 0.5) * step, y0 + STRIP_HEIGHT - 2 - v * (STRIP_HEIGHT - 4))
              for i, v in zip(index, speech) if np.isfinite(v)]
    if len(points) > 1:
        draw.line(points, fill=(240, 140, 20), width=1)


def render_contact_sheet(
    title: str,
    decision_lines: list[str],
    clusters: list[dict],
    cluster_faces: dict[int, list[Path]],
    evidence: list[dict],
    out_path: Path,
    frame_evidence: dict[int, list[dict]] | None = None,
    n_frames: int = 0,
) -> None:
    """clusters: rows of `{utt}_clusters.tsv`; cluster_faces: crop paths per cluster in time order;
    evidence: rows of the per-track speaker-evidence table; frame_evidence: its per-frame rows by track."""
    frame_evidence = frame_evidence or {}
    font = _font()
    header = [title] + decision_lines
    evidence_lines = [
        "track  frames  open-close  movement  lip/audio r  speech mv  votes  ASD mean  ASD speaking  possible  decided by"
    ] + [
        f"{e['track']:>5}  {e['n_frames']:>6}  {e['open_close_count'] or '-':>10}  {e['movement'] or '-':>8.8}  "
        f"{e['av_correlation'] or '-':>11.11}  {e.get('speech_movement') or '-':>9.9}  "
        f"{e['votes'] or '-':>2}/{e['n_rules'] or '-':<2}  "
        f"{e.get('asd_mean') or '-':>8.8}  {e.get('asd_speaking_fraction') or '-':>12.12}  "
        f"{e['possible_speaker']:>8}  {e.get('decided_by', '')} {e.get('veto', '')} {e['note']}"
        for e in evidence
    ]
    rows_height = max(len(clusters), 1) * (THUMB + 2 * PAD)
    strips = sorted(frame_evidence)
    strips_height = len(strips) * (STRIP_HEIGHT + PAD) + (LINE if strips else 0)
    height = PAD * 2 + LINE * (len(header) + len(evidence_lines) + 1) + rows_height + strips_height
    sheet = Image.new("RGB", (WIDTH, height), (250, 250, 250))
    draw = ImageDraw.Draw(sheet)
    y = PAD
    for line in header:
        draw.text((PAD, y), line[:160], fill=(0, 0, 0), font=font)
        y += LINE
    y += LINE // 2
    if not clusters:
        draw.text((PAD, y + THUMB // 2), "no face cluster", fill=(120, 0, 0), font=font)
    for row in clusters:
        cluster = int(row["cluster"])
        chosen = row.get("chosen") == "yes"
        colour = (0, 150, 0) if chosen else (90, 90, 90)
        top = y
        label = [
            f"cluster {cluster}{'  CHOSEN' if chosen else ''}",
            f"{row['n_faces']} faces, tracks {row.get('tracks', '')}",
            f"speaker sim {row.get('speaker_similarity') or '-'}",
            f"best role {row.get('best_role') or '-'} {row.get('best_role_similarity') or ''}",
        ] + (["isolated"] if row.get("isolated") == "yes" else []) + ([] if row.get("eligible") != "no" else ["too small"])
        for k, text in enumerate(label):
            draw.text((PAD, top + k * LINE), text[:32], fill=colour, font=font)
        x = PAD + 190
        for path in _evenly(cluster_faces.get(cluster, []), PER_ROW):
            with Image.open(path) as face:
                sheet.paste(face.convert("RGB").resize((THUMB, THUMB)), (x, top))
            x += THUMB + 2
        if chosen:
            draw.rectangle((PAD + 188, top - 2, x, top + THUMB + 1), outline=colour, width=2)
        y += THUMB + 2 * PAD
    y += PAD
    for line in evidence_lines:
        draw.text((PAD, y), line[:170], fill=(30, 30, 90), font=font)
        y += LINE
    if strips:
        draw.text((PAD, y), "per frame: ASD score (bars, green = speaking), mouth opening (blue), audio energy (grey), "
                  "speech probability (VAD, orange)",
                  fill=(30, 30, 90), font=font)
        y += LINE
    for track in strips:
        draw.text((PAD, y + STRIP_HEIGHT // 2 - 6), f"track {track}", fill=(30, 30, 90), font=font)
        draw_track_strip(draw, PAD + 190, y, WIDTH - PAD * 2 - 190, frame_evidence[track], n_frames)
        y += STRIP_HEIGHT + PAD
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_path, compress_level=1)  # same pixels as the default level 6, +4 % bytes, 2.3x faster to write
