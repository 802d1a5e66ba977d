"""Shot boundaries with PySceneDetect's content / adaptive detectors, fed the frames already in memory.

MELD cuts between the people talking, often between two framings of the same set; a face track must not
cross a cut. PySceneDetect's detectors compare consecutive frames in HSV (hue, saturation, luma and,
optionally, edges); `adaptive` compares each frame's change with its neighbours' (robust to camera
motion), `content` with a fixed threshold. They are driven directly, frame by frame, through their
`process_frame` / `post_process` interface, so the clip is never decoded a second time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

DETECTORS = ("adaptive", "content")


@dataclass(frozen=True)
class ShotSettings:
    detector: str = "adaptive"  # adaptive | content
    content_threshold: float = 27.0  # content: mean HSV change (0..255) that cuts
    adaptive_threshold: float = 3.0  # adaptive: change / mean change of the neighbouring frames
    min_content: float = 15.0  # adaptive: and at least this much change
    min_shot_frames: int = 8  # a cut never follows the previous one by fewer frames
    width: int = 320  # frames are scaled to this width first (detail above it only adds noise)


def make_detector(settings: ShotSettings):
    from scenedetect.detectors import AdaptiveDetector, ContentDetector

    if settings.detector == "content":
        return ContentDetector(threshold=settings.content_threshold, min_scene_len=settings.min_shot_frames)
    if settings.detector == "adaptive":
        return AdaptiveDetector(adaptive_threshold=settings.adaptive_threshold,
                                min_content_val=settings.min_content, min_scene_len=settings.min_shot_frames)
    raise ValueError(f"shots.detector: unknown detector {settings.detector!r} (one of {', '.join(DETECTORS)})")


class ShotFinder:
    """Feed RGB frames in order with `add`; `starts()` gives the first frame of every shot after the first.

    For the faces stage's decode loop: frames are looked at once, as they arrive."""

    def __init__(self, settings: ShotSettings = ShotSettings(), fps: float = 25.0):
        from scenedetect import FrameTimecode

        self._timecode = lambda index: FrameTimecode(index, fps=float(fps))
        self.settings = settings
        self._detector = make_detector(settings)
        self._cuts: list[int] = []
        self._count = 0
        self._finished: list[int] | None = None

    def add(self, frame_rgb: np.ndarray) -> None:
        """One (H, W, 3) uint8 RGB frame."""
        if self._finished is not None:
            raise RuntimeError("ShotFinder.add after starts(): make a new finder per clip")
        height, width = frame_rgb.shape[:2]
        if width > self.settings.width:
            size = (self.settings.width, max(1, round(height * self.settings.width / width)))
            frame_rgb = cv2.resize(frame_rgb, size, interpolation=cv2.INTER_AREA)
        bgr = np.ascontiguousarray(frame_rgb[:, :, ::-1])  # PySceneDetect works on OpenCV's BGR
        self._cuts += [tc.frame_num for tc in self._detector.process_frame(self._timecode(self._count), bgr)]
        self._count += 1

    def starts(self) -> list[int]:
        """Sorted first frames of new shots (frame 0 is never listed); ends the feeding."""
        if self._finished is None:
            if self._count:
                self._cuts += [tc.frame_num for tc in self._detector.post_process(self._timecode(self._count - 1))]
            self._finished = sorted({c for c in self._cuts if 0 < c < self._count})
        return self._finished


def shot_starts(frames: Iterable[np.ndarray], settings: ShotSettings = ShotSettings(), fps: float = 25.0) -> list[int]:
    """First frame of every shot after the first, for RGB frames in order."""
    finder = ShotFinder(settings, fps)
    for frame in frames:
        finder.add(frame)
    return finder.starts()


def shot_of_frames(frames: np.ndarray, starts: Iterable[int]) -> np.ndarray:
    """Shot index (0..) of each frame index, given the shot starts."""
    return np.searchsorted(np.array(sorted(starts), dtype=np.int64), np.asarray(frames, dtype=np.int64), side="right")
