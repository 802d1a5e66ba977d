"""Unit tests of facseq.mario's blocks on their own random data (no shared fixture needed, except the
full-size state-dict key check, which skips without it)."""

from __future__ import annotations

import json
import math
import sys
import types

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import require_shared
from facseq.mario import checkpoints
from facseq.mario.additive_attention import AdditiveAttention
from facseq.mario.clarity_gate import clarity_gate, clarity_scores
from facseq.mario.config import MarioArgs, SwinConfig
from facseq.mario.dfer_head import SwinForAffwildClassification
from facseq.mario.emotion_distribution import NoiseQueue, gumbel_softmax
from facseq.mario.multimodal import MultiModalTransformerForClassification
from facseq.mario.optim import AdamW424, linear_warmup_factor, linear_warmup_schedule
from facseq.mario.preprocess import FaceImageError, load_face_batch
from facseq.mario.sinusoidal_positions import sinusoidal_positions, sinusoidal_table
from facseq.mario.steps import MermcBatch, mermc_evaluate_batch, mermc_train_step
from facseq.mario.swin.windows import window_partition, window_reverse
from facseq.mario.text import tokenise_dialogue, truncate_utterances
from facseq.mario.text_encoder import build_text_model
from facseq.mario.utterance_text import utterance_span
from facseq.mario.vision_only import meld_utt_transformer

TINY_SWIN = SwinConfig(img_size=112, embed_dim=8, depths=(2, 2, 2), num_heads=(2, 2, 4), drop_path_rate=0.0)


def tiny_args(**overrides) -> MarioArgs:
    values = dict(hidden_size=16, num_attention_heads=2, intermediate_size=32, audio_utt_Transformernum=2,
                  vision_utt_Transformernum=1, crossmodal_layers_TA=1, crossmodal_num_heads_TA=2,
                  crossmodal_layers_TA_V=1, crossmodal_num_heads_TA_V=2, audio_featExtr_dim=6, vision_featExtr_dim=5,
                  get_audio_utt_max_lens=7, get_vision_utt_max_lens=4, get_text_utt_max_lens=6,
                  hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, crossmodal_attn_dropout_TA=0.0,
                  crossmodal_attn_dropout_TA_V=0.0, trg_accumulation_steps=1)
    values.update(overrides)
    return MarioArgs(**values)


def tiny_roberta():
    from transformers import RobertaConfig

    return build_text_model(RobertaConfig(vocab_size=40, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                          intermediate_size=16, max_position_embeddings=80, type_vocab_size=1))


# ------------------------------------------------------------------------------------------------- Swin
def test_window_partition_round_trip():
    x = torch.randn(2, 14, 14, 3)
    windows = window_partition(x, 7)
    assert windows.shape == (8, 7, 7, 3)
    assert torch.equal(window_reverse(windows, 7, 14, 14), x)


def test_swin_dfer_shapes_and_single_image_case():
    torch.manual_seed(0)
    model = SwinForAffwildClassification(MarioArgs(), TINY_SWIN).eval()
    images = torch.randn(3, 3, 112, 112)
    with torch.no_grad():
        features = model.swin(images)
        logits = model(images)
        one = model(images[:1])
    assert features.shape == (3, 512) and logits.shape == (3, 7) and one.shape == (1, 7)
    # eval mode: running the single image as a pair changes nothing
    torch.testing.assert_close(one, logits[:1], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="112x112"):
        model(torch.randn(2, 3, 96, 96))


def test_swin_loss_and_distribution():
    torch.manual_seed(1)
    model = SwinForAffwildClassification(MarioArgs(), TINY_SWIN).eval()
    images = torch.randn(2, 3, 112, 112)
    noise = torch.randn(2, 7)
    model.noise_source = NoiseQueue([noise])
    with torch.no_grad():
        distribution = model(images, is_trg_task=True)
        logits = model(images)
        loss = model(images, False, torch.tensor([0, 3]), nn.CrossEntropyLoss())
    torch.testing.assert_close(distribution, torch.softmax(logits + noise, dim=-1))
    torch.testing.assert_close(loss, F.cross_entropy(logits, torch.tensor([0, 3])))
    with pytest.raises(RuntimeError, match="empty"):
        model(images, is_trg_task=True)


