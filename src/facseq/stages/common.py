"""What every stage shares: the batch item, the previous stage's status, the clips' media facts, image I/O."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facseq.media import MediaError
from facseq.tables import PENDING, read_status, read_tsv

log = logging.getLogger("facseq")


@dataclass(frozen=True)
class BatchItem:
    """One utterance as a batch stage sees it."""

    name: str  # dia{D}_utt{U}
    speaker: str
    clip: str


def batch_items(params_batch: list[dict]) -> list[BatchItem]:
    return [BatchItem(**item) for item in params_batch]


def _pending(status: dict[str, tuple[str, str]], name: str) -> bool:
    return status.get(name, (PENDING, ""))[0] == PENDING


def _stage_start(out_dir: Path, previous_status: Path, audio_dir: Path):
    """The output folder (created), the previous stage's statuses and the clips' media facts."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir, read_status(previous_status), media_info(audio_dir)


def _read_rgb(path: Path) -> np.ndarray:
    import cv2  # here, not at the top: most stages never read an image and need not load OpenCV

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise MediaError(f"{path}: unreadable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _write_rgb(path: Path, image: np.ndarray, quality: int = 95) -> None:
    import cv2

    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])


def media_info(audio_dir: Path) -> dict[str, dict[str, str]]:
    return {row["utterance"]: row for row in read_tsv(Path(audio_dir) / "media.tsv")}

