"""Face embeddings behind one interface, with three backends.

- `dlib` (default): dlib's ResNet face descriptor (128-d) with its 5-point aligner; weights are the `.dat`
  files of the face-recognition-models package, loaded by path (the only face weights obtainable offline).
- `facenet`: facenet-pytorch InceptionResnetV1 (512-d); weights from a local state-dict file.
- `resnet50`: torchvision ResNet-50 pooled features (2048-d), as in the paper (a face-recognition
  checkpoint, e.g. trained on MS-Celeb-1M); weights from a local state-dict file.

Every backend takes 160x160 RGB crops made by `facseq.faces.crop_face` and returns L2-normalised rows,
so cosine similarity is a dot product.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from facseq.faces import CROP_SIZE

BACKENDS = ("dlib", "facenet", "resnet50")


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


class DlibEmbedder:
    dim = 128

    def __init__(self, predictor: str | Path | None = None, recognizer: str | Path | None = None, jitter: int = 0):
        import dlib

        default_predictor, default_recognizer = dlib_model_paths()
        predictor, recognizer = Path(predictor or default_predictor), Path(recognizer or default_recognizer)
        for path in (predictor, recognizer):
            if not path.is_file():
                raise EmbeddingError(f"{path}: dlib model file not found")
        self._dlib = dlib
        self.shape_predictor = dlib.shape_predictor(str(predictor))
        self.recognizer = dlib.face_recognition_model_v1(str(recognizer))
        self.jitter = jitter

    def embed(self, crops: list[np.ndarray], face_boxes: list[tuple[float, float, float, float]] | None = None) -> np.ndarray:
        """crops: 160x160 RGB uint8; face_boxes: where the face lies in each crop (default: the crop minus
        the facenet margin)."""
        if not crops:
            return np.zeros((0, self.dim), dtype=np.float32)
        default = (10.0, 10.0, CROP_SIZE - 10.0, CROP_SIZE - 10.0)
        shapes = []
        for i, crop in enumerate(crops):
            x1, y1, x2, y2 = face_boxes[i] if face_boxes is not None else default
            rect = self._dlib.rectangle(int(round(x1)), int(round(y1)), int(round(x2)), int(round(y2)))
            shapes.append(self.shape_predictor(crop, rect))
        images = [np.ascontiguousarray(c) for c in crops]
        descriptors = self.recognizer.compute_face_descriptor(images, [self._dlib.full_object_detections([s]) for s in shapes], self.jitter)
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

    def embed(self, crops: list[np.ndarray], face_boxes=None) -> np.ndarray:
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


def make_embedder(backend: str, weights: str | Path | None = None, device: str = "cpu"):
    if backend == "dlib":
        return DlibEmbedder()
    if backend == "facenet":
        return FacenetEmbedder(weights or "", device)
    if backend == "resnet50":
        return ResNet50Embedder(weights or "", device)
    raise EmbeddingError(f"unknown embedding backend {backend!r} (choose from {', '.join(BACKENDS)})")
