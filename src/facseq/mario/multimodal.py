"""MultiModalTransformerForClassification: MARIO's T+A+V emotion classifier.

    model = MultiModalTransformerForClassification(args)          # loads args.pretrainedtextmodel_path
    model = MultiModalTransformerForClassification(args, text_model=build_text_model(cfg))   # no weights
    logits = model(text_ids, text_mask, sep_mask, audio, audio_mask, vision_concat, vision_mask, utt_idx)

Shapes: text (B, 512) ids/masks of the whole dialogue; audio (B, La, Da) + (B, La); vision_concat
(B, Lv, Dv + 7) = face features ++ emotion distribution, + (B, Lv); utt_idx (B,) position of the target
utterance in its dialogue. Returns (B, 7). Attribute names follow the reference's state-dict keys.

Flow: text model -> text_linear -> the utterance's words (<= 38); audio/vision -> linear -> self-attention
encoder; text<->audio cross-modal (one shared encoder, both directions), then (text+audio)<->vision (another
shared encoder); concat, additive attention pooling over all positions, classifier.
"""

from __future__ import annotations

import torch
from torch import nn

from .additive_attention import AdditiveAttention
from .config import MarioArgs
from .crossmodal import CrossModalTransformerEncoder
from .self_attention_encoder import MELDTransEncoder, additive_padding_mask
from .text_encoder import load_text_model, text_style
from .utterance_text import gather_utterance_tokens


class MultiModalTransformerForClassification(nn.Module):
    def __init__(self, args: MarioArgs, text_model: nn.Module | None = None):
        super().__init__()
        args.require("get_audio_utt_max_lens", "get_vision_utt_max_lens")
        if text_model is None:
            args.require("pretrainedtextmodel_path")
            text_model = load_text_model(args.pretrainedtextmodel_path)
        self.text_pretrained_model = text_style(text_model)
        setattr(self, self.text_pretrained_model, text_model)  # `roberta.*` or `bert.*` keys
        self.get_text_utt_max_lens = args.get_text_utt_max_lens
        hidden = args.hidden_size
        self.text_linear = nn.Linear(text_model.config.hidden_size, hidden)
        self.audio_linear = nn.Linear(args.audio_featExtr_dim, hidden)
        self.audio_utt_transformer = MELDTransEncoder(args, args.audio_utt_Transformernum,
                                                      args.get_audio_utt_max_lens, hidden)
        self.vision_linear = nn.Linear(args.vision_featExtr_dim + args.num_labels, hidden)
        self.vision_utt_transformer = MELDTransEncoder(args, args.vision_utt_Transformernum,
                                                       args.get_vision_utt_max_lens, hidden)
        self.attention = AdditiveAttention(hidden, hidden)
        self.CrossModalTrans_TA = CrossModalTransformerEncoder(hidden, args.crossmodal_num_heads_TA,
                                                               args.crossmodal_layers_TA,
                                                               args.crossmodal_attn_dropout_TA)
        self.CrossModalTrans_TA_V = CrossModalTransformerEncoder(hidden, args.crossmodal_num_heads_TA_V,
                                                                 args.crossmodal_layers_TA_V,
                                                                 args.crossmodal_attn_dropout_TA_V)
        self.dropout = nn.Dropout(args.hidden_dropout_prob)
        self.classifier = nn.Linear(hidden, args.num_labels)

    @property
    def text_model(self) -> nn.Module:
        return getattr(self, self.text_pretrained_model)

    def forward(self, batch_text_input_ids, batch_text_input_mask, batch_text_sep_mask, audio_inputs, audio_mask,
                vision_inputs, new_vision_mask, batchUtt_in_dia_idx) -> torch.Tensor:
        # text: whole dialogue (B, T) -> (B, T, Ht) -> (B, T, H) -> this utterance's words (B, Lt, H)
        dialogue = self.text_model(batch_text_input_ids, batch_text_input_mask)[0]
        dialogue = self.text_linear(dialogue)
        text_feats, text_mask = gather_utterance_tokens(dialogue, batch_text_sep_mask, batchUtt_in_dia_idx,
                                                        self.get_text_utt_max_lens, self.text_pretrained_model)
        # audio (B, La, Da) -> (B, La, H); vision (B, Lv, Dv + 7) -> (B, Lv, H)
        audio = self.audio_utt_transformer(self.audio_linear(audio_inputs), additive_padding_mask(audio_mask))
        vision = self.vision_utt_transformer(self.vision_linear(vision_inputs), additive_padding_mask(new_vision_mask))
        # cross-modal, sequence-first (L, B, H)
        text_seq, audio_seq, vision_seq = text_feats.transpose(0, 1), audio.transpose(0, 1), vision.transpose(0, 1)
        text_by_audio = self.CrossModalTrans_TA(text_seq, audio_seq, audio_seq)  # (Lt, B, H)
        audio_by_text = self.CrossModalTrans_TA(audio_seq, text_seq, text_seq)  # (La, B, H)
        text_audio = torch.cat((text_by_audio, audio_by_text), dim=0)  # (Lt + La, B, H)
        vision_by_ta = self.CrossModalTrans_TA_V(vision_seq, text_audio, text_audio)  # (Lv, B, H)
        ta_by_vision = self.CrossModalTrans_TA_V(text_audio, vision_seq, vision_seq)  # (Lt + La, B, H)
        fused = torch.cat((ta_by_vision, vision_by_ta), dim=0).transpose(0, 1)  # (B, Lt + La + Lv, H)
        fused_mask = torch.cat((text_mask, audio_mask, new_vision_mask), dim=1)  # (B, Lt + La + Lv)
        pooled, _ = self.attention(fused, fused_mask)  # (B, H)
        return self.classifier(self.dropout(pooled))  # (B, 7)
