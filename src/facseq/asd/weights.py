"""Official checkpoint table and a small verified downloader (urllib; file:// URLs work too)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Checkpoint:
    backend: str  # "talknet" or "light_asd"
    file_name: str
    url: str
    sha256: str | None  # None: not known to us, the download is not verified
    note: str = ""


_LIGHT_ASD_COMMIT = "ed38c232de5efe0261dbd68627c0ade7cdfe14eb"
_LIGHT_ASD_RAW = f"https://raw.githubusercontent.com/Junhua-Liao/Light-ASD/{_LIGHT_ASD_COMMIT}/weight"

CHECKPOINTS: dict[str, Checkpoint] = {
    "talknet_talkset": Checkpoint(
        "talknet", "pretrain_TalkSet.model",
        "https://drive.google.com/uc?export=download&id=1AbN9fCf9IexMxEKXLQY2KYBlb-IhSEea",
        None,
        "TalkNet-ASD demo weights (TalkSet), Google Drive id used by demoTalkNet.py. sha256 unknown. "
        "Drive may answer with an HTML confirmation page; then download it by hand (or with gdown).",
    ),
    "light_asd_talkset": Checkpoint(
        "light_asd", "finetuning_TalkSet.model", f"{_LIGHT_ASD_RAW}/finetuning_TalkSet.model",
        "efc375833887eefa9d209dc92810e18519b04c3c73ea35a549f2a7f40b7d94d5",
        "Light-ASD fine-tuned on TalkSet (the demo's weights for in-the-wild video). Saved on CUDA; "
        "load with map_location.",
    ),
    "light_asd_ava": Checkpoint(
        "light_asd", "pretrain_AVA_CVPR.model", f"{_LIGHT_ASD_RAW}/pretrain_AVA_CVPR.model",
        "d44bc3ea7baa8e0946fa3921311714a630ed8b90a1928fab0dbe30d918909317",
        "Light-ASD trained on AVA-ActiveSpeaker (Columbia_test.py default).",
    ),
}


def sha256_file(path: str | Path, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def download_model(url: str, dest: str | Path, sha256: str | None = None, timeout: float = 120.0) -> Path:
    """Fetch `url` to `dest` atomically and check its sha256; return `dest`.

    An existing `dest` whose hash matches (or any existing `dest` when sha256 is None) is kept without
    downloading. The data goes to a temporary file in dest's folder, is hashed while streaming, and is
    moved into place with os.replace only when the hash matches; on a mismatch nothing is written and
    ValueError is raised. An HTML answer (e.g. a Google Drive confirmation page) is refused as well.
    """
    dest = Path(dest)
    want = sha256.lower() if sha256 else None
    if dest.is_file() and (want is None or sha256_file(dest) == want):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            first = True
            while chunk := resp.read(1 << 20):
                if first and chunk.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
                    raise ValueError(f"{url} returned an HTML page, not a checkpoint; download it by hand")
                first = False
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        got = h.hexdigest()
        if want is not None and got != want:
            raise ValueError(f"sha256 mismatch for {url}: expected {want}, got {got}")
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dest
