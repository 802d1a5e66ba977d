"""The files that make up a face library, and a digest of their content.

The workflow hands the image list and the digest to `embed_library` (as input files and a parameter), so
that adding, removing or replacing an image -- even with an older modification time -- re-runs the
library embedding and, through it, matching and everything after it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class LibraryError(ValueError):
    pass


def library_images(library_dir: str | Path) -> list[Path]:
    """Every image of every role folder (`<library>/<role>/*.jpg|png`), sorted."""
    library_dir = Path(library_dir)
    if not library_dir.is_dir():
        raise LibraryError(f"face_library: {library_dir} does not exist or is not a folder")
    images = sorted(
        path
        for role in library_dir.iterdir()
        if role.is_dir()
        for path in role.iterdir()
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    )
    if not images:
        raise LibraryError(f"face_library: {library_dir} holds no role folder with .jpg/.png images")
    return images


def library_digest(library_dir: str | Path) -> str:
    """sha256 over every image's role/name and content: changes with any added, removed or edited image."""
    library_dir = Path(library_dir)
    digest = hashlib.sha256()
    for path in library_images(library_dir):
        digest.update(path.relative_to(library_dir).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
