"""Numerical parity of the TalkNet / Light-ASD re-implementations with the official code.

Fixtures: ../shared/fixtures/asd (or $FACSEQ_SHARED/fixtures/asd), produced by running the official
code; see the README.md files there. Skips when they are absent.
"""

from __future__ import annotations

import lzma
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from facseq.asd import load_detector
from facseq.asd.scoring import DURATIONS, align_lengths, batched_per_duration, combine_durations, smooth_scores

ATOL = 1e-4


def _asd_fixtures() -> Path:
    env = os.environ.get("FACSEQ_SHARED")
    shared = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared"
    return shared / "fixtures" / "asd"


FIX = _asd_fixtures()
TN = FIX / "talknet_random"
LA = FIX / "light_asd"

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not FIX.is_dir(), reason=f"ASD fixtures not found at {FIX} (set FACSEQ_SHARED)"),
]


def assert_rounded_equal(got_final, want_final, mean_unrounded):
    """Exact equality except where the unrounded mean is within 1e-4 of a .x5 boundary (then 0.1)."""
    m = np.asarray(mean_unrounded, dtype=np.float64)
    dist = np.abs(np.abs(m * 10 - np.floor(m * 10)) - 0.5) / 10
    near = dist < 1e-4
    assert np.array_equal(got_final[~near], want_final[~near])
    assert np.all(np.abs(got_final[near] - want_final[near]) <= 0.1 + 1e-9)


def assert_smoothed_equal(got, want, near_boundary_any: bool):
    if near_boundary_any:
        np.testing.assert_allclose(got, want, atol=0.1)
    else:
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------- TalkNet
@pytest.fixture(scope="module")
def talknet(tmp_path_factory):
    src = TN / "talknet_random_seed0.model.xz"
    if not src.is_file():
        pytest.skip(f"{src} missing")
    dst = tmp_path_factory.mktemp("talknet") / "talknet_random_seed0.model"
    with lzma.open(src) as fin, open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    return load_detector("talknet", dst, device="cpu")


def test_talknet_state_dict_layout(talknet):
    import json
    keys = json.loads((TN / "state_dict_keys.json").read_text())
    sd = talknet.net.state_dict()
    assert [k for k, _, _ in keys] == list(sd.keys())
    for k, shape, _ in keys:
        assert list(sd[k].shape) == shape, k


@pytest.mark.parametrize("case", ["T025", "T062"])
def test_talknet_single_pass(talknet, case):
    audio = torch.from_numpy(np.load(TN / f"{case}_audio_mfcc.npy")).float()[None]
    video = torch.from_numpy(np.load(TN / f"{case}_video_gray112.npy")).float()[None]
    with torch.no_grad():
        out = talknet.net.intermediates(video, audio)
    names = ["audio_embed", "visual_embed", "audio_cross", "visual_cross", "av_backend",
             "logits_av", "logits_a", "logits_v", "score"]
    for name in names:
        want = np.load(TN / f"{case}_expected_{name}.npy")
        got = out[name][0].numpy()
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=ATOL, err_msg=f"{case} {name}")


def test_talknet_demo_scoring(talknet):
    audio = np.load(TN / "demo_T137_audio_mfcc.npy")
    video = np.load(TN / "demo_T137_video_gray112.npy")
    assert align_lengths(len(audio), len(video), "talknet") == (5.48, 548, 137)
    res = talknet.score_track(video, audio)
    np.testing.assert_allclose(res.per_duration, np.load(TN / "demo_T137_expected_per_duration.npy"), atol=ATOL)
    want_mean = np.load(TN / "demo_T137_expected_mean_unrounded.npy")
    np.testing.assert_allclose(res.mean, want_mean, atol=ATOL)
    assert_rounded_equal(res.final, np.load(TN / "demo_T137_expected_final_rounded.npy"), want_mean)
    assert res.smoothed.shape == (137,)
    assert_smoothed_equal(res.smoothed, np.load(TN / "demo_T137_expected_smoothed.npy"), False)


# ------------------------------------------------------------------------------------- Light-ASD
@pytest.fixture(scope="module")
def light_asd():
    return load_detector("light_asd", LA / "finetuning_TalkSet.model", device="cpu")


