"""Fusing the active speaker detector (ASD) with the multimodal rules into the possible speakers.

The paper's order: ASD first; where it fails (short clips, complex scenes: no track it is sure of says
"speaking") the rules decide. Per track, `decided_by` records which signal made the call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MODES = ("auto", "rules", "asd", "both")


@dataclass(frozen=True)
class AsdSettings:
    min_frames: int = 25  # shorter tracks: the ASD is unsure (TalkNet fails on short clips)
    speaking_fraction: float = 0.25  # share of a track's frames with smoothed score >= 0 to count as speaking


@dataclass
class AsdTrack:
    track: int
    n_scored: int
    mean_score: float
    speaking_fraction: float
    sure: bool
    speaking: bool


def summarise_asd(track: int, smoothed: np.ndarray, settings: AsdSettings) -> AsdTrack:
    """Track-level ASD verdict from its per-frame smoothed scores (NaN = not scored)."""
    scores = np.asarray(smoothed, dtype=np.float64)
    scored = scores[np.isfinite(scores)]
    if len(scored) == 0:
        return AsdTrack(track, 0, float("nan"), float("nan"), False, False)
    fraction = float((scored >= 0).mean())
    sure = len(scored) >= settings.min_frames
    return AsdTrack(track, len(scored), float(scored.mean()), fraction, sure, sure and fraction >= settings.speaking_fraction)


def fuse(rule_votes: dict[int, bool], asd: dict[int, AsdTrack] | None, mode: str) -> tuple[dict[int, bool], dict[int, str], str]:
    """(possible speaker per track, decided_by per track, utterance-level summary).

    rule_votes: track -> the rules' verdict; asd: track -> ASD verdict (None when no ASD ran).
    """
    if mode == "rules" or asd is None:
        return dict(rule_votes), {t: "rules" for t in rule_votes}, "rules"
    if mode == "asd":
        possible = {t: bool(asd.get(t) and asd[t].speaking) for t in rule_votes}
        return possible, {t: "asd" if asd.get(t) and asd[t].sure else "asd (unsure: not a speaker)" for t in rule_votes}, "asd"
    # both (paper order): the ASD's sure verdicts stand when it finds a speaker; else the rules decide.
    if any(a.speaking for a in asd.values()):
        possible, decided = {}, {}
        for t, vote in rule_votes.items():
            verdict = asd.get(t)
            if verdict is not None and verdict.sure:
                possible[t], decided[t] = verdict.speaking, "asd"
            else:
                possible[t], decided[t] = vote, "rules (asd unsure)"
        return possible, decided, "asd, rules where unsure"
    return dict(rule_votes), {t: "rules (asd found no speaker)" for t in rule_votes}, "rules (asd found no speaker)"
