"""Dialogue-level tokenisation of MELD text, as FacialMMT's `src/meld_bert_extraText.py` does it.

    tokenizer = load_tokenizer("pretrained/roberta-large")               # local folder, nothing downloaded
    dialogues = dialogues_from_csv("val_sent_emo.csv")                   # {dia_id: [(utt_name, text), ...]}
    tokens = tokenise_dialogue([text for _, text in dialogues[16]], tokenizer, style="roberta")
    tokens.input_ids, tokens.input_mask, tokens.sep_mask                 # lists of length 512
    tokens.truncated                                                      # the utterance budget was exceeded

RoBERTa: `<s> u1 </s></s> u2 </s> ...`, BERT: `[CLS] u1 [SEP] u2 [SEP] ...`, zero-padded to 512 (0 is `<s>`
for RoBERTa; its attention mask still hides the padding). Before the separators are added, the longest
utterance loses its last token until the utterance tokens fit the budget 512 - 68 (RoBERTa) / 512 - 34
(BERT): the reference reserves room for the separators of up to 34 utterances (MELD's longest dialogue).
Ties go to the earliest utterance. `sep_mask` is 1 at each utterance's closing `</s>` / `[SEP]`.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

MAX_SEQ_LENGTH = 512
RESERVED_UTTERANCES = 34  # separator room the reference reserves (MELD test dialogue 17 has 33 utterances)
SEPARATORS_PER_UTTERANCE = {"roberta": 2, "bert": 1}


@dataclass
class DialogueTokens:
    input_ids: list[int]
    input_mask: list[int]
    sep_mask: list[int]
    truncated: bool
    tokens_per_utterance: list[int]


def load_tokenizer(path: str | Path):
    """RobertaTokenizer or BertTokenizer from a local transformers folder (picked by its config/model files)."""
    from transformers import AutoConfig, BertTokenizer, RobertaTokenizer

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: tokenizer folder not found")
    model_type = AutoConfig.from_pretrained(path, local_files_only=True).model_type
    classes = {"roberta": RobertaTokenizer, "bert": BertTokenizer}
    if model_type not in classes:
        raise ValueError(f"{path}: model_type {model_type!r}; expected roberta or bert")
    return classes[model_type].from_pretrained(path, local_files_only=True)


def tokenizer_style(tokenizer) -> str:
    name = type(tokenizer).__name__.lower()
    for style in ("roberta", "bert"):
        if name.startswith(style):
            return style
    raise ValueError(f"tokenizer {type(tokenizer).__name__} is neither a RoBERTa nor a BERT tokenizer")


def truncate_utterances(tokens: list[list[str]], budget: int) -> bool:
    """Pop the last token of the longest utterance (earliest on ties) until the total fits; in place."""
    truncated = False
    while sum(len(t) for t in tokens) > budget:
        longest = max(range(len(tokens)), key=lambda i: (len(tokens[i]), -i))
        tokens[longest].pop()
        truncated = True
    return truncated


def tokenise_dialogue(utterances: Sequence[str], tokenizer, style: str | None = None,
                      max_seq_length: int = MAX_SEQ_LENGTH) -> DialogueTokens:
    style = style or tokenizer_style(tokenizer)
    pieces = [tokenizer.tokenize(text) for text in utterances]
    counts = [len(p) for p in pieces]
    budget = max_seq_length - RESERVED_UTTERANCES * SEPARATORS_PER_UTTERANCE[style]
    truncated = truncate_utterances(pieces, budget)
    tokens: list[str] = []
    sep_mask: list[int] = []
    for i, piece in enumerate(pieces):
        if style == "roberta":
            part = (["<s>"] if i == 0 else ["</s>"]) + piece + ["</s>"]
        else:
            part = (["[CLS]"] if i == 0 else []) + piece + ["[SEP]"]
        tokens += part
        sep_mask += [0] * (len(part) - 1) + [1]
    if len(tokens) > max_seq_length:  # only possible with more than 34 utterances (not guarded by the reference)
        raise ValueError(f"dialogue of {len(utterances)} utterances needs {len(tokens)} > {max_seq_length} tokens")
    input_ids = tokenizer.convert_tokens_to_ids(tokens)
    padding = [0] * (max_seq_length - len(input_ids))
    return DialogueTokens(input_ids + padding, [1] * len(input_ids) + padding, sep_mask + padding, truncated, counts)


def dialogues_from_csv(csv_path: str | Path) -> dict[int, list[tuple[str, str]]]:
    """{Dialogue_ID: [(dia{D}_utt{U}, Utterance), ...]} in CSV order (dialogue order = first appearance)."""
    csv_path = Path(csv_path)
    dialogues: dict[int, list[tuple[str, str]]] = defaultdict(list)
    with open(csv_path, encoding="utf8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"Dialogue_ID", "Utterance_ID", "Utterance"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{csv_path}: missing column(s) {sorted(missing)}")
        for row in reader:
            dia, utt = int(row["Dialogue_ID"]), int(row["Utterance_ID"])
            dialogues[dia].append((f"dia{dia}_utt{utt}", row["Utterance"]))
    return dict(dialogues)


def tokenise_csv(csv_path: str | Path, tokenizer) -> dict[int, DialogueTokens]:
    """Every dialogue of a MELD CSV, in CSV order."""
    return {dia: tokenise_dialogue([text for _, text in utts], tokenizer)
            for dia, utts in dialogues_from_csv(csv_path).items()}
