"""The pretrained text encoder (RoBERTa-large or BERT-large) behind MARIO's text branch.

`load_text_model(path)` reads a transformers folder (local only, nothing downloaded) with the eager attention
kernel (the only one transformers 4.24 had; sdpa differs by ~1e-6). `text_style(model)` says which
separator layout the dialogue uses: "roberta" (`<s>u1</s></s>u2</s>`) or "bert" (`[CLS]u1[SEP]u2[SEP]`).
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

STYLES = ("roberta", "bert")


def load_text_model(path: str | Path) -> nn.Module:
    from transformers import AutoConfig, BertModel, RobertaModel
    from transformers.utils import logging

    logging.disable_progress_bar()  # one bar per load would bury the logs
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path}: not a transformers model folder (no config.json)")
    model_type = AutoConfig.from_pretrained(path, local_files_only=True).model_type
    classes = {"roberta": RobertaModel, "bert": BertModel}
    if model_type not in classes:
        raise ValueError(f"{path}: model_type {model_type!r}; MARIO's text branch takes roberta or bert")
    return classes[model_type].from_pretrained(path, local_files_only=True, attn_implementation="eager")


def build_text_model(config) -> nn.Module:
    """An untrained RobertaModel/BertModel from a transformers config (checkpoint loading, key checks)."""
    from transformers import BertModel, RobertaModel

    config._attn_implementation = "eager"
    return {"roberta": RobertaModel, "bert": BertModel}[config.model_type](config)


def text_style(model: nn.Module) -> str:
    style = model.config.model_type
    if style not in STYLES:
        raise ValueError(f"text model type {style!r} is neither roberta nor bert")
    return style
