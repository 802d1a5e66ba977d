"""facseq.identity: cutting tracks where the person changes, on synthetic embeddings with planted switches."""

from __future__ import annotations

import numpy as np
import pytest

from facseq.identity import IdentitySettings, faces_to_embed, identity_switches, split_tracks

DIM = 64


def person(rng, centre: np.ndarray, n: int, spread: float = 0.15) -> np.ndarray:
    """n unit embeddings around one identity's centre (cosine to the centre ~0.99 at spread 0.15)."""
    x = centre + spread * rng.standard_normal((n, DIM)) / np.sqrt(DIM)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def people():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, DIM))
    return rng, centres / np.linalg.norm(centres, axis=1, keepdims=True)


def test_one_person_is_never_cut(people):
    rng, centres = people
    assert identity_switches(person(rng, centres[0], 40), IdentitySettings()) == []


def test_one_outlier_face_does_not_cut(people):
    rng, centres = people
    faces = person(rng, centres[0], 30)
    faces[15] = person(rng, centres[1], 1)[0]  # one badly embedded (turned, blurred) face
    assert identity_switches(faces, IdentitySettings()) == []


@pytest.mark.parametrize("switch", [3, 10, 27])
def test_switch_is_found_where_it_happens(people, switch):
    rng, centres = people
    faces = np.concatenate([person(rng, centres[0], switch), person(rng, centres[1], 30 - switch)])
    (k, similarity), = identity_switches(faces, IdentitySettings())
    assert k == switch and similarity < 0.5


def test_switch_closer_to_the_start_than_min_faces_is_placed_exactly(people):
    rng, centres = people
    faces = np.concatenate([person(rng, centres[0], 2), person(rng, centres[1], 28)])
    (k, _), = identity_switches(faces, IdentitySettings(min_faces=3))
    assert k == 2  # found at 3 (min_faces), then placed by which side each face resembles


def test_two_switches(people):
    rng, centres = people
    faces = np.concatenate([person(rng, centres[0], 8), person(rng, centres[1], 8), person(rng, centres[2], 8)])
    assert [k for k, _ in identity_switches(faces, IdentitySettings())] == [8, 16]


def test_one_face_at_the_end_is_an_outlier_two_are_a_switch(people):
    rng, centres = people
    one = np.concatenate([person(rng, centres[0], 20), person(rng, centres[1], 1)])
    assert identity_switches(one, IdentitySettings(min_faces=3)) == []
    two = np.concatenate([person(rng, centres[0], 20), person(rng, centres[1], 2)])
    assert [k for k, _ in identity_switches(two, IdentitySettings(min_faces=3))] == [20]


def test_faces_to_embed_every_nth_and_last():
    track_of = np.array([0, 0, 0, 0, 0, 1, 1, -1])
    frames = np.array([4, 0, 1, 2, 3, 0, 1, 0])  # track 0 unsorted in the table
    chosen = faces_to_embed(track_of, frames, every=2)
    assert set(frames[chosen[track_of[chosen] == 0]]) == {0, 2, 4}
    assert set(chosen[track_of[chosen] == 1]) == {5, 6}
    assert -1 not in track_of[chosen]


def test_split_tracks_cuts_records_and_renumbers(people):
    rng, centres = people
    # track 0: frames 0-19, person A until frame 9, person B from frame 10; track 1: person C, frames 5-14
    frames = np.concatenate([np.arange(20), np.arange(5, 15)])
    track_of = np.array([0] * 20 + [1] * 10)
    embeddings = np.concatenate([person(rng, centres[0], 10), person(rng, centres[1], 10), person(rng, centres[2], 10)])
    every_other = np.ones(len(frames), dtype=bool)
    every_other[faces_to_embed(track_of, frames, 2)] = False
    embeddings[every_other] = np.nan  # only the sampled faces are embedded
    new, splits, split_of = split_tracks(track_of, frames, embeddings, IdentitySettings(every=2))
    assert len(splits) == 1 and splits[0].linked_track == 0 and splits[0].frame == 10
    assert "identity change at frame 10" in splits[0].reason
    assert set(new[:10]) == {0} and set(new[10:20]) == {2} and set(new[20:]) == {1}  # order of first appearance
    assert (split_of[10:20] == 0).all() and (split_of[:10] == -1).all() and (split_of[20:] == -1).all()


def test_split_parts_shorter_than_min_length_are_dropped(people):
    rng, centres = people
    frames = np.arange(12)
    embeddings = np.concatenate([person(rng, centres[0], 9), person(rng, centres[1], 3)])
    new, splits, _ = split_tracks(np.zeros(12, dtype=int), frames, embeddings, IdentitySettings(), min_length=4)
    assert splits[0].frame == 9 and (new[:9] == 0).all() and (new[9:] == -1).all()


class PlantedEmbedder:
    """Embeds a crop as the identity planted in it: every frame is filled with its person's index."""

    dim = DIM

    def __init__(self, rng, centres):
        self.rng, self.centres, self.calls = rng, centres, 0

    def embed(self, crops, face_boxes=None, five_points=None):
        self.calls += len(crops)
        return np.concatenate([person(self.rng, self.centres[int(c[0, 0, 0])], 1) for c in crops])


