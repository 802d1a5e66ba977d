"""meld_utt_transformer: the V-only baseline (face features -> self-attention encoder -> pooling -> 7 logits).

    model = meld_utt_transformer(args)         # args.vision_featExtr_dim, get_vision_utt_max_lens, ...
    logits = model(features, mask)              # (B, Lv, Dv), (B, Lv) 1 = valid -> (B, 7)
"""

from __future__ import annotations

import torch
from torch import nn

from .additive_attention import AdditiveAttention
from .config import MarioArgs
from .self_attention_encoder import MELDTransEncoder, additive_padding_mask


class meld_utt_transformer(nn.Module):  # noqa: N801 - the reference's class name (pickled checkpoints)
    def __init__(self, args: MarioArgs):
        super().__init__()
        args.require("get_vision_utt_max_lens")
        hidden = args.hidden_size
        self.modality_linear = nn.Linear(args.vision_featExtr_dim, hidden)
        self.utt_transformer = MELDTransEncoder(args, args.vision_utt_Transformernum, args.get_vision_utt_max_lens,
                                                hidden)
        self.attention = AdditiveAttention(hidden, hidden)
        self.mm_dropout = nn.Dropout(args.hidden_dropout_prob)
        self.classifier = nn.Linear(hidden, args.num_labels)

    def forward(self, inputs: torch.Tensor, utt_mask: torch.Tensor) -> torch.Tensor:
        encoded = self.utt_transformer(self.modality_linear(inputs), additive_padding_mask(utt_mask.to(inputs.dtype)))
        pooled, _ = self.attention(encoded, utt_mask)
        return self.classifier(self.mm_dropout(pooled))
