"""Face embeddings behind one interface, with three backends.

- `dlib` (default): dlib's ResNet face descriptor (128-d) with its 5-point aligner; weights are the `.dat`
  files of the face-recognition-models package, loaded by path (the only face weights obtainable offline).
  The ResNet runs in torch from the parsed `.dat` (`facseq.dlib_resnet`, dlib's numbers ~10x faster).
- `facenet`: facenet-pytorch InceptionResnetV1 (512-d); weights from a local state-dict file.
- `resnet50`: torchvision ResNet-50 pooled features (2048-d), as in the paper (a face-recognition
  checkpoint, e.g. trained on MS-Celeb-1M); weights from a local state-dict file.
- `arcface_onnx`: an ArcFace ONNX model (insightface's `w600k_r50.onnx`, `glint360k_r50`, ...) run with
  onnxruntime on faces aligned by five points onto the ArcFace template (`facseq.align`); input name,
  layout, size and embedding dimension are read from the model.

Every backend takes 160x160 RGB crops made by `facseq.faces.crop_face` and returns L2-normalised rows,
so cosine similarity is a dot product.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facseq.faces import CROP_SIZE

BACKENDS = ("dlib", "facenet", "resnet50", "arcface_onnx")
DEFAULT_FACE_BOX = (10.0, 10.0, CROP_SIZE - 10.0, CROP_SIZE - 10.0)  # the crop minus facenet's margin


class EmbeddingError(RuntimeError):
    pass


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def dlib_model_paths() -> tuple[Path, Path]:
    """(5-point shape predictor, face recognition ResNet) from the face-recognition-models package.

    Found by path: importing that package needs pkg_resources, which recent setuptools no longer ship.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingError("the face-recognition-models package is not installed (pip install face_recognition_models)")
    models = Path(list(spec.submodule_search_locations)[0]) / "models"
    return models / "shape_predictor_5_face_landmarks.dat", models / "dlib_face_recognition_resnet_model_v1.dat"


DLIB_NETS = ("torch", "dlib")


