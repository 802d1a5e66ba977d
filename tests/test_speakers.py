"""Fusion of the active speaker detector with the multimodal rules (facseq.speakers)."""

from __future__ import annotations

import numpy as np
import pytest

from facseq.speakers import AsdSettings, fuse, summarise_asd

SETTINGS = AsdSettings(min_frames=25, speaking_fraction=0.25)


def verdict(track, scores):
    return summarise_asd(track, np.asarray(scores, dtype=float), SETTINGS)


def test_summary_of_a_talking_and_a_still_track():
    talking = verdict(0, [1.5] * 40 + [-0.5] * 10)
    still = verdict(1, [-2.0] * 50)
    assert talking.sure and talking.speaking and talking.speaking_fraction == pytest.approx(0.8)
    assert still.sure and not still.speaking and still.mean_score == pytest.approx(-2.0)


def test_short_or_unscored_tracks_leave_the_asd_unsure():
    short = verdict(0, [3.0] * 10)
    assert not short.sure and not short.speaking
    empty = verdict(1, [np.nan] * 60)
    assert empty.n_scored == 0 and not empty.sure and np.isnan(empty.mean_score)


def test_rules_mode_and_missing_asd_use_the_rules():
    votes = {0: True, 1: False}
    for asd, mode in ((None, "both"), ({0: verdict(0, [-1.0] * 30)}, "rules")):
        possible, decided, how = fuse(votes, asd, mode)
        assert possible == votes and set(decided.values()) == {"rules"} and how == "rules"


def test_both_mode_trusts_sure_asd_and_falls_back_per_track():
    votes = {0: False, 1: True, 2: True}
    asd = {0: verdict(0, [2.0] * 30), 1: verdict(1, [-2.0] * 30), 2: verdict(2, [2.0] * 5)}
    possible, decided, how = fuse(votes, asd, "both")
    assert possible == {0: True, 1: False, 2: True}
    assert decided == {0: "asd", 1: "asd", 2: "rules (asd unsure)"}
    assert how == "asd, rules where unsure"


def test_both_mode_lets_the_rules_decide_when_the_asd_finds_nobody():
    votes = {0: True, 1: False}
    asd = {0: verdict(0, [-1.0] * 30), 1: verdict(1, [-3.0] * 30)}
    possible, decided, how = fuse(votes, asd, "both")
    assert possible == votes and how == "rules (asd found no speaker)"
    assert set(decided.values()) == {"rules (asd found no speaker)"}


def test_asd_mode_ignores_the_rules():
    votes = {0: True, 1: True}
    asd = {0: verdict(0, [2.0] * 30), 1: verdict(1, [2.0] * 3)}
    possible, decided, _ = fuse(votes, asd, "asd")
    assert possible == {0: True, 1: False}
    assert decided[1].startswith("asd (unsure")
