"""The layer records of a dlib DNN file (`dlib::serialize(net, out)`), parsed in file order.

dlib writes a network recursively, each `add_layer` as: version, its sub-network, its layer's details,
then its own state (three bools and the cached tensors). So a file is

    loss version, loss details,
    one version per layer from the top down (2: add_layer with a layer; 1: a tag or a skip, which
    store nothing else: which tag a skip or an add_prev refers to is part of the C++ type only),
    the input layer (input_rgb_image_sized: per-channel means, rows, columns),
    then every computational layer's details and state from the bottom up.

`read_network` returns the computational layers bottom-up as small records with numpy weights, and
the top-down version markers so the caller can check the tag/skip pattern against the architecture.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .serialization import DlibFormatError, DlibReader

LAYER_VERSION, TAG_OR_SKIP_VERSION = 2, 1
EXAMPLE_FILE = "dlib_face_recognition_resnet_model_v1.dat"


@dataclass(frozen=True)
class InputSpec:
    mean_rgb: tuple[float, float, float]  # subtracted from 0-255 pixels before dividing by 256
    rows: int
    cols: int


@dataclass(frozen=True)
class Con:
    weight: np.ndarray  # (out, in, kh, kw) float32, cross-correlation as torch's conv2d
    bias: np.ndarray | None  # (out,)
    stride: tuple[int, int]  # (y, x)
    padding: tuple[int, int]  # (y, x), zeros


@dataclass(frozen=True)
class Affine:
    gamma: np.ndarray  # (k,) per-channel scale; y = gamma * x + beta
    beta: np.ndarray  # (k,)


@dataclass(frozen=True)
class Relu:
    pass


@dataclass(frozen=True)
class Pool:
    kind: str  # "max" or "avg"
    window: tuple[int, int]  # (rows, cols); (0, 0) pools the whole plane
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class AddPrev:
    pass


@dataclass(frozen=True)
class FcNoBias:
    weight: np.ndarray  # (out, in) float32: torch's nn.Linear layout


@dataclass(frozen=True)
class LossMetric:
    margin: float
    distance_threshold: float


@dataclass(frozen=True)
class DlibNetwork:
    path: Path
    loss: LossMetric
    markers: tuple[int, ...]  # top-down: 2 per add_layer, 1 per tag or skip
    input: InputSpec
    layers: tuple  # computational layers, bottom-up (input side first)


def split_params(reader: DlibReader, params: np.ndarray, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """Cut a layer's flat parameter tensor into consecutive views of the given shapes."""
    flat, out, start = params.reshape(-1), [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        if start + size > flat.size:
            raise reader.fail(f"parameter tensor of {flat.size} values is too small for shapes {shapes}")
        out.append(flat[start : start + size].reshape(shape))
        start += size
    return out


def read_con(reader: DlibReader, version: str) -> Con:
    params = reader.tensor()
    num_filters = reader.integer()
    reader.integer(), reader.integer()  # nr, nc: repeated by the filters' alias shape
    stride = (reader.integer(), reader.integer())
    padding = (reader.integer(), reader.integer())
    filters_shape = reader.alias_tensor()
    reader.alias_tensor()  # biases: (1, num_filters), after the filters
    for _ in range(4):  # learning-rate and weight-decay multipliers
        reader.real()
    use_bias = reader.boolean() if version == "con_5" else True
    if filters_shape[0] != num_filters:
        raise reader.fail(f"con has {num_filters} filters but a filter tensor of shape {filters_shape}")
    weight, *bias = split_params(reader, params, [filters_shape, (num_filters,)] if use_bias else [filters_shape])
    return Con(weight, bias[0] if bias else None, stride, padding)


def read_affine(reader: DlibReader, version: str) -> Affine:
    params = reader.tensor()
    gamma_shape = reader.alias_tensor()
    reader.alias_tensor()  # beta: the same shape, after gamma
    mode = reader.integer()
    disabled = reader.boolean() if version == "affine_2" else False
    if disabled:  # already folded into the convolution below by dlib's fuse_convolutions: the identity
        channels = gamma_shape[1]
        return Affine(np.ones(channels, np.float32), np.zeros(channels, np.float32))
    if mode != 0 or gamma_shape[2:] != (1, 1):
        raise reader.fail(f"affine layer in fc mode (gamma shape {gamma_shape}); only conv mode is supported")
    gamma, beta = split_params(reader, params, [(gamma_shape[1],), (gamma_shape[1],)])
    return Affine(gamma, beta)


def read_pool(reader: DlibReader, kind: str) -> Pool:
    window = (reader.integer(), reader.integer())
    stride = (reader.integer(), reader.integer())
    padding = (reader.integer(), reader.integer())
    return Pool(kind, window, stride, padding)


def read_fc(reader: DlibReader, version: str) -> FcNoBias:
    num_outputs, num_inputs = reader.integer(), reader.integer()
    params = reader.tensor()
    weights_shape = reader.alias_tensor()
    reader.alias_tensor()  # biases: empty without a bias
    bias_mode = reader.integer()
    for _ in range(4):
        reader.real()
    if version == "fc_3":
        reader.boolean()  # use_bias, irrelevant without a bias
    if bias_mode != 1:
        raise reader.fail("fc layer with a bias (only fc_no_bias is supported)")
    if weights_shape[:2] != (num_inputs, num_outputs):
        raise reader.fail(f"fc weights of shape {weights_shape} for {num_inputs} inputs and {num_outputs} outputs")
    (weight,) = split_params(reader, params, [(num_inputs, num_outputs)])
    return FcNoBias(np.ascontiguousarray(weight.T))  # dlib computes x @ W with W (in, out)


def read_layer(reader: DlibReader):
    """One layer's details as a record."""
    name = reader.string()
    if name in ("con_4", "con_5"):
        return read_con(reader, name)
    if name in ("affine_", "affine_2"):
        return read_affine(reader, name)
    if name == "relu_":
        return Relu()
    if name == "max_pool_2":
        return read_pool(reader, "max")
    if name == "avg_pool_2":
        return read_pool(reader, "avg")
    if name == "add_prev_":
        return AddPrev()
    if name in ("fc_2", "fc_3"):
        return read_fc(reader, name)
    raise reader.fail(f"unsupported dlib layer {name!r}")


def read_loss(reader: DlibReader) -> LossMetric:
    if reader.integer() != 1:
        raise reader.fail("not a dlib network (add_loss_layer version is not 1)")
    name = reader.string()
    if name == "loss_metric_2":
        return LossMetric(reader.real(), reader.real())
    if name == "loss_metric_":
        return LossMetric(0.04, 0.6)  # dlib's defaults before they were stored
    raise reader.fail(f"loss layer {name!r} is not loss_metric (not a face-recognition network)")


def read_markers(reader: DlibReader) -> list[int]:
    """Version integers from the top layer down to the input layer's add_layer (whose is the last)."""
    markers = []
    while True:
        start = reader.pos
        value = reader.integer()
        if value > 3:  # not a version: the length of the input layer's name
            reader.pos = start
            return markers
        markers.append(value)


def read_input(reader: DlibReader) -> InputSpec:
    name = reader.string()
    if name != "input_rgb_image_sized":
        raise reader.fail(f"input layer {name!r} (expected input_rgb_image_sized)")
    mean_rgb = (reader.real(), reader.real(), reader.real())
    return InputSpec(mean_rgb, reader.integer(), reader.integer())


def skip_layer_state(reader: DlibReader, input_layer_version: int | None) -> None:
    """add_layer's own state after its details: setup/stale/disabled flags and cached tensors."""
    for _ in range(3):
        reader.boolean()
    reader.tensor(), reader.tensor()  # x_grad, cached_output
    reader.tensor()  # params_grad, or grad_final for the add_layer on the input layer
    if input_layer_version == 3:
        reader.integer()  # sample_expansion_factor


def read_network(path: str | Path) -> DlibNetwork:
    """Parse a dlib metric-learning network file (e.g. dlib_face_recognition_resnet_model_v1.dat)."""
    path = Path(path)
    if not path.is_file():
        raise DlibFormatError(path, "dlib network file not found")
    reader = DlibReader(path.read_bytes(), path)
    try:
        loss = read_loss(reader)
        markers = read_markers(reader)
        if not markers or markers[-1] not in (2, 3) or any(m not in (TAG_OR_SKIP_VERSION, LAYER_VERSION) for m in markers[:-1]):
            raise reader.fail(f"layer versions {markers[:8]}... are not add_layer (2) / tag or skip (1)")
        network_input = read_input(reader)
        layers = []
        n_layers = sum(m != TAG_OR_SKIP_VERSION for m in markers)
        for i in range(n_layers):
            layers.append(read_layer(reader))
            skip_layer_state(reader, markers[-1] if i == 0 else None)
    except DlibFormatError as err:
        raise DlibFormatError(path, f"not a dlib network file like {EXAMPLE_FILE} ({err.detail})") from err
    except (ValueError, OverflowError) as err:  # numpy reshapes of nonsense shapes
        raise DlibFormatError(path, f"not a dlib network file like {EXAMPLE_FILE} ({err})") from err
    if not reader.at_end():
        raise reader.fail("unexpected bytes after the network")
    return DlibNetwork(path, loss, tuple(markers), network_input, tuple(layers))