# --------------------------------------------------------------------------------- Gumbel, gate
def test_gumbel_softmax_matches_torch_with_the_same_stream():
    logits = torch.randn(5, 7)
    torch.manual_seed(3)
    ours = gumbel_softmax(logits, tau=1)
    torch.manual_seed(3)
    theirs = F.gumbel_softmax(logits, tau=1)
    assert torch.equal(ours, theirs)
    torch.testing.assert_close(ours.sum(-1), torch.ones(5))


def peaked(index: int, k: int = 7) -> torch.Tensor:
    row = torch.full((k,), 0.02)
    row[index] = 1 - 0.02 * (k - 1)
    return row


def test_clarity_gate_filters_and_compacts_one_utterance():
    flat = torch.full((7,), 1 / 7)  # clarity 1/7 < 0.2
    P = torch.stack([flat, peaked(2), flat, peaked(5)])
    features = torch.arange(4 * 3 * 1.0).view(1, 4, 3)
    features = torch.cat([features, torch.zeros(1, 2, 3)], dim=1)  # Lv = 6, 4 faces
    mask = torch.tensor([[1.0, 1, 1, 1, 0, 0]])
    gate = clarity_gate(P, features, mask, [4], threshold=0.2)
    assert gate.passed.tolist() == [False, True, False, True] and gate.branches == ["filter"]
    torch.testing.assert_close(gate.clarity, (P * P).sum(-1))
    assert gate.vision_mask.tolist() == [[1, 1, 0, 0, 0, 0]]
    assert torch.equal(gate.vision_inputs[0, :2], features[0, [1, 3]])
    assert torch.equal(gate.emotions[0, :2], P[[1, 3]]) and not gate.emotions[0, 2:].any()
    assert gate.vision_inputs_concat.shape == (1, 6, 10)


def test_clarity_gate_fallback_keeps_every_face():
    P = torch.full((3, 7), 1 / 7)
    features = torch.randn(1, 5, 3)
    mask = torch.tensor([[1.0, 1, 1, 0, 0]])
    for packing in ("per_utterance", "reference"):
        gate = clarity_gate(P, features, mask, [3], threshold=0.2, packing=packing)
        assert gate.branches == ["fallback"] and len(gate.kept_index) == 0
        assert torch.equal(gate.vision_inputs, features) and torch.equal(gate.vision_mask, mask)
        assert torch.equal(gate.emotions[0, :3], P) and not gate.emotions[0, 3:].any()


def test_clarity_gate_batch_of_two_per_utterance_vs_reference_margin_bug():
    flat = torch.full((7,), 1 / 7)
    # utterance 0: faces pass T T F ; utterance 1: faces pass T T
    P = torch.stack([peaked(0), peaked(1), flat, peaked(3), peaked(4)])
    features = torch.arange(2 * 4 * 2 * 1.0).view(2, 4, 2)
    mask = torch.tensor([[1.0, 1, 1, 0], [1.0, 1, 0, 0]])
    right = clarity_gate(P, features, mask, [3, 2], threshold=0.2)
    assert right.vision_mask.tolist() == [[1, 1, 0, 0], [1, 1, 0, 0]]
    assert torch.equal(right.vision_inputs[1, :2], features[1, :2])
    assert torch.equal(right.emotions[1, :2], P[3:5])
    reference = clarity_gate(P, features, mask, [3, 2], threshold=0.2, packing="reference")
    # margin = 3 - 1: the second utterance loses its last passing face and gathers the row after the right one
    assert reference.vision_mask.tolist() == [[1, 1, 0, 0], [1, 0, 0, 0]]
    assert torch.equal(reference.vision_inputs[1, 0], features[1, 1])
    assert torch.equal(reference.emotions[1, 0], P[3])
    # at batch size 1 both packings are the same
    one = [clarity_gate(P[:3], features[:1], mask[:1], [3], 0.2, packing=p) for p in ("per_utterance", "reference")]
    assert torch.equal(one[0].vision_inputs_concat, one[1].vision_inputs_concat)
    assert torch.equal(one[0].vision_mask, one[1].vision_mask)


