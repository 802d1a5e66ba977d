"""Model/run settings with the reference `main.py` argument names, so a config maps onto them 1:1.

    args = MarioArgs.from_mapping({"hidden_size": 96, "get_audio_utt_max_lens": 20, ...})
    swin_cfg = SwinConfig.from_mapping(yaml_or_json_dict)      # FacialMMT's swin_conf.yaml by default

Defaults are FacialMMT's own (`main.py` argparse defaults, `swin_conf.yaml`). Three values are set by the
data in the reference and have no default here: `get_audio_utt_max_lens`, `get_vision_utt_max_lens` (the
padded lengths of the feature pickles) and, for T+A+V, `pretrainedtextmodel_path`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass
class MarioArgs:
    # data-dependent sizes (main.py sets them from the feature pickles)
    get_audio_utt_max_lens: int | None = None
    get_vision_utt_max_lens: int | None = None
    get_text_utt_max_lens: int = 38  # TEXT_MAX_UTT_LEN of utils/dataset.py
    audio_featExtr_dim: int = 768  # wav2vec 2.0
    vision_featExtr_dim: int = 512  # InceptionResnetV1
    pretrainedtextmodel_path: str | None = None  # folder named roberta-large or bert-large
    plm_name: str = "roberta-large"
    choice_modality: str = "T+A+V"
    num_labels: int = 7
    # Swin DFER branch
    backbone_type: str = "SwinTransformer"
    tau: float = 1
    FacialEmoImpor_threshold: float = 0.2
    # optimisation
    num_epochs: int = 1
    aux_lr: float = 5e-5
    trg_lr: float = 7e-6
    weight_decay: float = 0.01
    warm_up: float = 0.1
    aux_batch_size: int = 150
    trg_batch_size: int = 1
    aux_accumulation_steps: int = 1
    trg_accumulation_steps: int = 4
    clip: float = 0.8
    seed: int = 1111
    # cross-modal transformers
    crossmodal_layers_TA: int = 2
    crossmodal_num_heads_TA: int = 12
    crossmodal_attn_dropout_TA: float = 0.1
    crossmodal_layers_TA_V: int = 2
    crossmodal_num_heads_TA_V: int = 12
    crossmodal_attn_dropout_TA_V: float = 0.1
    # self-attention encoders
    audio_utt_Transformernum: int = 5
    vision_utt_Transformernum: int = 2
    hidden_size: int = 768
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    layer_norm_eps: float = 1e-12
    initializer_range: float = 0.02
    # kept so a main.py namespace converts without loss; unused by the models
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | Any) -> "MarioArgs":
        """From a dict or an argparse namespace; unknown names (paths, log intervals) go to `extra`."""
        if not isinstance(values, Mapping):
            values = vars(values)
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in values.items() if k in names}
        extra = {k: v for k, v in values.items() if k not in names}
        return cls(**known, extra=extra)

    def require(self, *names: str) -> None:
        missing = [n for n in names if getattr(self, n) is None]
        if missing:
            raise ValueError(f"MarioArgs: {', '.join(missing)} must be set (they come from the data in FacialMMT)")


@dataclass
class SwinConfig:
    """FacialMMT's `modules/SwinTransformer/swin_conf.yaml` (Swin-tiny, MS-Celeb-1M face recognition)."""

    img_size: int = 224
    patch_size: int = 4
    in_chans: int = 3
    embed_dim: int = 96
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: tuple[int, ...] = (3, 6, 12, 24)
    window_size: int = 7
    mlp_ratio: float = 4.0
    drop_rate: float = 0.0
    drop_path_rate: float = 0.3

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "SwinConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"SwinConfig: unknown keys {sorted(unknown)}")
        values = dict(values)
        for key in ("depths", "num_heads"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)
