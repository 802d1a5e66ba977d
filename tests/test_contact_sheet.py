"""facseq.contact_sheet: the per-frame evidence strips show the VAD's speech probability."""

from __future__ import annotations

import numpy as np
from PIL import Image

from facseq.contact_sheet import render_contact_sheet

ORANGE = np.array([240, 140, 20])


def sheet_with(tmp_path, speech: str) -> np.ndarray:
    evidence = [{"track": "0", "n_frames": "20", "open_close_count": "2", "movement": "0.05", "av_correlation": "0.4",
                 "speech_movement": "0.9", "votes": "3", "n_rules": "3", "possible_speaker": "yes", "veto": "",
                 "note": ""}]
    frames = {0: [{"track": "0", "frame": str(f), "mouth_gap": str(0.1 * (f % 4)), "audio_db": str(-30 + f),
                   "speech": speech, "asd_score": ""} for f in range(20)]}
    out = tmp_path / f"sheet_{speech or 'none'}.png"
    render_contact_sheet("dia0_utt0", ["status ok"], [], {}, evidence, out, frames, 20)
    return np.asarray(Image.open(out).convert("RGB")).astype(int)


def test_speech_probability_is_drawn_in_orange(tmp_path):
    def orange_pixels(image):
        return int((np.abs(image - ORANGE).sum(axis=2) < 10).sum())

    assert orange_pixels(sheet_with(tmp_path, "0.8")) > 20
    assert orange_pixels(sheet_with(tmp_path, "")) == 0  # no audio: no VAD line
