"""facseq.embed (three backends) and the pure crop helpers of facseq.faces.

dlib runs on real faces shipped by installed packages: scikit-image's astronaut (Eileen Collins) and
matplotlib's Grace Hopper sample; face boxes were measured once with MTCNN. The torch backends load
randomly initialised weights saved to tmp_path (no pretrained face weights are available offline).
"""

from __future__ import annotations

import numpy as np
import pytest

from facseq.embed import (
    BACKENDS,
    DlibEmbedder,
    EmbeddingError,
    FacenetEmbedder,
    ResNet50Embedder,
    l2_normalise,
    load_state_dict,
    make_embedder,
)
from facseq.faces import CROP_SIZE, box_in_crop, crop_face, crop_window, grow_box
from facseq.match import DEFAULT_MIN_SIMILARITY

ASTRONAUT_BOX = np.array([181.0, 62.0, 268.0, 172.0])  # MTCNN on skimage.data.astronaut() (512x512)
HOPPER_BOX = np.array([174.0, 120.0, 356.0, 340.0])  # MTCNN on grace_hopper.jpg (512x600)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data")
    return skimage_data.astronaut()


@pytest.fixture(scope="module")
def hopper() -> np.ndarray:
    cbook = pytest.importorskip("matplotlib.cbook")
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        return np.array(Image.open(handle).convert("RGB"))


def crop_and_box(image, box):
    return crop_face(image, box), box_in_crop(box, CROP_SIZE, 20, image.shape[1], image.shape[0])


# ------------------------------------------------------------------------------ faces.py helpers
def test_crop_window_adds_facenet_margin_and_clips():
    # a 140x140 box with margin 20 of 160: grown by 20 * 140 / 140 = 20 px in all, 10 px a side
    assert crop_window((100, 100, 240, 240), 160, 20, 1000, 1000) == (90, 90, 250, 250)
    assert crop_window((0, 5, 140, 145), 160, 20, 200, 150) == (0, 0, 150, 150)  # clipped to the frame
    assert crop_window((100, 100, 240, 240), 160, 0, 1000, 1000) == (100, 100, 240, 240)


def test_box_in_crop_maps_face_into_crop_pixels():
    x1, y1, x2, y2 = box_in_crop((100, 100, 240, 240), 160, 20, 1000, 1000)
    assert (x1, y1, x2, y2) == pytest.approx((10, 10, 150, 150))
    # clipped window: the face is no longer centred, but still maps inside the crop
    x1, y1, x2, y2 = box_in_crop((0, 5, 140, 145), 160, 20, 200, 150)
    assert x1 == pytest.approx(0) and y1 == pytest.approx(5 * 160 / 150)
    assert x2 == pytest.approx(140 * 160 / 150) and y2 == pytest.approx(145 * 160 / 150)


def test_crop_face_is_a_resized_window(astronaut):
    crop = crop_face(astronaut, ASTRONAUT_BOX)
    assert crop.shape == (CROP_SIZE, CROP_SIZE, 3) and crop.dtype == np.uint8
    x1, y1, x2, y2 = crop_window(ASTRONAUT_BOX, CROP_SIZE, 20, 512, 512)
    window = astronaut[y1:y2, x1:x2].astype(np.float64)
    assert crop.mean() == pytest.approx(window.mean(), abs=1.5)
    assert crop_face(astronaut, ASTRONAUT_BOX, size=80).shape == (80, 80, 3)


def test_grow_box():
    assert grow_box(np.array([100, 100, 200, 150]), 0.25, 1000, 1000) == (75, 87, 225, 163)
    assert grow_box(np.array([10, 10, 110, 60]), 0.5, 120, 70) == (0, 0, 120, 70)  # clipped
    assert grow_box(np.array([10.4, 10.6, 20.2, 20.9]), 0.0, 100, 100) == (10, 10, 21, 21)  # outward rounding