def test_clarity_gate_rejects_mismatched_face_counts():
    with pytest.raises(ValueError, match="vis_num_imgs"):
        clarity_gate(torch.rand(3, 7), torch.zeros(1, 4, 2), torch.ones(1, 4), [2], 0.2)
    assert torch.equal(clarity_scores(torch.eye(3)), torch.ones(3))


# ------------------------------------------------------------------------ encoders and pooling
def test_sinusoidal_positions_skip_exact_zero_rows():
    x = torch.randn(4, 2, 6)
    x[2:, 0] = 0.0  # batch row 0: last two positions are padding
    positions = sinusoidal_positions(x)
    table = sinusoidal_table(5, 6)
    assert torch.equal(positions[:, 1], table[1:5])
    assert torch.equal(positions[:2, 0], table[1:3]) and not positions[2:, 0].any()


def test_additive_attention_masks_padding_and_handles_length_one():
    torch.manual_seed(0)
    pool = AdditiveAttention(4, 4)
    x = torch.randn(2, 3, 4)
    out, alpha = pool(x, torch.tensor([[1.0, 1, 0], [1.0, 1, 1]]))
    assert out.shape == (2, 4) and alpha.shape == (2, 1, 3) and alpha[0, 0, 2] == 0
    torch.testing.assert_close(alpha.sum(-1), torch.ones(2, 1))
    out1, alpha1 = pool(x[:1, :1], torch.zeros(1, 1))  # one element: weight 1 whatever the mask
    assert out1.shape == (1, 4) and torch.equal(out1, x[0, :1]) and alpha1.item() == 1


def test_utterance_spans_for_both_separator_layouts():
    # RoBERTa: <s> a a </s> </s> b </s> -> seps at 3, 6
    assert utterance_span([3, 6], 0, "roberta") == (1, 2) and utterance_span([3, 6], 1, "roberta") == (5, 1)
    # BERT: [CLS] a a [SEP] b [SEP] -> seps at 3, 5
    assert utterance_span([3, 5], 1, "bert") == (4, 1)
    assert utterance_span([3, 5], 2, "bert") is None


def tiny_batch(args: MarioArgs, batch: int = 1, faces: int = 2, seed: int = 0) -> MermcBatch:
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros(batch, 30, dtype=torch.long)
    sep = torch.zeros(batch, 30, dtype=torch.long)
    ids[:, :12] = torch.randint(5, 40, (batch, 12), generator=g)
    ids[:, 0], sep[:, 4], sep[:, 11] = 0, 1, 1  # two utterances
    text_mask = (torch.arange(30) < 12).long().repeat(batch, 1)
    la, lv = args.get_audio_utt_max_lens, args.get_vision_utt_max_lens
    vision_mask = (torch.arange(lv) < faces).float().repeat(batch, 1)
    face_images = torch.zeros(batch, lv, 3, 112, 112)
    face_images[:, :faces] = torch.randn(batch, faces, 3, 112, 112, generator=g)
    return MermcBatch(ids, text_mask, sep, torch.randn(batch, la, args.audio_featExtr_dim, generator=g),
                      (torch.arange(la) < 5).float().repeat(batch, 1),
                      torch.randn(batch, lv, args.vision_featExtr_dim, generator=g) * vision_mask[..., None],
                      vision_mask, torch.randint(0, 7, (batch,), generator=g), face_images,
                      torch.full((batch,), faces), torch.arange(batch) % 2)


