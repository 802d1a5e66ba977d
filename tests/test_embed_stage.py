"""The embed stage on hand-made faces folders with a counting stand-in embedder: faces the faces stage
already embedded (identity check) are reused exactly and never embedded again, the rest of the whole
batch goes through the embedder in one call, and a broken utterance fails alone."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import facseq.embed
from facseq.stages.common import BatchItem
from facseq.stages.embeddings import embed_faces, sample_per_track
from facseq.stages.faces import DETECTION_COLUMNS
from facseq.tables import PENDING, read_status, write_status, write_tsv

DIM = 4


class CountingEmbedder:
    dim = DIM

    def __init__(self):
        self.calls: list[int] = []

    def embed(self, crops, face_boxes=None, five_points=None):
        self.calls.append(len(crops))
        vectors = np.array([[c.mean(), c[..., 0].mean(), 1.0, 2.0] for c in crops], dtype=np.float32).reshape(-1, DIM)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True) if len(vectors) else vectors


def make_faces(faces_dir, name: str, n_frames: int, identity_every: int | None):
    """One track of `n_frames` faces; with `identity_every`, embeddings.npy holds every n-th face."""
    utt = faces_dir / name
    (utt / "crops").mkdir(parents=True)
    rows = []
    for det in range(n_frames):
        crop = f"{det:05d}.jpg"
        cv2.imwrite(str(utt / "crops" / crop), np.full((160, 160, 3), 10 + det, dtype=np.uint8))
        rows.append({"det": det, "frame": det, "time_s": det / 25, "shot": 0, "track": 0, "x1": 10, "y1": 10, "x2": 90,
                     "y2": 100, "probability": 0.99, "crop": crop})
    write_tsv(utt / "detections.tsv", rows, DETECTION_COLUMNS)
    np.save(utt / "landmarks.npy", np.full((n_frames, 468, 2), np.nan, dtype=np.float32))
    np.save(utt / "five_points.npy", np.full((n_frames, 5, 2), np.nan, dtype=np.float32))
    if identity_every:
        saved = np.full((n_frames, DIM), np.nan, dtype=np.float32)
        saved[::identity_every] = np.eye(DIM, dtype=np.float32)[0]
        np.save(utt / "embeddings.npy", saved)


@pytest.fixture
def batch(tmp_path, monkeypatch):
    faces_dir, audio_dir = tmp_path / "faces", tmp_path / "audio"
    audio_dir.mkdir()
    names = ["dia0_utt0", "dia0_utt1", "dia0_utt2"]
    write_tsv(audio_dir / "media.tsv", [{"utterance": n, "width": 200, "height": 200} for n in names],
              ["utterance", "width", "height"])
    make_faces(faces_dir, names[0], 20, identity_every=2)  # 10 embedded: 8 of them are used
    make_faces(faces_dir, names[1], 12, identity_every=None)  # nothing embedded yet
    (faces_dir / names[2]).mkdir()  # broken: no detections.tsv
    write_status(faces_dir / "status.tsv", {n: (PENDING, "") for n in names})
    embedder = CountingEmbedder()
    monkeypatch.setattr(facseq.embed, "make_embedder", lambda *args: embedder)
    monkeypatch.setattr(facseq.embed, "backend_dim", lambda backend: DIM)
    items = [BatchItem(n, "Joey", "") for n in names]
    status = embed_faces(items, faces_dir, audio_dir, tmp_path / "out", "dlib", None, "cpu", 20, max_per_track=8)
    return {"status": status, "embedder": embedder, "out": tmp_path / "out", "faces": faces_dir}


def test_identity_embeddings_are_reused_and_the_rest_embedded_in_one_call(batch):
    assert batch["embedder"].calls == [8]  # utt1's 8 sampled faces; utt0 needs none
    reused = np.load(batch["out"] / "dia0_utt0.npy")
    assert np.flatnonzero(np.isfinite(reused).all(axis=1)).tolist() == [0, 2, 6, 8, 10, 12, 16, 18]  # evenly among the embedded
    assert np.array_equal(reused[0], np.eye(DIM)[0])  # exactly the faces stage's vector
    fresh = np.load(batch["out"] / "dia0_utt1.npy")
    assert np.isfinite(fresh).all(axis=1).sum() == 8 and fresh.shape == (12, DIM)


def test_a_broken_utterance_fails_alone(batch):
    assert batch["status"]["dia0_utt2"][0] == "failed" and "embeddings" in batch["status"]["dia0_utt2"][1]
    assert read_status(batch["out"] / "status.tsv")["dia0_utt1"] == (PENDING, "")


def test_sampling_reuses_the_faces_already_embedded():
    """A track the identity check embedded is not embedded again, however few faces it took."""
    rows = [{"det": d, "frame": d, "track": 0} for d in range(10)]
    assert [r["det"] for r in sample_per_track(rows, 3, embedded={1, 5, 7, 9})] == [1, 7, 9]  # evenly among them
    assert [r["det"] for r in sample_per_track(rows, 3, embedded={5})] == [5]
    assert [r["det"] for r in sample_per_track(rows, 3)] == [0, 4, 9]  # none embedded: even spacing
    assert [r["det"] for r in sample_per_track(rows, 0, embedded=set(range(10)))] == list(range(10))


def test_the_embedder_is_not_loaded_when_every_face_is_reused(tmp_path, monkeypatch):
    faces_dir, audio_dir = tmp_path / "faces", tmp_path / "audio"
    audio_dir.mkdir()
    write_tsv(audio_dir / "media.tsv", [{"utterance": "dia0_utt0", "width": 200, "height": 200}], ["utterance", "width", "height"])
    make_faces(faces_dir, "dia0_utt0", 20, identity_every=4)  # 5 faces embedded by the identity check
    write_status(faces_dir / "status.tsv", {"dia0_utt0": (PENDING, "")})

    def no_loading(*args):
        raise AssertionError("the embedder was loaded with nothing to embed")

    monkeypatch.setattr(facseq.embed, "make_embedder", no_loading)
    monkeypatch.setattr(facseq.embed, "backend_dim", lambda backend: DIM)
    status = embed_faces([BatchItem("dia0_utt0", "Joey", "")], faces_dir, audio_dir, tmp_path / "out", "dlib", None,
                         "cpu", 20, max_per_track=8)
    assert status["dia0_utt0"] == (PENDING, "")
    reused = np.load(tmp_path / "out" / "dia0_utt0.npy")
    assert np.flatnonzero(np.isfinite(reused).all(axis=1)).tolist() == [0, 4, 8, 12, 16]


def test_backend_dims_are_known_without_loading_a_model():
    from facseq.embed import DlibEmbedder, backend_dim

    assert backend_dim("dlib") == DlibEmbedder.dim == 128 and backend_dim("facenet") == 512
    assert backend_dim("resnet50") == 2048 and backend_dim("arcface_onnx") is None  # read from the .onnx
