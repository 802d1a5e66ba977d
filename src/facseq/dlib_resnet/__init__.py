"""dlib's face-recognition ResNet (`dlib_face_recognition_resnet_model_v1.dat`) run in torch.

The `.dat` file is read with an own reader of dlib's serialization (`records.read_network`), the
weights go into a torch module of the same architecture (`build.build_face_resnet`), and faces are
cut into chips exactly as `compute_face_descriptor` does (`chips.face_chips`), so the 128-d
descriptors match dlib's to float rounding while using torch's threads and kernels.

    model = load_face_resnet(path)                 # parsed once per process and file
    descriptors = model(chips_to_tensor(face_chips(images, shapes, model.chip_size)))  # (B, 128)
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from .build import build_face_resnet
from .chips import DESCRIPTOR_PADDING, chips_to_tensor, face_chips
from .network import DlibFaceResNet
from .records import DlibNetwork, read_network
from .serialization import DlibFormatError


@lru_cache(maxsize=4)
def _parsed(path: str, mtime_ns: int, size: int) -> DlibNetwork:
    return read_network(path)


def parsed_network(path: str | Path) -> DlibNetwork:
    """The file's layer records, parsed once per process (keyed on path, modification time and size)."""
    path = Path(path)
    if not path.is_file():
        raise DlibFormatError(path, "dlib network file not found")
    stat = path.stat()
    return _parsed(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def load_face_resnet(path: str | Path) -> DlibFaceResNet:
    """A new eval-mode torch module with the file's weights (the parse is shared, the module is not)."""
    return build_face_resnet(parsed_network(path))


__all__ = [
    "DESCRIPTOR_PADDING",
    "DlibFaceResNet",
    "DlibFormatError",
    "chips_to_tensor",
    "face_chips",
    "load_face_resnet",
    "parsed_network",
    "read_network",
]
