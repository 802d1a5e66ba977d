"""facseq.dlib_resnet: the reader of dlib's serialization and dlib's face-recognition ResNet in torch.

Parity is against dlib's own network (`dlib.face_recognition_model_v1`) on the same 5-point shapes:
real faces (the two photographs the demo data is made of, shifted, brightened, mirrored) and random
images. Measured: max |difference| of the raw 128-d descriptors 4e-7 (1e-6 relative), 1 - cosine <= 1.2e-7.
"""

from __future__ import annotations

import dataclasses
import struct

import numpy as np
import pytest

dlib = pytest.importorskip("dlib")
torch = pytest.importorskip("torch")

from test_embed import ASTRONAUT_BOX, HOPPER_BOX, astronaut, crop_and_box, hopper  # noqa: E402,F401 (fixtures)

from facseq.dlib_resnet import DlibFormatError, face_chips, load_face_resnet, read_network  # noqa: E402
from facseq.dlib_resnet.build import build_face_resnet  # noqa: E402
from facseq.dlib_resnet.residual import zero_padded_add  # noqa: E402
from facseq.dlib_resnet.serialization import DlibReader  # noqa: E402
from facseq.embed import DlibEmbedder, EmbeddingError, dlib_model_paths  # noqa: E402
from facseq.match import DEFAULT_MIN_SIMILARITY  # noqa: E402

PREDICTOR, RECOGNIZER = dlib_model_paths()


def dlib_int(value: int) -> bytes:
    """dlib's integer encoding, written from its description: control byte (size | 0x80 if negative)."""
    magnitude = abs(value).to_bytes(8, "little").rstrip(b"\0")
    return bytes([len(magnitude) | (0x80 if value < 0 else 0)]) + magnitude


# ------------------------------------------------------------------------------ serialization
def test_integers_floats_bools_strings(tmp_path):
    data = (dlib_int(0) + dlib_int(5) + dlib_int(-300) + dlib_int(2**40)
            + dlib_int(10737418) + dlib_int(-28)  # 0.04 as float_details: mantissa * 2**exponent
            + dlib_int(0) + dlib_int(32000) + dlib_int(0) + dlib_int(32002)  # +inf, NaN
            + b"10" + dlib_int(5) + b"relu_")
    reader = DlibReader(data, tmp_path / "x.dat")
    assert [reader.integer() for _ in range(4)] == [0, 5, -300, 2**40]
    assert reader.real() == pytest.approx(0.04, rel=1e-7)
    assert reader.real() == float("inf") and np.isnan(reader.real())
    assert (reader.boolean(), reader.boolean()) == (True, False)
    assert reader.string() == "relu_" and reader.at_end()


def test_tensors_raw_and_portable(tmp_path):
    values = np.arange(6, dtype=np.float32) - 2.5
    shape = b"".join(dlib_int(d) for d in (1, 2, 3, 1))
    raw = dlib_int(2) + shape + values.astype("<f4").tobytes()
    # version 1: each value a float_details; -2.5 = -5 * 2**-1, 0 = 0 * 2**0
    portable = dlib_int(1) + shape + b"".join(dlib_int(int(v * 2)) + dlib_int(-1) for v in values)
    for data in (raw, portable):
        tensor = DlibReader(data, tmp_path / "t.dat").tensor()
        assert tensor.shape == (1, 2, 3, 1) and tensor.dtype == np.float32
        np.testing.assert_array_equal(tensor.ravel(), values)


def test_reader_errors_name_the_file_and_offset(tmp_path):
    path = tmp_path / "short.dat"
    with pytest.raises(DlibFormatError, match=r"short\.dat: file ends .* at byte 1 of 2"):
        DlibReader(bytes([0x02, 0x01]), path).integer()
    with pytest.raises(DlibFormatError, match="not a dlib integer control byte"):
        DlibReader(b"\x71", path).integer()
    with pytest.raises(DlibFormatError, match="not a dlib bool"):
        DlibReader(b"x", path).boolean()


# ------------------------------------------------------------------------------ the network file
@pytest.fixture(scope="module")
def network():
    return read_network(RECOGNIZER)