def test_multimodal_and_vision_only_forward_shapes():
    torch.manual_seed(0)
    args = tiny_args()
    model = MultiModalTransformerForClassification(args, text_model=tiny_roberta()).eval()
    b = tiny_batch(args, batch=2)
    vision = torch.cat([b.vision_inputs, torch.rand(2, 4, 7)], dim=-1)
    with torch.no_grad():
        logits = model(b.text_input_ids, b.text_input_mask, b.text_sep_mask, b.audio_inputs, b.audio_mask, vision,
                       b.vision_mask, b.utt_in_dia_idx)
    assert logits.shape == (2, 7) and torch.isfinite(logits).all()
    assert model.text_pretrained_model == "roberta" and "roberta.embeddings.word_embeddings.weight" in model.state_dict()
    v_only = meld_utt_transformer(tiny_args()).eval()
    assert v_only(b.vision_inputs, b.vision_mask).shape == (2, 7)
    with pytest.raises(ValueError, match="get_vision_utt_max_lens"):
        meld_utt_transformer(MarioArgs())


# ----------------------------------------------------------------------------- optimiser, steps
def test_adamw424_against_a_hand_computation():
    lr, wd, eps, b1, b2 = 0.1, 0.01, 1e-6, 0.9, 0.999
    p = nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    optimizer = AdamW424([p], lr=lr, weight_decay=wd)
    grads = [torch.tensor([0.5, -1e-7], dtype=torch.float64), torch.tensor([-0.25, 3e-7], dtype=torch.float64)]
    value, m, v = p.detach().clone(), torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    for t, g in enumerate(grads, start=1):
        p.grad = g.clone()
        optimizer.step()
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        step_size = lr * math.sqrt(1 - b2**t) / (1 - b1**t)  # bias correction in the step size
        value = value - step_size * m / (v.sqrt() + eps)  # eps before the correction
        value = value - lr * wd * value  # decay after the update
        torch.testing.assert_close(p.detach(), value, atol=1e-15, rtol=0)
    # torch's AdamW is other maths (eps placement, decay first): visibly different on small gradients
    q = nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    torch_opt = torch.optim.AdamW([q], lr=lr, eps=eps, weight_decay=wd)
    for g in grads:
        q.grad = g.clone()
        torch_opt.step()
    assert (p.detach() - q.detach()).abs().max() > 5e-5


def test_linear_warmup_schedule_starts_at_zero():
    assert [linear_warmup_factor(s, 1, 10.0) for s in (0, 1, 5, 10, 12)] == [0.0, 1.0, 5 / 9, 0.0, 0.0]
    p = nn.Parameter(torch.zeros(1))
    optimizer = AdamW424([p], lr=2.0)
    scheduler = linear_warmup_schedule(optimizer, 2, 4)
    lrs = []
    for _ in range(4):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs == [0.0, 1.0, 2.0, 1.0]


def tiny_models(seed: int = 0):
    torch.manual_seed(seed)
    args = tiny_args()
    swin = SwinForAffwildClassification(args, TINY_SWIN)
    model = MultiModalTransformerForClassification(args, text_model=tiny_roberta())
    return args, swin, model