def planted_track(identity_of_frame: list[int]):
    """One face per frame on one linked track; frame k shows person identity_of_frame[k]."""
    frames = [np.full((48, 64, 3), who, dtype=np.uint8) for who in identity_of_frame]
    n = len(frames)
    return frames, np.arange(n), np.tile([[8.0, 8.0, 40.0, 40.0]], (n, 1)), np.zeros(n, dtype=np.int64)


def test_coarse_to_fine_embeds_a_single_person_track_sparsely(people):
    from facseq.identity import embed_along_tracks

    rng, centres = people
    frames, frame_of, boxes, linked = planted_track([0] * 80)
    embedder = PlantedEmbedder(rng, centres)
    settings = IdentitySettings(every=2, coarse_every=8)
    embeddings = embed_along_tracks(embedder, frames, frame_of, boxes, linked, settings, 0)
    embedded = np.flatnonzero(np.isfinite(embeddings).all(axis=1))
    assert embedder.calls == len(embedded) == 11  # frames 0, 8, ..., 72 and the last, 79: nothing to refine
    assert list(embedded[:-1]) == list(range(0, 80, 8)) and embedded[-1] == 79
    assert split_tracks(linked, frame_of, embeddings, settings)[1] == []


@pytest.mark.parametrize("switch", [21, 40, 47])
def test_coarse_to_fine_finds_the_switch_as_the_dense_check_does(people, switch):
    from facseq.identity import embed_along_tracks

    rng, centres = people
    frames, frame_of, boxes, linked = planted_track([0] * switch + [1] * (80 - switch))
    found = {}
    for name, settings in {"dense": IdentitySettings(every=2, coarse_every=1),
                           "coarse": IdentitySettings(every=2, coarse_every=8)}.items():
        embedder = PlantedEmbedder(rng, centres)
        embeddings = embed_along_tracks(embedder, frames, frame_of, boxes, linked, settings, 0)
        _, splits, _ = split_tracks(linked, frame_of, embeddings, settings)
        found[name] = ([s.frame for s in splits], embedder.calls)
    assert found["coarse"][0] == found["dense"][0] and len(found["dense"][0]) == 1
    assert switch <= found["coarse"][0][0] <= switch + 1  # the first embedded face of the new person
    assert found["coarse"][1] < 0.6 * found["dense"][1], found  # refined near the switch only


def test_a_part_of_another_person_as_long_as_coarse_every_is_always_found(people):
    from facseq.identity import embed_along_tracks

    rng, centres = people
    settings = IdentitySettings(every=2, coarse_every=8, min_faces=3, window=3)
    for start in range(20, 28):  # every phase of the part against the coarse samples
        frames, frame_of, boxes, linked = planted_track([0] * start + [1] * 8 + [0] * (60 - start))
        embeddings = embed_along_tracks(PlantedEmbedder(rng, centres), frames, frame_of, boxes, linked, settings, 0)
        new, splits, _ = split_tracks(linked, frame_of, embeddings, settings)
        assert len(splits) == 2, (start, splits)
        assert len(set(new[start + 1 : start + 7]) & set(new[: start - 1])) == 0, start


@pytest.mark.slow
@pytest.mark.shared
def test_real_hard_cut_between_two_people_framed_alike_is_split(tmp_path):
    """ALEX, then a hard cut to KATIE at the same place and size (real footage): box linking alone makes
    one track of both; the identity check cuts it at the switch, with dlib embeddings of every 8th face,
    refined to every 2nd near the switch (the defaults)."""
    import subprocess

    from composed import CUT_FRAME, CUT_TO_LISTENER, HEIGHT, WIDTH, compose_clip
    from conftest import require_shared
    from facseq.embed import make_embedder
    from facseq.faces import DetectorSettings, FaceDetector
    from facseq.identity import embed_along_tracks
    from facseq.track import link_tracks

    clip = tmp_path / "cut.mp4"
    compose_clip(require_shared("fixtures", "speaker"), CUT_TO_LISTENER, clip)
    raw = subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(clip), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    frames = list(np.frombuffer(raw, np.uint8).reshape(-1, HEIGHT, WIDTH, 3))
    found = FaceDetector(DetectorSettings()).detect(frames)
    frame_of = np.concatenate([[i] * len(boxes) for i, (boxes, _) in enumerate(found)]).astype(int)
    boxes = np.concatenate([b for b, _ in found if len(b)])
    linked = link_tracks(frame_of, boxes)
    assert len(set(linked[linked >= 0])) == 1, "without shots, box linking runs across the cut"
    settings = IdentitySettings(every=2, coarse_every=8, min_similarity=0.92)
    embeddings = embed_along_tracks(make_embedder("dlib"), frames, frame_of, boxes, linked, settings, 20)
    new, splits, split_of = split_tracks(linked, frame_of, embeddings, settings)
    cut = CUT_FRAME[CUT_TO_LISTENER.name]
    assert len(splits) == 1 and cut <= splits[0].frame <= cut + settings.every - 1, splits  # the 1st embedded face after it
    assert len(set(new[frame_of < cut])) == 1 and len(set(new[frame_of >= splits[0].frame])) == 1
    assert set(new[frame_of < cut]).isdisjoint(new[frame_of >= splits[0].frame])