def test_parsed_network_is_dlibs_face_resnet(network):
    assert network.input.rows == network.input.cols == 150
    assert network.input.mean_rgb == pytest.approx((122.782, 117.001, 104.298), abs=1e-3)
    assert network.loss.distance_threshold == pytest.approx(0.6)
    model = load_face_resnet(RECOGNIZER)
    channels = [b.conv2.out_channels for b in model.blocks]
    downsampling = [b.shortcut_pool is not None for b in model.blocks]
    assert channels == [32] * 3 + [64] * 4 + [128] * 3 + [256] * 4
    assert [i for i, down in enumerate(downsampling) if down] == [3, 7, 10, 13]
    assert model.stem.conv.kernel_size == (7, 7) and model.stem.conv.padding == (0, 0)
    assert model.fc.weight.shape == (128, 256)
    with torch.inference_mode():
        x = torch.full((2, 3, 150, 150), 128.0)
        assert model.stem(model.input_layer(x)).shape == (2, 32, 35, 35)
        assert model.blocks[:13](model.stem(model.input_layer(x))).shape == (2, 256, 4, 4)  # 3x3 main + 4x4 pool
        assert model(x).shape == (2, 128)


def test_other_architectures_are_rejected_naming_the_file(network):
    no_fc = dataclasses.replace(network, layers=network.layers[:-1])
    with pytest.raises(DlibFormatError, match=r"resnet_model_v1.dat: not dlib's face-recognition ResNet: expected fc_no_bias"):
        build_face_resnet(no_fc)
    moved_tag = dataclasses.replace(network, markers=network.markers[1:] + network.markers[:1])
    with pytest.raises(DlibFormatError, match="tag/skip layout does not match"):
        build_face_resnet(moved_tag)


def test_zero_padded_add_matches_dlibs_add_prev():
    shortcut = torch.arange(2 * 4 * 4, dtype=torch.float32).view(1, 2, 4, 4)
    main = torch.ones(1, 3, 3, 3)
    out = zero_padded_add(shortcut, main)
    assert out.shape == (1, 3, 4, 4)
    torch.testing.assert_close(out[:, :2, :3, :3], shortcut[:, :, :3, :3] + 1)
    torch.testing.assert_close(out[:, :2, 3, :], shortcut[:, :, 3, :])  # beyond the main branch: shortcut only
    torch.testing.assert_close(out[:, 2, :3, :3], torch.ones(1, 3, 3))  # beyond the shortcut's channels
    assert float(out[:, 2, 3, :].abs().sum()) == 0.0


@pytest.mark.parametrize("keep", [40, 4000, 3_000_000])
def test_truncated_network_file_is_rejected_naming_it(tmp_path, keep):
    truncated = tmp_path / "truncated_resnet.dat"
    truncated.write_bytes(RECOGNIZER.read_bytes()[:keep])
    with pytest.raises(DlibFormatError, match="truncated_resnet.dat: .*truncated"):
        read_network(truncated)


def test_wrong_files_are_rejected_naming_them(tmp_path):
    with pytest.raises(DlibFormatError, match="shape_predictor_5_face_landmarks.dat: not a dlib network"):
        read_network(PREDICTOR)  # a dlib file, but a shape predictor
    padded = tmp_path / "padded.dat"
    padded.write_bytes(RECOGNIZER.read_bytes() + b"\0")
    with pytest.raises(DlibFormatError, match="padded.dat: unexpected bytes after the network"):
        read_network(padded)
    with pytest.raises(DlibFormatError, match="absent.dat: dlib network file not found"):
        read_network(tmp_path / "absent.dat")
    text = tmp_path / "notes.dat"
    text.write_text("hello, this is not a network\n")
    with pytest.raises(EmbeddingError, match="notes.dat"):
        DlibEmbedder(recognizer=text)


# ------------------------------------------------------------------------------ parity with dlib
@pytest.fixture(scope="module")
def embedders():
    return DlibEmbedder(net="torch"), DlibEmbedder(net="dlib")