def test_mermc_train_step_accumulates_then_steps_and_evaluates():
    args, swin, model = tiny_models()
    optimizer = AdamW424(model.parameters(), lr=1e-3)
    scheduler = linear_warmup_schedule(optimizer, 0, 10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    swin_before = [p.clone() for p in swin.parameters()]
    first = mermc_train_step(swin, model, tiny_batch(args, seed=1), nn.CrossEntropyLoss(), optimizer, scheduler,
                             threshold=0.2, clip=0.8, accumulation_steps=2, batch_index=0)
    assert not first.stepped and first.grad_norm is None
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    second = mermc_train_step(swin, model, tiny_batch(args, seed=2), nn.CrossEntropyLoss(), optimizer, scheduler,
                              threshold=0.2, clip=0.8, accumulation_steps=2, batch_index=1)
    assert second.stepped and second.grad_norm > 0 and math.isfinite(second.loss)
    assert any(not torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert all(p.grad is None for p in model.parameters())  # zeroed after the step
    assert all(torch.equal(a, b) for a, b in zip(swin_before, swin.parameters()))  # Swin not stepped
    loss, logits, gate = mermc_evaluate_batch(swin, model, tiny_batch(args, seed=3), nn.CrossEntropyLoss(),
                                              threshold=0.2)
    assert logits.shape == (1, 7) and math.isfinite(loss) and gate.branches[0] in ("filter", "fallback")


def test_grad_scaler_clips_the_unscaled_gradients():
    norms = []
    for scaler in (None, torch.amp.GradScaler("cpu", init_scale=1024.0)):
        args, swin, model = tiny_models(seed=4)
        optimizer = AdamW424(model.parameters(), lr=1e-3)
        swin.noise_source = NoiseQueue([torch.zeros(2, 7)])
        result = mermc_train_step(swin.eval(), model, tiny_batch(args, seed=5), nn.CrossEntropyLoss(), optimizer,
                                  linear_warmup_schedule(optimizer, 0, 10), threshold=0.2, clip=0.8, scaler=scaler)
        norms.append(result.grad_norm)
    assert norms[0] == pytest.approx(norms[1], rel=1e-5)


# ------------------------------------------------------------------------------- text, images
def _tiny_roberta_tokenizer(tmp_path):
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizer

    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(["hello there how are you", "fine thanks and you", "oh my god"], vocab_size=300,
                                min_frequency=1, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    trainer.save_model(str(tmp_path))
    return RobertaTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))


def _tiny_bert_tokenizer(tmp_path):
    from transformers import BertTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "there", "how", "are", "you", "fine", "oh"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    return BertTokenizer(str(tmp_path / "vocab.txt"))


def test_truncation_pops_the_longest_utterance_earliest_first():
    tokens = [list("aaaa"), list("bbbb"), list("cc")]
    assert truncate_utterances(tokens, 8)
    assert [len(t) for t in tokens] == [3, 3, 2]
    assert not truncate_utterances(tokens, 8)


@pytest.mark.parametrize("style", ["roberta", "bert"])
def test_dialogue_tokenisation_layout_and_truncation(tmp_path, style):
    tokenizer = _tiny_roberta_tokenizer(tmp_path) if style == "roberta" else _tiny_bert_tokenizer(tmp_path)
    short = tokenise_dialogue(["hello there", "how are you"], tokenizer, style)
    real = sum(short.input_mask)
    tokens = tokenizer.convert_ids_to_tokens(short.input_ids[:real])
    seps = [i for i, s in enumerate(short.sep_mask) if s]
    if style == "roberta":
        assert tokens[0] == "<s>" and tokens.count("</s>") == 3 and [tokens[i] for i in seps] == ["</s>", "</s>"]
        assert tokens[seps[0] + 1] == "</s>"  # </s></s> between utterances
    else:
        assert tokens[0] == "[CLS]" and [tokens[i] for i in seps] == ["[SEP]", "[SEP]"] and tokens.count("[SEP]") == 2
    assert len(short.input_ids) == 512 and short.input_ids[real:] == [0] * (512 - real) and not short.truncated
    # a dialogue over the utterance budget (512 - 68 RoBERTa, 512 - 34 BERT): the longest one is trimmed
    long_dialogue = ["hello there " * 250, "how are you " * 40, "oh"]
    budget = 512 - 34 * (2 if style == "roberta" else 1)
    encoded = tokenise_dialogue(long_dialogue, tokenizer, style)
    pieces = [tokenizer.tokenize(t) for t in long_dialogue]
    assert encoded.truncated and encoded.tokens_per_utterance == [len(p) for p in pieces]
    extra = 2 * 3 if style == "roberta" else 1 + 3
    assert sum(encoded.input_mask) == budget + extra
    seps = [i for i, s in enumerate(encoded.sep_mask) if s]
    assert len(seps) == 3 and seps[-1] == sum(encoded.input_mask) - 1


def test_face_batch_reads_bgr_as_rgb_and_resizes_by_height(tmp_path):
    blue = np.zeros((160, 160, 3), np.uint8)
    blue[..., 0] = 255  # BGR: pure blue
    cv2.imwrite(str(tmp_path / "blue.png"), blue)
    cv2.imwrite(str(tmp_path / "big.png"), np.full((256, 200, 3), 128, np.uint8))  # squashed to 224x224
    images = load_face_batch([tmp_path / "blue.png", tmp_path / "big.png"])
    assert images.shape == (2, 3, 224, 224)
    assert torch.all(images[0, 0] == 1.0) and torch.all(images[0, 1:] == -1.0)  # channel 0 is BLUE
    assert load_face_batch([]).shape == (0, 3, 224, 224)
    with pytest.raises(FaceImageError, match="missing.jpg"):
        load_face_batch([tmp_path / "missing.jpg"])


# -------------------------------------------------------------------------------- checkpoints
def test_pickled_reference_module_loads_through_stubs(tmp_path, monkeypatch):
    package, module = types.ModuleType("src"), types.ModuleType("src.models")
    monkeypatch.setitem(sys.modules, "src", package)
    monkeypatch.setitem(sys.modules, "src.models", module)
    torch.manual_seed(0)
    original = meld_utt_transformer(tiny_args())

    class RefV(nn.Module):  # a stand-in for the reference class, pickled under the reference's module name
        def __init__(self):
            super().__init__()
            for name, child in original.named_children():
                setattr(self, name, child)

    RefV.__module__, RefV.__qualname__ = "src.models", "meld_utt_transformer"
    module.meld_utt_transformer = RefV
    torch.save(RefV(), tmp_path / "unimodal_model_V.pt")
    monkeypatch.delitem(sys.modules, "src.models")
    monkeypatch.delitem(sys.modules, "src")
    fresh = meld_utt_transformer(tiny_args())
    report = checkpoints.load_checkpoint(fresh, tmp_path / "unimodal_model_V.pt")
    assert report.loaded == len(original.state_dict()) and not report.missing and not report.unexpected
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in original.state_dict().items())