# ------------------------------------------------------------------------------ l2_normalise
def test_l2_normalise():
    x = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0], [-1e-3, 0.0]]))
    np.testing.assert_allclose(x, [[0.6, 0.8], [0.0, 0.0], [-1.0, 0.0]], atol=1e-6)
    assert x.dtype == np.float32


# ------------------------------------------------------------------------------ dlib
@pytest.fixture(scope="module")
def dlib_embedder():
    pytest.importorskip("dlib")
    return DlibEmbedder()


def test_dlib_same_face_close_different_face_far(dlib_embedder, astronaut, hopper):
    brighter = np.clip(astronaut.astype(np.float64) * 1.3 + 10, 0, 255).astype(np.uint8)
    mirrored = np.ascontiguousarray(astronaut[:, ::-1])
    mirror_box = np.array([512 - ASTRONAUT_BOX[2], ASTRONAUT_BOX[1], 512 - ASTRONAUT_BOX[0], ASTRONAUT_BOX[3]])
    pairs = [
        crop_and_box(astronaut, ASTRONAUT_BOX),
        crop_and_box(astronaut, ASTRONAUT_BOX + [6, 4, 6, 4]),  # detector box shifted by a few pixels
        crop_and_box(brighter, ASTRONAUT_BOX),
        crop_and_box(mirrored, mirror_box),
        crop_and_box(hopper, HOPPER_BOX),
    ]
    vectors = dlib_embedder.embed([c for c, _ in pairs], [b for _, b in pairs])
    assert vectors.shape == (5, 128) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    same = sims[np.ix_(range(4), range(4))]
    different = sims[4, :4]
    assert same.min() > 0.95
    threshold = DEFAULT_MIN_SIMILARITY["dlib"]
    assert (different < threshold).all()
    assert different.max() < same.min() - 0.05


def test_dlib_default_face_box_and_determinism(dlib_embedder, astronaut):
    crop, box = crop_and_box(astronaut, ASTRONAUT_BOX)
    with_box = dlib_embedder.embed([crop], [box])
    default = dlib_embedder.embed([crop])  # face assumed to fill the crop minus the margin
    assert float(with_box[0] @ default[0]) > 0.97
    np.testing.assert_allclose(dlib_embedder.embed([crop], [box]), with_box, atol=1e-6)
    assert dlib_embedder.embed([]).shape == (0, 128)


def test_dlib_missing_model_file(tmp_path):
    pytest.importorskip("dlib")
    missing = tmp_path / "shape_predictor.dat"
    with pytest.raises(EmbeddingError) as info:
        DlibEmbedder(predictor=missing)
    assert str(missing) in str(info.value)