class DlibEmbedder:
    """dlib's 5-point shape predictor and face-recognition ResNet.

    `net="torch"` (default) runs the ResNet's weights in torch (`facseq.dlib_resnet`: same chips, same
    numbers to float rounding, batched and multi-threaded); `net="dlib"` keeps dlib's own network
    (single-threaded without BLAS, ~75 ms a face). Torch threads are whatever torch.get_num_threads() is.
    Parity (~1e-6 relative) is checked on the CPU; on CUDA torch's default TF32 convolutions round coarser.
    """

    dim = 128
    batch_size = 32

    def __init__(self, predictor: str | Path | None = None, recognizer: str | Path | None = None, jitter: int = 0,
                 net: str = "torch", device: str = "cpu"):
        import dlib

        default_predictor, default_recognizer = dlib_model_paths()
        predictor, recognizer = Path(predictor or default_predictor), Path(recognizer or default_recognizer)
        for path in (predictor, recognizer):
            if not path.is_file():
                raise EmbeddingError(f"{path}: dlib model file not found")
        if net not in DLIB_NETS:
            raise EmbeddingError(f"DlibEmbedder net={net!r}: choose from {', '.join(DLIB_NETS)}")
        self._dlib = dlib
        self.shape_predictor = dlib.shape_predictor(str(predictor))
        self.net, self.jitter = net, jitter
        if net == "dlib":
            self.recognizer = dlib.face_recognition_model_v1(str(recognizer))
            return
        if jitter > 1:  # dlib averages over jitter random crops/flips; 0 and 1 both mean none
            raise EmbeddingError(f"DlibEmbedder jitter={jitter}: random jittering is only on net='dlib' "
                                 "(the torch net computes the un-jittered descriptor, jitter 0 or 1)")
        self._init_torch_net(recognizer, device)

    def _init_torch_net(self, recognizer: Path, device: str) -> None:
        import torch

        from facseq.dlib_resnet import DlibFormatError, load_face_resnet
        from facseq.faces import pick_device

        try:
            model = load_face_resnet(recognizer)
        except DlibFormatError as err:
            raise EmbeddingError(str(err)) from err
        self.device = pick_device(device)
        # channels-last lets oneDNN pick faster CPU convolutions (~1.2-1.5x here); the numbers stay dlib's
        self.model = model.to(self.device, memory_format=torch.channels_last)

    def shapes(self, crops: list[np.ndarray], face_boxes) -> list:
        """dlib's five points placed in each face box (crop pixels)."""
        shapes = []
        for i, crop in enumerate(crops):
            x1, y1, x2, y2 = face_boxes[i] if face_boxes is not None else DEFAULT_FACE_BOX
            rect = self._dlib.rectangle(int(round(x1)), int(round(y1)), int(round(x2)), int(round(y2)))
            shapes.append(self.shape_predictor(crop, rect))
        return shapes

    def descriptors_torch(self, chips: np.ndarray) -> np.ndarray:
        """(B, 150, 150, 3) uint8 chips -> (B, 128) float32 raw descriptors, in batches of `batch_size`."""
        import torch

        from facseq.dlib_resnet import chips_to_tensor

        out = []
        with torch.inference_mode():
            for start in range(0, len(chips), self.batch_size):
                pixels = chips_to_tensor(chips[start : start + self.batch_size]).to(self.device)
                out.append(self.model(pixels.contiguous(memory_format=torch.channels_last)).float().cpu().numpy())
        return np.concatenate(out)

    def embed(self, crops: list[np.ndarray], face_boxes: list[tuple[float, float, float, float]] | None = None,
              five_points=None) -> np.ndarray:
        """crops: 160x160 RGB uint8; face_boxes: where the face lies in each crop (default: the crop minus
        the facenet margin). `five_points` is ignored: dlib places its own five points in the box."""
        if not crops:
            return np.zeros((0, self.dim), dtype=np.float32)
        images = [np.ascontiguousarray(c) for c in crops]
        shapes = self.shapes(images, face_boxes)
        if self.net == "torch":
            from facseq.dlib_resnet import face_chips

            return l2_normalise(self.descriptors_torch(face_chips(images, shapes, self.model.chip_size)))
        detections = [self._dlib.full_object_detections([s]) for s in shapes]
        descriptors = self.recognizer.compute_face_descriptor(images, detections, self.jitter)
        return l2_normalise(np.array([np.array(d[0]) for d in descriptors]))


class TorchEmbedder:
    """Shared batching for the two torch backends."""

    dim = 0
    batch_size = 64

    def __init__(self, device: str = "cpu"):
        from facseq.faces import pick_device

        self.device = pick_device(device)

    def preprocess(self, batch: np.ndarray):  # (B,160,160,3) uint8 -> (B,3,H,W) float tensor
        raise NotImplementedError

    def embed(self, crops: list[np.ndarray], face_boxes=None, five_points=None) -> np.ndarray:
        import torch

        if not crops:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        with torch.inference_mode():
            for start in range(0, len(crops), self.batch_size):
                batch = np.stack(crops[start : start + self.batch_size])
                out.append(self.model(self.preprocess(batch).to(self.device)).float().cpu().numpy())
        return l2_normalise(np.concatenate(out))


def load_state_dict(path: str | Path):
    import torch

    path = Path(path)
    if not path.is_file():
        raise EmbeddingError(f"{path}: embedding weights not found (set embedding.weights in the config)")
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    # Checkpoints saved from DataParallel prefix every key with "module.".
    return {k.removeprefix("module."): v for k, v in state.items()}


class FacenetEmbedder(TorchEmbedder):
    dim = 512

    def __init__(self, weights: str | Path, device: str = "cpu"):
        import torch
        from facenet_pytorch import InceptionResnetV1

        super().__init__(device)
        model = InceptionResnetV1(pretrained=None, classify=False)
        state = {k: v for k, v in load_state_dict(weights).items() if not k.startswith("logits.")}
        model.load_state_dict(state, strict=True)
        self.model = model.eval().to(self.device)
        self._torch = torch

    def preprocess(self, batch):
        x = self._torch.from_numpy(batch).permute(0, 3, 1, 2).float()
        return (x - 127.5) / 128.0  # facenet-pytorch's fixed_image_standardization