@pytest.fixture(scope="module")
def faces(astronaut, hopper):  # noqa: F811 (fixtures imported from test_embed)
    """Real face crops with their boxes, then random images with the default box."""
    brighter = np.clip(astronaut.astype(np.float64) * 1.3 + 10, 0, 255).astype(np.uint8)
    mirrored = np.ascontiguousarray(astronaut[:, ::-1])
    mirror_box = np.array([512 - ASTRONAUT_BOX[2], ASTRONAUT_BOX[1], 512 - ASTRONAUT_BOX[0], ASTRONAUT_BOX[3]])
    pairs = [crop_and_box(astronaut, ASTRONAUT_BOX), crop_and_box(astronaut, ASTRONAUT_BOX + [6, 4, 6, 4]),
             crop_and_box(brighter, ASTRONAUT_BOX), crop_and_box(mirrored, mirror_box),
             crop_and_box(hopper, HOPPER_BOX), crop_and_box(hopper, HOPPER_BOX + [-10, 8, 5, -6])]
    rng = np.random.default_rng(0)
    crops = [c for c, _ in pairs] + [rng.integers(0, 256, (160, 160, 3), dtype=np.uint8) for _ in range(4)]
    boxes = [tuple(b) for _, b in pairs] + [(10.0, 10.0, 150.0, 150.0)] * 4
    return crops, boxes


def test_descriptors_match_dlibs_network(embedders, faces):
    torch_net, dlib_net = embedders
    crops, boxes = faces
    shapes = torch_net.shapes(crops, boxes)
    raw_torch = torch_net.descriptors_torch(face_chips(crops, shapes, 150))
    raw_dlib = np.array([dlib_net.recognizer.compute_face_descriptor(c, s) for c, s in zip(crops, shapes)])
    assert np.abs(raw_torch - raw_dlib).max() <= 1e-4  # measured 4e-7

    vectors_torch, vectors_dlib = torch_net.embed(crops, boxes), dlib_net.embed(crops, boxes)
    assert vectors_torch.shape == (10, 128) and vectors_torch.dtype == np.float32
    cosines = (vectors_torch * vectors_dlib).sum(axis=1)
    assert cosines.min() >= 0.9999
    # the real faces still separate: same person close, the other below the dlib matching threshold
    sims = vectors_torch @ vectors_torch.T
    assert min(sims[0, 1], sims[0, 3], sims[4, 5]) > 0.95
    assert sims[0, 4] < DEFAULT_MIN_SIMILARITY["dlib"]


def test_random_chips_match_dlibs_network(embedders):
    torch_net, dlib_net = embedders
    chips = np.random.default_rng(1).integers(0, 256, (3, 150, 150, 3), dtype=np.uint8)
    raw_dlib = np.array(dlib_net.recognizer.compute_face_descriptor(list(chips)))  # the chip overload
    assert np.abs(torch_net.descriptors_torch(chips) - raw_dlib).max() <= 1e-4


def test_batches_do_not_change_descriptors(embedders, faces):
    torch_net = embedders[0]
    crops, boxes = faces
    many_crops, many_boxes = crops * 4, boxes * 4  # 40 faces: more than one batch of 32
    together = torch_net.embed(many_crops, many_boxes)
    one_by_one = np.concatenate([torch_net.embed([c], [b]) for c, b in zip(crops, boxes)])
    np.testing.assert_allclose(together, np.tile(one_by_one, (4, 1)), atol=1e-5)
    assert torch_net.embed([]).shape == (0, 128)


def test_jitter_and_net_switches():
    with pytest.raises(EmbeddingError, match="jitter=3: random jittering is only on net='dlib'"):
        DlibEmbedder(jitter=3)
    assert DlibEmbedder(jitter=1).net == "torch"  # dlib treats 1 as no jitter
    with pytest.raises(EmbeddingError, match="net='onnx'"):
        DlibEmbedder(net="onnx")


def test_float_details_real_bytes_of_the_file():
    """The loss record at the head of the real file: loss_metric_2, margin 0.04, distance threshold 0.6."""
    head = RECOGNIZER.read_bytes()[:32]
    reader = DlibReader(head, RECOGNIZER)
    assert reader.integer() == 1 and reader.string() == "loss_metric_2"
    assert struct.pack("<f", reader.real()) == struct.pack("<f", 0.04)
    assert struct.pack("<f", reader.real()) == struct.pack("<f", 0.6)
