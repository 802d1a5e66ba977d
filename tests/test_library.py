"""facseq.library: the face library's image list and content digest (what re-runs embed_library)."""

from __future__ import annotations

import os

import pytest

from facseq.library import LibraryError, library_digest, library_images


@pytest.fixture
def library(tmp_path):
    for role, names in {"Alex": ["01.jpg", "02.PNG"], "Katie": ["01.jpg"]}.items():
        (tmp_path / role).mkdir()
        for name in names:
            (tmp_path / role / name).write_bytes(f"{role}/{name}".encode())
    (tmp_path / "Alex" / "notes.txt").write_text("not an image")
    (tmp_path / "README.md").write_text("not a role")
    return tmp_path


def test_images_of_every_role_sorted(library):
    assert [p.relative_to(library).as_posix() for p in library_images(library)] == ["Alex/01.jpg", "Alex/02.PNG", "Katie/01.jpg"]


@pytest.mark.parametrize("change", ["add", "remove", "replace", "rename"])
def test_digest_follows_every_change(library, change):
    before = library_digest(library)
    image = library / "Alex" / "01.jpg"
    if change == "add":
        (library / "Katie" / "02.jpg").write_bytes(b"new")
    elif change == "remove":
        image.unlink()
    elif change == "replace":  # same name, other content, the old modification time
        stat = image.stat()
        image.write_bytes(b"Katie/01.jpg")
        os.utime(image, (stat.st_atime, stat.st_mtime))
    else:
        image.rename(library / "Katie" / "03.jpg")
    assert library_digest(library) != before


def test_digest_ignores_modification_times_and_other_files(library):
    before = library_digest(library)
    os.utime(library / "Alex" / "01.jpg", (1, 1))
    (library / "Katie" / "list.csv").write_text("x")
    assert library_digest(library) == before


def test_missing_or_empty_library_names_the_key_and_path(tmp_path):
    with pytest.raises(LibraryError, match=f"face_library: {tmp_path / 'nope'} does not exist"):
        library_images(tmp_path / "nope")
    (tmp_path / "empty" / "Alex").mkdir(parents=True)
    with pytest.raises(LibraryError, match="holds no role folder with .jpg/.png images"):
        library_digest(tmp_path / "empty")