def test_checkpoint_mismatch_names_the_keys(tmp_path):
    model = meld_utt_transformer(tiny_args())
    state = model.state_dict()
    state.pop("classifier.bias")
    state["roberta.embeddings.position_ids"] = torch.arange(3)  # transformers 4.24 buffer: dropped silently
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(checkpoints.CheckpointMismatch, match=r"missing \(1\): classifier.bias") as error:
        checkpoints.load_checkpoint(model, tmp_path / "bad.pt")
    assert "unexpected (1): extra.weight" in str(error.value) and "position_ids" not in str(error.value)
    with pytest.raises(FileNotFoundError, match="nothere.pt"):
        checkpoints.load_checkpoint(model, tmp_path / "nothere.pt")


def test_msceleb_backbone_maps_into_swin(tmp_path):
    torch.manual_seed(0)
    source = SwinForAffwildClassification(MarioArgs(), TINY_SWIN)
    state = {"backbone." + k[len("swin."):]: v for k, v in source.state_dict().items() if k.startswith("swin.")}
    state["head.weight"] = torch.zeros(3, 512)
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "Swin_tiny_Ms-Celeb-1M.pt")
    target = SwinForAffwildClassification(MarioArgs(), TINY_SWIN)
    head_before = target.classifier.weight.clone()
    report = checkpoints.load_checkpoint(target, tmp_path / "Swin_tiny_Ms-Celeb-1M.pt", msceleb_backbone=True)
    assert not report.missing
    assert torch.equal(target.swin.patch_embed.proj.weight, source.swin.patch_embed.proj.weight)
    assert torch.equal(target.classifier.weight, head_before)


def test_full_size_state_dict_keys_equal_the_reference():
    expected_path = require_shared("fixtures", "mario", "state_dict_keys_full.json")
    from facseq.mario.parity_cases import full_size_state_dicts

    expected = json.loads(expected_path.read_text())
    ours = full_size_state_dicts()
    for name, keys in expected.items():
        assert {k: list(v) for k, v in ours[name].items()} == {k: list(v) for k, v in keys.items()}, name