class ResNet50Embedder(TorchEmbedder):
    dim = 2048

    def __init__(self, weights: str | Path, device: str = "cpu"):
        import torch
        import torchvision

        super().__init__(device)
        model = torchvision.models.resnet50(weights=None)
        state = {k: v for k, v in load_state_dict(weights).items() if not k.startswith("fc.")}
        missing, unexpected = model.load_state_dict(state, strict=False)
        if [m for m in missing if not m.startswith("fc.")] or unexpected:
            raise EmbeddingError(f"{weights}: not a ResNet-50 state dict (missing {missing[:3]}, unexpected {unexpected[:3]})")
        model.fc = torch.nn.Identity()  # pooled 2048-d features
        self.model = model.eval().to(self.device)
        self._torch = torch
        self.mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def preprocess(self, batch):
        x = self._torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255.0
        x = self._torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
        return (x - self.mean) / self.std


@dataclass(frozen=True)
class FaceModelSpec:
    """What an ONNX face embedder expects, read from its first input and first output."""

    input_name: str
    layout: str  # "NCHW" or "NHWC"
    size: int  # square input side, pixels
    dim: int  # embedding dimension
    batch: int | None  # fixed batch size, or None when the batch axis is dynamic
    dtype: type  # numpy dtype of the input tensor


ONNX_INPUT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


def face_model_spec(path, input_name: str, input_shape, input_type: str, output_shape) -> FaceModelSpec:
    """Check that an ONNX model looks like a face embedder: one (N,3,S,S) or (N,S,S,3) image in, (N,D) out.
    Shapes are onnxruntime's: ints for fixed axes, strings or None for dynamic ones."""
    def fixed(value):
        return value if isinstance(value, int) and value > 0 else None

    problem = f"{path}: not a face embedding model"
    if len(input_shape) != 4:
        raise EmbeddingError(f"{problem}: input {input_name!r} has shape {list(input_shape)}, expected 4 axes (N,3,H,W or N,H,W,3)")
    if input_type not in ONNX_INPUT_TYPES:
        raise EmbeddingError(f"{problem}: input {input_name!r} is {input_type}, expected a float image tensor")
    if fixed(input_shape[1]) == 3:
        layout, height, width = "NCHW", fixed(input_shape[2]), fixed(input_shape[3])
    elif fixed(input_shape[3]) == 3:
        layout, height, width = "NHWC", fixed(input_shape[1]), fixed(input_shape[2])
    else:
        raise EmbeddingError(f"{problem}: input {input_name!r} has shape {list(input_shape)}, with no 3-channel axis at 1 or 3")
    if height is None or width is None or height != width:
        raise EmbeddingError(f"{problem}: input {input_name!r} has shape {list(input_shape)}, expected a fixed square image (e.g. 112x112)")
    if len(output_shape) != 2 or fixed(output_shape[1]) is None:
        raise EmbeddingError(f"{problem}: output has shape {list(output_shape)}, expected (N, D) embeddings")
    return FaceModelSpec(input_name, layout, height, int(output_shape[1]), fixed(input_shape[0]), ONNX_INPUT_TYPES[input_type])


def onnx_providers(device: str, available: list[str]) -> list[str]:
    """onnxruntime execution providers for `embedding.device`: CUDA (onnxruntime-gpu) for cuda / cuda:N,
    and for auto when present; the CPU always last as the fallback."""
    if device.startswith("cuda") and "CUDAExecutionProvider" not in available:
        raise EmbeddingError(f"embedding.device={device} but onnxruntime has no CUDAExecutionProvider "
                             f"(install onnxruntime-gpu; available: {', '.join(available)})")
    if device.startswith("cuda") or (device == "auto" and "CUDAExecutionProvider" in available):
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def cuda_device_id(device: str) -> int:
    return int(device.partition(":")[2] or 0)