def _light_inputs(cond):
    video = np.load(LA / "video_gray112.npy")
    if cond == "frozenface":
        video = np.repeat(video[:1], 200, axis=0)
    audio = np.load(LA / f"audio_mfcc_{'mismatched' if cond == 'mismatched' else 'matched'}.npy")
    return video, audio


@pytest.mark.parametrize("cond", ["matched", "mismatched", "frozenface"])
def test_light_asd_single_pass(light_asd, cond):
    video, audio = _light_inputs(cond)
    assert align_lengths(len(audio), len(video), "light_asd") == (7.96, 796, 199)
    with torch.no_grad():
        out = light_asd.net.intermediates(torch.from_numpy(video[:199]).float()[None],
                                          torch.from_numpy(audio[:796]).float()[None])
    checked = 0
    for name in ["audio_embed", "visual_embed", "av_backend", "logits_v", "score"]:
        path = LA / f"expected_{cond}_single_pass_{name}.npy"
        if path.is_file():
            np.testing.assert_allclose(out[name][0].numpy(), np.load(path), atol=ATOL, err_msg=f"{cond} {name}")
            checked += 1
    assert checked >= 1


def _check_light_scores(det, cond, folder: Path):
    video, audio = _light_inputs(cond)
    res = det.score_track(video, audio)
    assert (res.n_audio_used, res.n_video_used) == (796, 199)
    np.testing.assert_allclose(res.per_duration, np.load(folder / f"expected_{cond}_per_duration.npy"), atol=ATOL)
    want_mean = np.load(folder / f"expected_{cond}_mean_unrounded.npy")
    np.testing.assert_allclose(res.mean, want_mean, atol=ATOL)
    assert_rounded_equal(res.final, np.load(folder / f"expected_{cond}_final_rounded.npy"), want_mean)
    m = want_mean * 10
    near_any = bool(np.any(np.abs(np.abs(m - np.floor(m)) - 0.5) < 1e-3))
    assert res.smoothed.shape == (200,)
    assert_smoothed_equal(res.smoothed, np.load(folder / f"expected_{cond}_smoothed.npy"), near_any)
    return res


@pytest.mark.parametrize("cond", ["matched", "mismatched", "frozenface"])
def test_light_asd_scoring(light_asd, cond):
    res = _check_light_scores(light_asd, cond, LA)
    if cond == "frozenface":
        assert not res.speaking.any()
    else:
        assert res.speaking.all()


def test_light_asd_ava_weights_if_present():
    """`pretrain_AVA_CVPR.model` is not shipped; it is used when placed beside the fixture."""
    weights = LA / "pretrain_AVA_CVPR.model"
    if not weights.is_file():
        pytest.skip("pretrain_AVA_CVPR.model not present in the fixture folder")
    det = load_detector("light_asd", weights, device="cpu")
    for cond in ["matched", "mismatched", "frozenface"]:
        _check_light_scores(det, cond, LA / "extra_pretrain_AVA_CVPR")


# ------------------------------------------------------------------ batched vs faithful loop
@pytest.mark.parametrize("backend", ["talknet", "light_asd"])
def test_batched_equals_reference_loop(request, backend):
    """The batched scorer against the literal per-chunk loop, on a 62-frame input (3 chunks at d=1)."""
    det = request.getfixturevalue("talknet" if backend == "talknet" else "light_asd")
    if backend == "talknet":
        video, audio = np.load(TN / "T062_video_gray112.npy"), np.load(TN / "T062_audio_mfcc.npy")
    else:
        video, audio = np.load(LA / "video_gray112.npy")[37:99], np.load(LA / "audio_mfcc_matched.npy")[148:396]
    _, n_a, n_v = align_lengths(len(audio), len(video), backend)
    slow = det.score_track(video, audio, batched=False)  # the literal per-chunk reference loop
    ref = slow.per_duration
    assert ref.shape == (len(DURATIONS), n_v)
    # small tiles and batches so that every code path (tiling, edges, sub-batches) is exercised
    got = batched_per_duration(det.net, video[:n_v], audio[:n_a], tile=16, max_frames=40)
    np.testing.assert_allclose(got, ref, atol=ATOL)
    assert np.array_equal(combine_durations(ref)[1], slow.final)
    assert np.array_equal(smooth_scores(slow.final, len(video)), slow.smoothed)
