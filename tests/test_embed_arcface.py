"""The `arcface_onnx` backend: a small random ResNet-shaped network exported to ONNX stands in for an
ArcFace model (insightface's w600k_r50.onnx has the same interface: 1x3x112x112 in, 512 out)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from facseq.align import align_face, box_five_points, points_in_crop
from facseq.embed import (
    ArcFaceOnnxEmbedder,
    EmbeddingError,
    face_model_spec,
    make_embedder,
    onnx_providers,
)
from facseq.faces import CROP_SIZE, crop_face

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

ASTRONAUT_BOX = np.array([181.05, 62.16, 267.75, 172.05])  # MTCNN on skimage.data.astronaut()
ASTRONAUT_POINTS = np.array([[205.0, 101.7], [246.8, 103.7], [224.7, 129.0], [201.7, 139.2], [245.3, 141.9]])


class TinyArcFace(torch.nn.Module):
    """ResNet-shaped: conv stem, two residual stages, pooling, a linear embedding head (no training)."""

    def __init__(self, dim: int = 512, channels_last: bool = False):
        super().__init__()
        from torchvision.models.resnet import BasicBlock

        self.channels_last = channels_last
        self.stem = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, 2, 1, bias=False), torch.nn.BatchNorm2d(16), torch.nn.ReLU())
        down = torch.nn.Sequential(torch.nn.Conv2d(16, 32, 1, 2, bias=False), torch.nn.BatchNorm2d(32))
        self.blocks = torch.nn.Sequential(BasicBlock(16, 16), BasicBlock(16, 32, stride=2, downsample=down))
        self.head = torch.nn.Linear(32, dim)

    def forward(self, x):  # (B,3,112,112) or (B,112,112,3) -> (B,dim)
        if self.channels_last:
            x = x.permute(0, 3, 1, 2)
        x = self.blocks(self.stem(x))  # (B,32,28,28)
        return self.head(x.mean(dim=(2, 3)))  # (B,dim)


def export(model, path, shape, dynamic_batch=True):
    model.eval()
    axes = {"input.1": {0: "batch"}, "embedding": {0: "batch"}} if dynamic_batch else None
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated, and says so twice per call
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, torch.zeros(shape), str(path), input_names=["input.1"], output_names=["embedding"],
                          dynamic_axes=axes, dynamo=False)
    return path


@pytest.fixture(scope="module")
def network():
    torch.manual_seed(0)
    return TinyArcFace().eval()


@pytest.fixture(scope="module")
def models(network, tmp_path_factory):
    """The same weights exported four ways: dynamic batch NCHW, fixed batch 1, fixed batch 4, and NHWC."""
    folder = tmp_path_factory.mktemp("onnx")
    nhwc = TinyArcFace(channels_last=True)
    nhwc.load_state_dict(network.state_dict())
    return {
        "dynamic": export(network, folder / "r50_dynamic.onnx", (1, 3, 112, 112)),
        "batch1": export(network, folder / "r50_batch1.onnx", (1, 3, 112, 112), dynamic_batch=False),
        "batch4": export(network, folder / "r50_batch4.onnx", (4, 3, 112, 112), dynamic_batch=False),
        "nhwc": export(nhwc, folder / "r50_nhwc.onnx", (1, 112, 112, 3)),
    }


@pytest.fixture(scope="module")
def faces():
    """Two astronaut crops (one turned by 180 degrees) with their five points, in crop pixels."""
    skimage_data = pytest.importorskip("skimage.data")
    image = skimage_data.astronaut()
    crop = crop_face(image, ASTRONAUT_BOX)
    points = points_in_crop(ASTRONAUT_POINTS, ASTRONAUT_BOX, CROP_SIZE, 20, image.shape[1], image.shape[0])
    turned = np.ascontiguousarray(crop[::-1, ::-1])
    turned_points = CROP_SIZE - 1 - points  # same anatomical order: the person's right eye first
    return [crop, turned], np.stack([points, turned_points])


def test_model_interface_is_read_from_the_model(models):
    embedder = make_embedder("arcface_onnx", models["dynamic"])
    spec = embedder.spec
    assert (spec.input_name, spec.layout, spec.size, spec.dim, spec.batch) == ("input.1", "NCHW", 112, 512, None)
    assert embedder.dim == 512
    assert ArcFaceOnnxEmbedder(models["batch1"]).spec.batch == 1
    assert ArcFaceOnnxEmbedder(models["nhwc"]).spec.layout == "NHWC"


def test_embeddings_match_the_network_on_aligned_faces(models, network, faces):
    crops, points = faces
    embedder = ArcFaceOnnxEmbedder(models["dynamic"])
    vectors = embedder.embed(crops, five_points=points)
    assert vectors.shape == (2, 512) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # what the model sees: each crop aligned by its points, scaled to [-1, 1], RGB, channels first
    aligned = np.stack([align_face(c, p, 112) for c, p in zip(crops, points)])
    np.testing.assert_array_equal(embedder.aligned_faces(crops, five_points=points), aligned)
    x = torch.from_numpy((aligned.astype(np.float32) - 127.5) / 127.5).permute(0, 3, 1, 2)
    with torch.inference_mode():
        expected = torch.nn.functional.normalize(network(x), dim=1).numpy()
    np.testing.assert_allclose(vectors, expected, atol=1e-4)
    # the turned face is aligned upright again: the model sees nearly the same face
    assert np.abs(aligned[0].astype(float) - aligned[1].astype(float)).mean() < 12
    assert embedder.embed([]).shape == (0, 512)


def test_deterministic_and_independent_of_batching_and_layout(models, faces):
    crops, points = faces
    dynamic = ArcFaceOnnxEmbedder(models["dynamic"])
    vectors = dynamic.embed(crops, five_points=points)
    np.testing.assert_array_equal(dynamic.embed(crops, five_points=points), vectors)
    dynamic.batch_size = 1
    np.testing.assert_allclose(dynamic.embed(crops, five_points=points), vectors, atol=1e-6)
    # a model exported with a fixed batch of 1 runs one face at a time, with the same result
    three = [crops[0], crops[1], crops[0]]
    fixed = ArcFaceOnnxEmbedder(models["batch1"]).embed(three, five_points=points[[0, 1, 0]])
    np.testing.assert_allclose(fixed, vectors[[0, 1, 0]], atol=1e-5)
    # a fixed batch of 4 gets full batches: 5 faces run as 4 + 1 padded with 3 blank ones
    five = ArcFaceOnnxEmbedder(models["batch4"]).embed([crops[0], crops[1]] * 2 + [crops[1]], five_points=points[[0, 1, 0, 1, 1]])
    np.testing.assert_allclose(five, vectors[[0, 1, 0, 1, 1]], atol=1e-5)
    np.testing.assert_allclose(ArcFaceOnnxEmbedder(models["nhwc"]).embed(crops, five_points=points), vectors, atol=1e-5)


def test_faces_without_points_use_the_box(models, faces):
    crops, points = faces
    embedder = ArcFaceOnnxEmbedder(models["dynamic"])
    box = (12.0, 8.0, 150.0, 152.0)
    missing = np.full((5, 2), np.nan)
    by_box = embedder.aligned_faces(crops[:1], face_boxes=[box], five_points=missing[None])
    np.testing.assert_array_equal(by_box[0], align_face(crops[0], box_five_points(box), 112))
    # with neither: the crop minus facenet's margin is taken as the face box
    default = embedder.aligned_faces(crops[:1])
    np.testing.assert_array_equal(default[0], align_face(crops[0], box_five_points((10, 10, 150, 150)), 112))


class Flat(torch.nn.Module):
    def forward(self, x):
        return x.flatten(1)[:, :8] * 2


@pytest.mark.parametrize("shape, what", [
    ((1, 64), "expected 4 axes"),  # not an image model
    ((1, 3, 112, 96), "fixed square image"),  # non-square input
    ((1, 5, 112, 112), "no 3-channel axis"),
])
def test_a_model_that_is_no_face_embedder_is_a_clear_error(tmp_path, shape, what):
    path = export(Flat(), tmp_path / "not_a_face_model.onnx", shape)
    with pytest.raises(EmbeddingError) as info:
        ArcFaceOnnxEmbedder(path)
    assert str(path) in str(info.value) and "not a face embedding model" in str(info.value) and what in str(info.value)


def test_a_model_with_two_inputs_is_a_clear_error(tmp_path):
    class TwoInputs(torch.nn.Module):
        def forward(self, image, mask):  # (B,3,112,112), (B,3,112,112) -> (B,8)
            return (image * mask).flatten(1)[:, :8]

    path = tmp_path / "two_inputs.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(TwoInputs(), (torch.zeros(1, 3, 112, 112), torch.ones(1, 3, 112, 112)), str(path),
                          input_names=["image", "mask"], dynamo=False)
    with pytest.raises(EmbeddingError, match=r"two_inputs\.onnx: not a face embedding model: 2 inputs \(image, mask\)"):
        ArcFaceOnnxEmbedder(path)


def test_output_that_is_no_embedding_is_a_clear_error(tmp_path):
    class Maps(torch.nn.Module):
        def forward(self, x):  # (B,3,112,112) -> (B,3,112,112): an image, not a vector
            return x * 2

    path = export(Maps(), tmp_path / "image_to_image.onnx", (1, 3, 112, 112))
    with pytest.raises(EmbeddingError, match=r"image_to_image\.onnx.*expected \(N, D\) embeddings"):
        ArcFaceOnnxEmbedder(path)


def test_missing_or_unreadable_model_names_the_file(tmp_path):
    missing = tmp_path / "w600k_r50.onnx"
    with pytest.raises(EmbeddingError, match=r"w600k_r50\.onnx: ArcFace ONNX model not found"):
        make_embedder("arcface_onnx", missing)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"this is not a protobuf")
    with pytest.raises(EmbeddingError, match=r"garbage\.onnx: onnxruntime cannot load it"):
        make_embedder("arcface_onnx", garbage)


def test_face_model_spec_reads_symbolic_and_fixed_axes():
    spec = face_model_spec("m.onnx", "data", ["None", 112, 112, 3], "tensor(float16)", [None, 256])
    assert (spec.layout, spec.size, spec.dim, spec.batch, spec.dtype) == ("NHWC", 112, 256, None, np.float16)
    assert face_model_spec("m.onnx", "x", [4, 3, 128, 128], "tensor(float)", [4, 512]).batch == 4
    with pytest.raises(EmbeddingError, match="float image tensor"):
        face_model_spec("m.onnx", "x", [1, 3, 112, 112], "tensor(uint8)", [1, 512])
    with pytest.raises(EmbeddingError, match="fixed square image"):
        face_model_spec("m.onnx", "x", [1, 3, "h", "w"], "tensor(float)", [1, 512])


def test_onnx_providers():
    cpu_only = ["AzureExecutionProvider", "CPUExecutionProvider"]
    with_gpu = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert onnx_providers("cpu", with_gpu) == ["CPUExecutionProvider"]
    assert onnx_providers("auto", cpu_only) == ["CPUExecutionProvider"]
    assert onnx_providers("auto", with_gpu) == with_gpu
    assert onnx_providers("cuda:1", with_gpu) == with_gpu
    with pytest.raises(EmbeddingError, match="onnxruntime-gpu"):
        onnx_providers("cuda", cpu_only)


# ------------------------------------------------------------------ the workflow on the demo with arcface_onnx
CROP_MARGIN, MAX_PER_TRACK = 20, 8  # detection.crop_margin (default) and embedding.max_faces_per_track of the run


@pytest.fixture(scope="module")
def demo_run(models, tmp_path_factory):
    from conftest import config_args, run_snakemake
    from facseq.demo import build_demo

    root = tmp_path_factory.mktemp("arcface_demo")
    data, results = root / "data", root / "results"
    truth = build_demo(data)  # the ground truth: every utterance, in CSV order
    # a config file: --config would hand the nested number over as a string
    overrides = root / "arcface.json"
    embedding = {"backend": "arcface_onnx", "weights": str(models["dynamic"]), "max_faces_per_track": MAX_PER_TRACK}
    # 10 fps instead of 25: the run is about the embeddings, and face detection dominates its time
    overrides.write_text(json.dumps({"embedding": embedding, "frames": {"fps": 10}}))
    run_snakemake("--cores", "2", "--configfile", str(overrides),
                  *config_args(data / "meld", data / "meld", data / "face_library", results))
    return {"results": results, "names": list(truth["utterances"])}


@pytest.mark.slow
def test_workflow_runs_with_arcface_onnx(demo_run):
    from contract import check_split_outputs

    results = demo_run["results"]
    decisions = check_split_outputs(results, "val", demo_run["names"])
    assert "failed" not in {d["status"] for d in decisions.values()}, decisions
    library = np.load(results / "work" / "library" / "arcface_onnx.npz")
    assert library.files and all(library[role].shape[1] == 512 for role in library.files)
    embedded = 0
    for path in sorted((results / "work" / "dev").glob("*/embeddings/*.npy")):
        vectors = np.load(path)
        rows = vectors[np.isfinite(vectors).all(axis=1)]
        assert vectors.shape[1] == 512, path
        np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
        embedded += len(rows)
    assert embedded > 0


@pytest.mark.slow
def test_workflow_embeddings_are_deterministic_and_aligned(demo_run, models, tmp_path):
    from facseq.faces import box_in_crop
    from facseq.stages.common import BatchItem, _read_rgb
    from facseq.stages.embeddings import embed_faces, five_points_in_crops, sample_per_track
    from facseq.stages.faces import load_detections
    from facseq.tables import read_tsv

    batch_dir = next((demo_run["results"] / "work" / "dev").glob("b*"))
    media = {row["utterance"]: row for row in read_tsv(batch_dir / "audio" / "media.tsv")}
    stored = {path.stem: np.load(path) for path in (batch_dir / "embeddings").glob("dia*.npy")}
    name = next(n for n in sorted(stored) if np.isfinite(stored[n]).any())
    # the embedding stage run again on one utterance gives the same vectors
    embed_faces([BatchItem(name, "", "")], batch_dir / "faces", batch_dir / "audio", tmp_path, "arcface_onnx",
                models["dynamic"], "cpu", CROP_MARGIN, MAX_PER_TRACK)
    np.testing.assert_array_equal(np.load(tmp_path / f"{name}.npy"), stored[name])
    # faces the faces stage embedded for its identity check are reused as they are, not embedded again
    rows = load_detections(batch_dir / "faces", name)
    identity = np.load(batch_dir / "faces" / name / "embeddings.npy")
    reused = [d for d in np.flatnonzero(np.isfinite(stored[name]).all(axis=1)) if np.isfinite(identity[d]).all()]
    assert reused
    np.testing.assert_array_equal(stored[name][reused], identity[reused])
    # the model saw the five-point aligned faces: the same crops laid over their boxes embed differently
    width, height = int(media[name]["width"]), int(media[name]["height"])
    used = sample_per_track(rows, MAX_PER_TRACK)[:4]
    points = five_points_in_crops(batch_dir / "faces" / name, used, CROP_MARGIN, width, height)
    assert np.isfinite(points).all()
    crops = [_read_rgb(batch_dir / "faces" / name / "crops" / r["crop"]) for r in used]
    boxes = [box_in_crop((r["x1"], r["y1"], r["x2"], r["y2"]), 160, CROP_MARGIN, width, height) for r in used]
    embedder = ArcFaceOnnxEmbedder(models["dynamic"])
    assert np.abs(embedder.embed(crops, boxes, points) - embedder.embed(crops, boxes)).max() > 1e-4