# ------------------------------------------------------------------------------ torch backends
@pytest.fixture(scope="module")
def facenet_weights(tmp_path_factory):
    torch = pytest.importorskip("torch")
    facenet = pytest.importorskip("facenet_pytorch")
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "facenet.pt"
    torch.save(facenet.InceptionResnetV1(pretrained=None).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def resnet_weights(tmp_path_factory):
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("w")
    state = torchvision.models.resnet50(weights=None).state_dict()
    plain = folder / "resnet50.pt"
    torch.save(state, plain)
    # as saved from DataParallel inside a training checkpoint
    wrapped = folder / "resnet50_dp.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, wrapped)
    return plain, wrapped


@pytest.fixture(scope="module")
def facenet(facenet_weights):
    return FacenetEmbedder(facenet_weights)


def test_facenet_embedder(facenet, astronaut):
    crops = [crop_face(astronaut, ASTRONAUT_BOX), np.zeros((CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)]
    vectors = facenet.embed(crops)
    assert vectors.shape == (2, 512) and facenet.dim == 512 and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # deterministic (eval mode), and batching does not change a face's vector
    facenet.batch_size = 1
    try:
        np.testing.assert_allclose(facenet.embed(crops), vectors, atol=1e-6)
    finally:
        facenet.batch_size = 64
    # random weights map every face near one point, but different inputs still differ far beyond that noise
    assert np.abs(vectors[0] - vectors[1]).max() > 1e-4
    assert facenet.embed([]).shape == (0, 512)


def test_facenet_preprocess_is_fixed_standardisation(facenet):
    batch = np.array([[[[0, 127, 255]]]], dtype=np.uint8)  # (1,1,1,3)
    x = facenet.preprocess(batch)
    assert tuple(x.shape) == (1, 3, 1, 1)
    np.testing.assert_allclose(x.flatten().numpy(), [-127.5 / 128, -0.5 / 128, 127.5 / 128])


def test_resnet50_embedder(resnet_weights, astronaut, hopper):
    plain, wrapped = resnet_weights
    embedder = ResNet50Embedder(plain)
    crops = [crop_face(astronaut, ASTRONAUT_BOX), crop_face(hopper, HOPPER_BOX)]
    vectors = embedder.embed(crops)
    assert vectors.shape == (2, 2048) and embedder.dim == 2048
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.abs(vectors[0] - vectors[1]).max() > 1e-4
    # the same weights from a DataParallel training checkpoint give the same vectors (and: deterministic)
    np.testing.assert_allclose(ResNet50Embedder(wrapped).embed(crops[:1]), vectors[:1], atol=1e-5)
    assert embedder.embed([]).shape == (0, 2048)
    x = embedder.preprocess(np.stack(crops))
    assert tuple(x.shape) == (2, 3, 224, 224)  # resized to ImageNet size, ImageNet-normalised


def test_resnet50_rejects_other_weights(facenet_weights):
    with pytest.raises(EmbeddingError) as info:
        ResNet50Embedder(facenet_weights)
    assert str(facenet_weights) in str(info.value) and "ResNet-50" in str(info.value)


def test_load_state_dict_strips_prefix(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "w.pt"
    torch.save({"state_dict": {"module.a.weight": torch.ones(2), "b": torch.zeros(1)}}, path)
    state = load_state_dict(path)
    assert set(state) == {"a.weight", "b"}
    assert torch.equal(state["a.weight"], torch.ones(2))
    missing = tmp_path / "nothing.pt"
    with pytest.raises(EmbeddingError) as info:
        load_state_dict(missing)
    assert str(missing) in str(info.value)


@pytest.mark.parametrize("backend", ["facenet", "resnet50"])
def test_missing_weights_name_the_path(tmp_path, backend):
    pytest.importorskip("torch")
    missing = tmp_path / "weights" / f"{backend}.pt"
    with pytest.raises(EmbeddingError) as info:
        make_embedder(backend, missing)
    assert str(missing) in str(info.value) and "not found" in str(info.value)


def test_make_embedder_dispatch(monkeypatch):
    import facseq.embed as embed

    made = []
    for name in ("DlibEmbedder", "FacenetEmbedder", "ResNet50Embedder", "ArcFaceOnnxEmbedder"):
        monkeypatch.setattr(embed, name, lambda *args, _name=name, **kw: made.append((_name, args, kw)) or _name)
    assert BACKENDS == ("dlib", "facenet", "resnet50", "arcface_onnx")
    assert make_embedder("dlib", "ignored.pt") == "DlibEmbedder"
    assert make_embedder("facenet", "/w/f.pt", "cpu") == "FacenetEmbedder"
    assert make_embedder("resnet50", None, "cuda") == "ResNet50Embedder"
    assert make_embedder("arcface_onnx", "/w/r50.onnx", "auto") == "ArcFaceOnnxEmbedder"
    assert make_embedder("dlib", None, "cuda") == "DlibEmbedder"
    assert made == [("DlibEmbedder", (), {"device": "cpu"}), ("FacenetEmbedder", ("/w/f.pt", "cpu"), {}),
                    ("ResNet50Embedder", ("", "cuda"), {}), ("ArcFaceOnnxEmbedder", ("/w/r50.onnx", "auto"), {}),
                    ("DlibEmbedder", (), {"device": "cuda"})]
    with pytest.raises(EmbeddingError) as info:
        make_embedder("arcface")
    assert "arcface" in str(info.value) and "dlib" in str(info.value)
