"""Cut each target utterance's word features out of the whole-dialogue text encoding.

The dialogue is `<s> u0 </s></s> u1 </s> ...` (RoBERTa) or `[CLS] u0 [SEP] u1 [SEP] ...` (BERT); `sep_mask`
is 1 at the closing separator of every utterance. Utterance k's tokens start after the previous closing
separator (+1 more for RoBERTa's extra `</s>`); at most `max_len` of them are kept (the first ones). An
index beyond the dialogue's utterances leaves all-zero features (as the reference does).
"""

from __future__ import annotations

import torch


def utterance_span(sep_positions: list[int], index: int, style: str) -> tuple[int, int] | None:
    """(start, length) of utterance `index` in the token sequence, None if the dialogue has no such utterance."""
    if index >= len(sep_positions):
        return None
    if index == 0:
        return 1, sep_positions[0] - 1  # after <s> / [CLS]
    gap = 2 if style == "roberta" else 1  # "</s></s>" vs "[SEP]"
    previous = sep_positions[index - 1]
    return previous + gap, sep_positions[index] - previous - gap


def gather_utterance_tokens(dialogue_feats: torch.Tensor, sep_mask: torch.Tensor, utt_in_dia_idx: torch.Tensor,
                            max_len: int, style: str) -> tuple[torch.Tensor, torch.Tensor]:
    """dialogue_feats (B, T, H), sep_mask (B, T), utt_in_dia_idx (B,) -> feats (B, max_len, H), mask (B, max_len)."""
    batch, _, hidden = dialogue_feats.shape
    feats = dialogue_feats.new_zeros((batch, max_len, hidden))
    mask = dialogue_feats.new_zeros((batch, max_len))
    for i in range(batch):
        seps = torch.nonzero(sep_mask[i] == 1).flatten().tolist()
        span = utterance_span(seps, int(utt_in_dia_idx[i]), style)
        if span is None:
            continue
        start, length = span[0], min(span[1], max_len)
        feats[i, :length] = dialogue_feats[i, start:start + length]
        mask[i, :length] = 1
    return feats, mask
