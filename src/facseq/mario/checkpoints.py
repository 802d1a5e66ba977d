"""Load FacialMMT's released checkpoints into our modules unchanged.

    state = read_checkpoint_state("multimodal_T+A+V_RoBERTa.pt")   # {name: tensor}
    report = load_checkpoint(model, "multimodal_T+A+V_RoBERTa.pt")  # strict; CheckpointMismatch names keys
    load_checkpoint(swin, "Swin_tiny_Ms-Celeb-1M.pt", msceleb_backbone=True)  # face-recognition init

Accepted files: the released `.pt`s (`best_swin_RoBERTa.pt`, `multimodal_T+A+V_RoBERTa.pt`, the BERT pair,
`unimodal_model_V.pt`) are whole pickled modules (`torch.save(model)`) of the reference's classes; they are
unpickled with stand-in classes (no reference code needed, nothing executed beyond torch's own
reconstruction) and their `state_dict()` taken. A plain state dict or `{"state_dict": ...}` works too.
Keys from transformers 4.24 checkpoints that 5.x no longer keeps (`*.embeddings.position_ids`) are dropped.

`Swin_tiny_Ms-Celeb-1M.pt` (FaceX-Zoo) holds `backbone.<k>` keys; `msceleb_backbone=True` loads them into
`swin.<k>` and leaves the DFER head (`linear`, `classifier`) as initialised, which is what the reference's
loader intends. (Its loop tests `k in pretrained_dict` with the model's own `swin.<k>` name, which a
FaceX-Zoo checkpoint does not contain, so taken literally it would load nothing.)
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

DROPPED_KEYS = ("roberta.embeddings.position_ids", "bert.embeddings.position_ids")
_REAL_MODULE_PREFIXES = ("torch", "collections", "copyreg", "copy_reg", "_codecs", "numpy")
_SAFE_BUILTINS = {"set", "frozenset", "dict", "list", "tuple", "int", "float", "bool", "complex", "bytes",
                  "bytearray", "str", "slice", "range", "object"}


class CheckpointMismatch(RuntimeError):
    pass


class ReferenceStub(nn.Module):
    """Stand-in for a class of the reference code (or of another library) found in a pickled checkpoint:
    it takes any constructor arguments and keeps only the pickled attributes (parameters, buffers, children)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def __setstate__(self, state):
        if isinstance(state, dict):
            super().__setstate__(state)


_stub_classes: dict[tuple[str, str], type] = {}


def _stub(module: str, name: str) -> type:
    key = (module, name)
    if key not in _stub_classes:
        _stub_classes[key] = type(name, (ReferenceStub,), {"__module__": f"stub:{module}"})
    return _stub_classes[key]


class _StubUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module in ("builtins", "__builtin__"):
            return super().find_class(module, name) if name in _SAFE_BUILTINS else _stub(module, name)
        if module.split(".")[0] in _REAL_MODULE_PREFIXES:
            found = super().find_class(module, name)
            # classes and tensor/array rebuild helpers only; any other callable (a function the pickled
            # module kept as an attribute, say) becomes an inert stub instead of being callable
            if isinstance(found, type) or module in ("torch._utils", "numpy.core.multiarray",
                                                      "numpy._core.multiarray", "_codecs", "copyreg", "copy_reg"):
                return found
        return _stub(module, name)


_stub_pickle = SimpleNamespace(Unpickler=_StubUnpickler, load=lambda f, **kw: _StubUnpickler(f, **kw).load(),
                               __name__="facseq_stub_pickle")


def read_checkpoint_state(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a pickled module: rebuild it with stand-in classes
        obj = torch.load(path, map_location="cpu", weights_only=False, pickle_module=_stub_pickle)
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointMismatch(f"{path}: neither a module, a state dict nor {{'state_dict': ...}}")
    return {k: v for k, v in obj.items() if k not in DROPPED_KEYS}


def msceleb_to_dfer(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """FaceX-Zoo `backbone.<k>` -> `swin.<k>`; the recognition head is not ours."""
    return {"swin." + k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}


@dataclass
class LoadReport:
    loaded: int
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def load_checkpoint(model: nn.Module, path: str | Path, *, msceleb_backbone: bool = False,
                    strict: bool = True) -> LoadReport:
    state = read_checkpoint_state(path)
    own = model.state_dict()
    if msceleb_backbone:
        state = msceleb_to_dfer(state)
        expected = {k for k in own if k.startswith("swin.")}
    else:
        expected = set(own)
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong_shape = sorted(k for k in set(state) & set(own) if tuple(state[k].shape) != tuple(own[k].shape))
    if strict and (missing or unexpected or wrong_shape):
        lines = [f"{path}: does not fit {type(model).__name__}"]
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)):
            if keys:
                shown = ", ".join(keys[:8]) + (f" ... (+{len(keys) - 8})" if len(keys) > 8 else "")
                lines.append(f"  {label} ({len(keys)}): {shown}")
        for k in wrong_shape[:4]:
            lines.append(f"  {k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}")
        raise CheckpointMismatch("\n".join(lines))
    usable = {k: v for k, v in state.items() if k in own and k not in wrong_shape}
    model.load_state_dict(usable, strict=False)
    return LoadReport(len(usable), missing, unexpected)
