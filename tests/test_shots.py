"""facseq.shots (PySceneDetect on frames in memory) and the OpenCV build it must leave in place."""

from __future__ import annotations

import importlib.metadata

import cv2
import numpy as np
import pytest

from facseq.shots import ShotFinder, ShotSettings, shot_of_frames, shot_starts

OPENCV_DISTRIBUTIONS = {"opencv-python", "opencv-python-headless", "opencv-contrib-python",
                        "opencv-contrib-python-headless"}


def test_cv2_is_still_the_contrib_build():
    """scenedetect requires opencv-python; installed with --no-deps, the contrib build stays the only cv2."""
    installed = {d.metadata["Name"].lower() for d in importlib.metadata.distributions()} & OPENCV_DISTRIBUTIONS
    assert installed == {"opencv-contrib-python"}, installed
    assert hasattr(cv2, "face") and hasattr(cv2, "xfeatures2d")  # contrib-only modules
    assert importlib.metadata.version("scenedetect")


def scene(rng, colour, n: int, size=(180, 320), drift: float = 0.0) -> list[np.ndarray]:
    """n frames of one 'shot': a textured background of one colour, a bright square drifting slowly."""
    base = np.clip(rng.normal(colour, 12, size=(*size, 3)), 0, 255).astype(np.uint8)
    frames = []
    for i in range(n):
        frame = base.copy()
        x = int(60 + drift * i)
        frame[60:120, x : x + 60] = (230, 200, 180)
        frames.append(frame)
    return frames


@pytest.mark.parametrize("detector", ["content", "adaptive"])
def test_hard_cut_is_found_at_its_frame(detector):
    rng = np.random.default_rng(0)
    frames = scene(rng, (40, 60, 90), 30, drift=1) + scene(rng, (150, 110, 60), 30, drift=-1)
    assert shot_starts(frames, ShotSettings(detector=detector)) == [30]


@pytest.mark.parametrize("detector", ["content", "adaptive"])
def test_one_shot_with_motion_has_no_cut(detector):
    rng = np.random.default_rng(1)
    assert shot_starts(scene(rng, (90, 90, 90), 60, drift=2), ShotSettings(detector=detector)) == []


@pytest.mark.parametrize("detector", ["content", "adaptive"])
def test_slow_brightness_change_is_not_a_cut(detector):
    rng = np.random.default_rng(4)
    base = scene(rng, (60, 60, 60), 1)[0].astype(np.int16)
    frames = [np.clip(base + 2 * i, 0, 255).astype(np.uint8) for i in range(60)]  # +120 grey levels in 60 frames
    assert shot_starts(frames, ShotSettings(detector=detector)) == []
    assert shot_starts([frames[0]] * 10 + [frames[-1]] * 10, ShotSettings(detector=detector)) == [10]  # in one step


def test_cuts_closer_than_min_shot_frames_are_merged():
    rng = np.random.default_rng(2)
    frames = scene(rng, (40, 60, 90), 20) + scene(rng, (150, 110, 60), 4) + scene(rng, (30, 170, 210), 20)
    assert shot_starts(frames, ShotSettings(detector="content", min_shot_frames=8)) == [20]
    assert shot_starts(frames, ShotSettings(detector="content", min_shot_frames=2)) == [20, 24]


def test_large_frames_are_scaled_and_the_finder_streams():
    rng = np.random.default_rng(3)
    frames = [cv2.resize(f, (1280, 720)) for f in scene(rng, (40, 60, 90), 12) + scene(rng, (150, 110, 60), 12)]
    finder = ShotFinder(ShotSettings(detector="content"), fps=24000 / 1001)
    for frame in frames:
        finder.add(frame)
    assert finder.starts() == [12] and finder.starts() == [12]  # asking twice gives the same answer
    with pytest.raises(RuntimeError, match="new finder"):
        finder.add(frames[0])
    assert shot_starts([], ShotSettings()) == []


def test_unknown_detector_names_the_key():
    with pytest.raises(ValueError, match="shots.detector"):
        ShotFinder(ShotSettings(detector="histogram"))


def test_shot_of_frames():
    assert shot_of_frames(np.array([0, 9, 10, 11, 30]), [10, 30]).tolist() == [0, 0, 1, 1, 2]
    assert shot_of_frames(np.array([0, 5]), []).tolist() == [0, 0]