class ArcFaceOnnxEmbedder:
    """ArcFace ONNX model on five-point aligned faces, normalised (x - 127.5) / 127.5, RGB."""

    batch_size = 64

    def __init__(self, weights: str | Path, device: str = "cpu"):
        import onnxruntime

        path = Path(weights)
        if not path.is_file():
            raise EmbeddingError(f"{path}: ArcFace ONNX model not found (set embedding.weights in the config)")
        providers = onnx_providers(device, onnxruntime.get_available_providers())
        options = [{"device_id": cuda_device_id(device)} if p == "CUDAExecutionProvider" else {} for p in providers]
        try:
            self.session = onnxruntime.InferenceSession(str(path), providers=providers, provider_options=options)
        except Exception as err:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise EmbeddingError(f"{path}: onnxruntime cannot load it as an ONNX model ({err})") from err
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise EmbeddingError(f"{path}: not a face embedding model: {len(inputs)} inputs "
                                 f"({', '.join(i.name for i in inputs)}), expected one image")
        first_input, first_output = inputs[0], self.session.get_outputs()[0]
        self.spec = face_model_spec(path, first_input.name, first_input.shape, first_input.type, first_output.shape)
        self.output_name = first_output.name
        self.dim = self.spec.dim
        self.path = path

    def aligned_faces(self, crops: list[np.ndarray], face_boxes=None, five_points=None) -> np.ndarray:
        """(B,S,S,3) uint8: each crop warped onto the template by its five points (crop pixels); a face
        without usable points has the template laid over its box instead."""
        from facseq.align import align_face, box_five_points, is_usable

        aligned = []
        for i, crop in enumerate(crops):
            points = five_points[i] if five_points is not None else None
            if not is_usable(points):
                points = box_five_points(face_boxes[i] if face_boxes is not None else DEFAULT_FACE_BOX)
            aligned.append(align_face(crop, points, self.spec.size))
        return np.stack(aligned)

    def preprocess(self, faces: np.ndarray) -> np.ndarray:
        # (B,S,S,3) uint8 RGB -> (B,3,S,S) or (B,S,S,3) in [-1, 1]
        x = (faces.astype(np.float32) - 127.5) / 127.5
        if self.spec.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x, dtype=self.spec.dtype)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Model outputs for a preprocessed batch, in chunks of the model's batch (padded for a fixed one)."""
        step = self.spec.batch or self.batch_size
        out = []
        for start in range(0, len(x), step):
            chunk = x[start : start + step]
            if self.spec.batch is not None and len(chunk) < step:  # a fixed-batch model needs full batches
                chunk = np.concatenate([chunk, np.zeros((step - len(chunk), *chunk.shape[1:]), dtype=chunk.dtype)])
            result = self.session.run([self.output_name], {self.spec.input_name: chunk})[0]
            out.append(np.asarray(result, dtype=np.float32)[: len(x) - start])
        return np.concatenate(out)

    def embed(self, crops: list[np.ndarray], face_boxes=None, five_points=None) -> np.ndarray:
        """crops: 160x160 RGB uint8; face_boxes: face boxes in crop pixels; five_points: (5,2) per crop in
        crop pixels (eyes, nose tip, mouth corners), NaN or None where unknown."""
        if not crops:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.run(self.preprocess(self.aligned_faces(crops, face_boxes, five_points)))
        if vectors.shape[1] != self.dim:
            raise EmbeddingError(f"{self.path}: the model returned {vectors.shape[1]} columns, its output shape says {self.dim}")
        return l2_normalise(vectors)


def backend_dim(backend: str) -> int | None:
    """The embedding size a backend always has, known without loading its model (None for
    `arcface_onnx`, whose size is read from the model file)."""
    fixed = {"dlib": DlibEmbedder, "facenet": FacenetEmbedder, "resnet50": ResNet50Embedder}.get(backend)
    return fixed.dim if fixed is not None else None


def make_embedder(backend: str, weights: str | Path | None = None, device: str = "cpu"):
    if backend == "dlib":  # `weights` unused: the face-recognition-models files
        return DlibEmbedder(device=device)
    if backend == "facenet":
        return FacenetEmbedder(weights or "", device)
    if backend == "resnet50":
        return ResNet50Embedder(weights or "", device)
    if backend == "arcface_onnx":
        return ArcFaceOnnxEmbedder(weights or "", device)
    raise EmbeddingError(f"unknown embedding backend {backend!r} (choose from {', '.join(BACKENDS)})")
