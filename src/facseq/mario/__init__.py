"""MARIO, FacialMMT's Stage Two (Zheng et al., ACL 2023): own implementation, one small file per block,
loading FacialMMT's released checkpoints unchanged and matching the reference numerically
(`python -m facseq.mario.parity DIR` against a fixture folder like shared/fixtures/mario/).

    from facseq.mario import MarioArgs, SwinConfig, SwinForAffwildClassification, \
        MultiModalTransformerForClassification, meld_utt_transformer
    args = MarioArgs.from_mapping(main_py_style_dict)          # reference main.py argument names
    swin = SwinForAffwildClassification(args, SwinConfig())   # DFER branch (Swin-tiny -> 512 -> 64 -> 7)
    model = MultiModalTransformerForClassification(args)       # T+A+V, text model from args.pretrainedtextmodel_path
    load_checkpoint(model, "multimodal_T+A+V_RoBERTa.pt")      # official .pt (pickled module) or a state dict

Data side: `preprocess.load_face_batch(paths)` (face crops -> Swin tensors), `text.tokenise_dialogue`
(dialogue -> 512 ids/masks). Training: `optim.AdamW424`, `optim.linear_warmup_schedule`,
`steps.dfer_train_step`, `steps.mermc_train_step`, `steps.mermc_evaluate_batch` (batches: `steps.MermcBatch`).
"""

from .checkpoints import CheckpointMismatch, load_checkpoint, read_checkpoint_state
from .config import MarioArgs, SwinConfig
from .dfer_head import SwinForAffwildClassification
from .multimodal import MultiModalTransformerForClassification
from .vision_only import meld_utt_transformer

__all__ = [
    "CheckpointMismatch",
    "MarioArgs",
    "MultiModalTransformerForClassification",
    "SwinConfig",
    "SwinForAffwildClassification",
    "load_checkpoint",
    "meld_utt_transformer",
    "read_checkpoint_state",
]
