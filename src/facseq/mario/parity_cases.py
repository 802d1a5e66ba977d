"""The cases of `facseq.mario.parity`: each runs our code the way the fixture README describes the
reference call and compares every recorded array (see parity.py for tolerances)."""

from __future__ import annotations

import io
import json
import lzma
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .config import MarioArgs, SwinConfig
from .dfer_head import SwinForAffwildClassification
from .emotion_distribution import NoiseQueue
from .multimodal import MultiModalTransformerForClassification
from .optim import AdamW424, linear_warmup_schedule
from .parity import SWIN_GRAD_NORM_RTOL, UPDATE_ATOL, Report
from .preprocess import SWIN_IMG_SIZE, load_face_batch, read_face_bgr, resize_like_reference
from .steps import MermcBatch, dfer_train_step, gather_faces, mermc_evaluate_batch, mermc_train_step
from .text import dialogues_from_csv, load_tokenizer, tokenise_dialogue
from .vision_only import meld_utt_transformer

TEXT_KINDS = ("roberta", "bert")
# official text-encoder configurations (roberta-large, bert-large) for the full-size key check (case h)
FULL_TEXT_CONFIGS = {
    "roberta": dict(vocab_size=50265, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                    intermediate_size=4096, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
                    layer_norm_eps=1e-5),
    "bert": dict(vocab_size=30522, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                 intermediate_size=4096, max_position_embeddings=512, type_vocab_size=2),
}
LENGTH_PLACEHOLDERS = {"A_MAX": 100001, "V_MAX": 100002}  # data-dependent position-table lengths
DEFAULT_TRAINING_STEPS = 10.0  # the fixture README's schedule: warm-up int(10 * 0.1) = 1 of 10 steps


class Fixture:
    def __init__(self, root: Path):
        self.root = root
        self.config = json.loads((root / "config.json").read_text())
        manifest = root / "manifest.json"
        self.manifest = json.loads(manifest.read_text()) if manifest.is_file() else {}
        self._images = None

    def path(self, relative: str) -> Path:
        return self.root / relative

    def case_meta(self, case: str) -> dict:
        return self.manifest.get("cases", {}).get(case, {})

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        plain, packed = self.root / "cases" / f"{name}.npz", self.root / "cases" / f"{name}.npz.xz"
        if plain.is_file():
            return dict(np.load(plain))
        if packed.is_file():
            return dict(np.load(io.BytesIO(lzma.open(packed).read())))
        raise FileNotFoundError(f"{plain} (or .xz) is missing")

    def state_dict(self, name: str) -> dict[str, torch.Tensor]:
        plain, packed = self.root / "weights" / f"{name}.pt", self.root / "weights" / f"{name}.pt.xz"
        source = io.BytesIO(lzma.open(packed).read()) if packed.is_file() else plain
        return torch.load(source, map_location="cpu", weights_only=True)

    def args(self) -> MarioArgs:
        return MarioArgs.from_mapping(self.config["args_small"])

    def text_model_path(self, kind: str) -> Path:
        return self.root / "text_models" / f"{kind}-large"

    def swin(self) -> SwinForAffwildClassification:
        model = SwinForAffwildClassification(self.args(), SwinConfig.from_mapping(self.config["swin_small"]))
        model.load_state_dict(self.state_dict("swin_small"))
        return model.eval()

    def multimodal(self, kind: str) -> MultiModalTransformerForClassification:
        args = self.args()
        args.pretrainedtextmodel_path = str(self.text_model_path(kind))
        model = MultiModalTransformerForClassification(args)
        model.load_state_dict(self.state_dict(f"multimodal_{kind}"))
        return model.eval()

    def images(self) -> torch.Tensor:
        """The reference's preprocessed face pool (case a's expected_images), input of cases b, c, f."""
        if self._images is None:
            self._images = torch.from_numpy(self.arrays("a_face_preprocess")["expected_images"])
        return self._images


@contextmanager
def captured(modules: dict[str, nn.Module]):
    """Record (inputs, output) of every call of the given modules: {name: [(args, output), ...]}."""
    calls: dict[str, list] = {name: [] for name in modules}
    handles = [m.register_forward_hook(lambda _m, args, out, name=name: calls[name].append((args, out)))
               for name, m in modules.items()]
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()


def compare_all(report: Report, case: str, ours: dict, expected: dict, is_input=lambda key: False,
                tolerances: dict | None = None) -> None:
    """One line per expected array; an array we did not compute FAILs."""
    tolerances = tolerances or {}
    for key, value in expected.items():
        if is_input(key):
            continue
        if key not in ours:
            report.fail(f"{case}/{key}", "not computed")
            continue
        report.compare(f"{case}/{key}", ours[key], value, **tolerances.get(key, {}))


# ------------------------------------------------------------------------------------------ a
def case_a(fx: Fixture, report: Report) -> None:
    expected = fx.arrays("a_face_preprocess")
    files = fx.case_meta("a").get("files") or sorted(str(p.relative_to(fx.root)) for p in fx.path("inputs/faces").glob("*.jpg"))
    paths = [fx.path(f) for f in files]
    ours = {"expected_images": load_face_batch(paths),
            "resized_uint8_bgr": np.stack([resize_like_reference(read_face_bgr(p)) for p in paths])}
    for i, p in enumerate(paths):
        ours[f"decoded_uint8_bgr_{i:02d}"] = read_face_bgr(p)
    compare_all(report, "a", ours, expected)


# ------------------------------------------------------------------------------------------ b
def case_b(fx: Fixture, report: Report) -> None:
    expected = fx.arrays("b_swin_forward")
    model, images = fx.swin(), fx.images()
    swin = model.swin
    hooks = {"N_patch_embed": swin.patch_embed, "N_out_layernorm": swin.output_layer[0],
             "N_out_linear": swin.output_layer[2], "N_swin_features": swin, "N_head_linear": model.linear,
             "N_head_logits": model.classifier}
    hooks.update({f"N_stage{i}": stage for i, stage in enumerate(swin.layers)})
    ours = {}
    with torch.no_grad():
        with captured(hooks) as calls:
            ours["N_logits"] = model(images)
        ours.update({name: c[0][1] for name, c in calls.items()})
        with captured({"one_swin_features": swin}) as calls:
            ours["one_logits"] = model(images[:1])
        ours["one_swin_features"] = calls["one_swin_features"][0][1]
        for tag, batch in (("N", images), ("one", images[:1])):
            model.noise_source = NoiseQueue([expected[f"input_gumbel_noise_{tag}"]])
            ours[f"{tag}_trg_output"] = model(batch, is_trg_task=True)
    compare_all(report, "b", ours, expected, is_input=lambda k: k.startswith("input_"))


# ------------------------------------------------------------------------------------------ c
class CDataset:
    """The reference data path for cases c and f, from inputs/c_dataset and inputs/meld_text."""

    def __init__(self, fx: Fixture, kind: str = "roberta"):
        folder = fx.path("inputs/c_dataset")
        data = dict(np.load(folder / "c_dataset.npz"))
        pick = lambda *names: next(data[n] for n in names if n in data)  # noqa: E731
        self.audio, self.audio_mask = pick("audio"), pick("audio_mask", "audio_utt_mask")
        self.vision, self.vision_mask = pick("vision"), pick("vision_mask", "vision_utt_mask")
        self.labels = pick("labels")
        self.profile = json.loads(next(folder.glob("*_utt_profile.json")).read_text())
        self.faces = json.loads(next(folder.glob("*_facseqs_160_paths_final.json")).read_text())
        self.fx = fx
        tokenizer = load_tokenizer(fx.text_model_path(kind))
        csv_path = next(fx.path("inputs/meld_text").glob("*_sent_emo.csv"))
        self.dialogues = [tokenise_dialogue([t for _, t in utts], tokenizer, kind)
                          for utts in dialogues_from_csv(csv_path).values()]

    def item(self, index: int):
        utt_name, _, dia_idx, _, utt_in_dia = self.profile[str(index)]
        text = self.dialogues[dia_idx]
        max_faces = self.vision.shape[1]
        paths = [self.fx.path(p) for p in self.faces[utt_name]][:max_faces]
        faces = torch.zeros((max_faces, 3, SWIN_IMG_SIZE, SWIN_IMG_SIZE))
        faces[:len(paths)] = load_face_batch(paths)
        return (torch.tensor(text.input_ids), torch.tensor(text.input_mask), torch.tensor(text.sep_mask),
                torch.from_numpy(self.audio[index]), torch.from_numpy(self.audio_mask[index]),
                torch.from_numpy(self.vision[index]), torch.from_numpy(self.vision_mask[index]),
                torch.tensor(int(self.labels[index])), faces, torch.tensor(len(paths)), torch.tensor(utt_in_dia))

    def batch(self, indices) -> MermcBatch:
        items = [self.item(int(i)) for i in indices]
        return MermcBatch(*(torch.stack(column) for column in zip(*items)))


BATCH_KEYS = ("text_input_ids", "text_input_mask", "text_sep_mask", "audio_inputs", "audio_mask", "vision_inputs",
              "vision_mask", "label_ids", "vis_num_imgs", "utt_in_dia_idx")


def gate_evaluate(swin, model, batch: MermcBatch, threshold: float, packing: str) -> tuple[dict, float]:
    """steps.mermc_evaluate_batch, with the arrays the fixture records (prefix-less keys) and the loss."""
    with captured({"logits": swin.classifier, "distribution": swin}) as calls:
        loss, logits, gate = mermc_evaluate_batch(swin, model, batch, nn.CrossEntropyLoss(), threshold=threshold,
                                                  packing=packing)
    ours = {"swin_logits_before_gumbel": calls["logits"][0][1], "preds_FacialEmo_distr": calls["distribution"][0][1],
            "clarity_diag_PPt": gate.clarity, "clarity_mask": gate.passed, "HighImporFace_idx": gate.kept_index,
            "new_vision_inputs": gate.vision_inputs, "batch_vis_emo": gate.emotions,
            "vision_inputs_concat": gate.vision_inputs_concat, "new_vision_mask": gate.vision_mask,
            "mm_logits": logits}
    ours.update({key: getattr(batch, key) for key in BATCH_KEYS})
    return ours, loss


def case_c(fx: Fixture, report: Report) -> None:
    expected = fx.arrays("c_clarity_gate")
    meta = fx.case_meta("c")
    args = fx.args()
    swin, model, data = fx.swin(), fx.multimodal("roberta"), CDataset(fx, "roberta")
    runs = [(c["name"], [c["utterance_index"]], "per_utterance") for c in meta.get("cases", [])]
    if "c4_batch2" in meta:  # batch > 1: the reference's own re-packing arithmetic
        runs.append(("c4_batch2", meta["c4_batch2"]["utterances"], "reference"))
    ours, losses, results, truths = {}, [], [], []
    for name, utterances, packing in runs:
        batch = data.batch(utterances)
        swin.noise_source = NoiseQueue([expected[f"{name}/gumbel_noise"]])
        arrays, loss = gate_evaluate(swin, model, batch, args.FacialEmoImpor_threshold, packing)
        ours.update({f"{name}/{k}": v for k, v in arrays.items()})
        faces = gather_faces(batch.face_images, batch.vis_num_imgs)
        report.compare(f"c/{name}/faces (= a.expected_images[face_pool_indices])", faces,
                       fx.images()[expected[f"{name}/face_pool_indices"]].numpy())
        # multimodal_evaluate's avg_loss: sum(loss * trg_batch_size) / number of utterances, where the loader's
        # batch size is trg_batch_size (c4: one batch of 2 -> its mean loss)
        if name == "c4_batch2":
            ours[f"{name}/avg_loss"] = np.float64(loss * len(utterances) / len(utterances))
        else:
            losses.append(loss * args.trg_batch_size)
            results.append(arrays["mm_logits"])
            truths.append(batch.label_ids)
    if results:
        ours["c123/avg_loss"] = np.float64(sum(losses) / len(results))
        ours["c123/results"], ours["c123/truths"] = torch.cat(results), torch.cat(truths)
    compare_all(report, "c", ours, expected,
                is_input=lambda k: k.endswith("/gumbel_noise") or k.endswith("/face_pool_indices"))


# ------------------------------------------------------------------------------------------ d
def multimodal_intermediates(model, inputs: tuple, real_tokens: int | None) -> dict:
    text_max = model.get_text_utt_max_lens
    hooks = {"text_model_last_hidden": model.text_model, "text_utt_linear": model.text_linear,
             "audio_emb_linear": model.audio_linear, "vision_emb_linear": model.vision_linear,
             "audio_utt_trans": model.audio_utt_transformer, "vision_utt_trans": model.vision_utt_transformer,
             "TA": model.CrossModalTrans_TA, "TA_V": model.CrossModalTrans_TA_V, "attention": model.attention,
             "logits": model.classifier}
    with torch.no_grad(), captured(hooks) as calls:
        out = model(*inputs)
    first = lambda name: calls[name][0][1]  # noqa: E731
    hidden = first("text_model_last_hidden")[0]
    attention_args, (pooled, alpha) = calls["attention"][0]
    ours = {"text_model_last_hidden": hidden[:, :real_tokens], "text_utt_linear": first("text_utt_linear")[:, :real_tokens]}
    ours.update({name: first(name) for name in ("audio_emb_linear", "vision_emb_linear", "audio_utt_trans",
                                                "vision_utt_trans", "logits")})
    ours.update({"batch_text_feat_update": calls["TA"][0][0][0].transpose(0, 1),
                 "text_crossAudio_att": calls["TA"][0][1], "audio_crossText_att": calls["TA"][1][1],
                 "vision_crossTeAud_att": calls["TA_V"][0][1], "texaudi_crossVis_att": calls["TA_V"][1][1],
                 "final_utt_mask": attention_args[1], "batch_text_sep_mask_update": attention_args[1][:, :text_max],
                 "additive_attention_out": pooled, "additive_attention_alpha": alpha, "forward_return": out})
    return ours


def case_d(fx: Fixture, report: Report) -> None:
    for kind in TEXT_KINDS:
        expected = fx.arrays(f"d_multimodal_{kind}")
        model = fx.multimodal(kind)
        t = {k[len("input_"):]: torch.from_numpy(v) for k, v in expected.items() if k.startswith("input_")}
        real_tokens = int(t["input_mask"].sum())
        n = t["audio_inputs"].shape[0]
        ours = {}
        for k in range(n):
            inputs = (t["input_ids"][None], t["input_mask"][None], t["sep_mask"][None], t["audio_inputs"][k:k + 1],
                      t["audio_mask"][k:k + 1], t["vision_inputs_concat"][k:k + 1], t["new_vision_mask"][k:k + 1],
                      torch.tensor([k]))
            ours.update({f"utt{k}_{key}": v for key, v in multimodal_intermediates(model, inputs, real_tokens).items()})
        rows = lambda x: x[None].repeat(n, 1)  # noqa: E731
        inputs = (rows(t["input_ids"]), rows(t["input_mask"]), rows(t["sep_mask"]), t["audio_inputs"], t["audio_mask"],
                  t["vision_inputs_concat"], t["new_vision_mask"], torch.arange(n))
        ours.update({f"batched_{key}": v for key, v in multimodal_intermediates(model, inputs, real_tokens).items()})
        compare_all(report, f"d_{kind}", ours, expected, is_input=lambda k: k.startswith("input_"))


# ------------------------------------------------------------------------------------------ e
def case_e(fx: Fixture, report: Report) -> None:
    expected = fx.arrays("e_meld_utt_transformer")
    model = meld_utt_transformer(fx.args())
    model.load_state_dict(fx.state_dict("meld_utt_transformer"))
    model.eval()
    runs = {"main": ("input_x", "input_mask"), "len1": ("input_x_len1", "input_mask_len1"),
            "batch1_len1": ("input_x_b1_len1", "input_mask_b1_len1")}
    hooks = {"modality_emb_linear": model.modality_linear, "modality_utt_trans": model.utt_transformer,
             "attention": model.attention, "logits": model.classifier}
    ours = {}
    for tag, (x, mask) in runs.items():
        if x not in expected:
            continue
        with torch.no_grad(), captured(hooks) as calls:
            model(torch.from_numpy(expected[x]), torch.from_numpy(expected[mask]))
        pooled, alpha = calls["attention"][0][1]
        ours.update({f"{tag}_modality_emb_linear": calls["modality_emb_linear"][0][1],
                     f"{tag}_modality_utt_trans": calls["modality_utt_trans"][0][1],
                     f"{tag}_additive_attention_out": pooled, f"{tag}_additive_attention_alpha": alpha,
                     f"{tag}_logits": calls["logits"][0][1]})
    compare_all(report, "e", ours, expected, is_input=lambda k: k.startswith("input_"))


# ------------------------------------------------------------------------------------------ f
def make_optimizer(kind: str, parameters, lr: float, weight_decay: float):
    if kind == "hf424":
        return AdamW424(parameters, lr=lr, weight_decay=weight_decay)
    if kind == "torch":
        return torch.optim.AdamW(parameters, lr=lr, eps=1e-6, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {kind!r} in the fixture")


def record_grads(model: nn.Module, names: list[str], into: dict, prefix: str):
    params = dict(model.named_parameters())

    def record():
        for name in names:
            if params[name].grad is not None:
                into[f"{prefix}{name}"] = params[name].grad.detach().clone()
    return record


def compare_training(report: Report, case: str, fx: Fixture, model: nn.Module, ours: dict, expected: dict,
                     meta: dict, lrs: list[float]) -> None:
    """Updates (after - initial) at UPDATE_ATOL, the recorded lr per step, every parameter's statistics."""
    initial = {k[len("initial/"):]: v for k, v in expected.items() if k.startswith("initial/")}
    for key in [k for k in expected if "_param_after/" in k]:
        name = key.split("_param_after/", 1)[1]
        if key in ours and name in initial:
            report.compare(f"{case}/{key.replace('param_after', 'update')}", _np(ours[key]) - initial[name],
                           expected[key] - initial[name], atol=UPDATE_ATOL)
    if "lr_used_per_step" in meta:
        report.compare(f"{case}/lr_used_per_step", np.array(lrs), np.array(meta["lr_used_per_step"]), atol=1e-12)
    stats = meta.get("param_stats_after_last_step")
    if stats:
        start = {k: torch.from_numpy(v) for k, v in initial.items()}
        params = dict(model.named_parameters())
        sums, deltas, missing = [], [], [name for name in stats if name not in params]
        for name, (total, squares, max_delta) in stats.items():
            if name in missing:
                continue
            p = params[name].detach().double()
            scale = max(1.0, abs(total), abs(squares))
            sums.append(max(abs(float(p.sum()) - total), abs(float((p * p).sum()) - squares)) / scale)
            if name in start:
                deltas.append(abs(float((p - start[name].double()).abs().max()) - max_delta))
        if missing:
            report.fail(f"{case}/param_stats", f"parameters missing in our model: {missing[:5]}")
        report.compare(f"{case}/param_stats_after_last_step [sum, sumsq] ({len(sums)} params, relative)",
                       np.array(max(sums) if sums else 0.0), np.array(0.0), atol=1e-6)


def _np(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def lr_schedule(fx: Fixture, optimizer, args: MarioArgs):
    total = fx.case_meta("f").get("num_training_steps", DEFAULT_TRAINING_STEPS)
    return linear_warmup_schedule(optimizer, int(total * args.warm_up), total)


def case_f(fx: Fixture, report: Report) -> None:
    meta_all = json.loads(fx.path("cases/f_train_meta.json").read_text())
    for variant in [v for v in ("multimodal_hf424", "multimodal_torch", "swin_hf424", "swin_torch")
                    if (fx.root / "cases" / f"f_train_{v}.npz").is_file()]:
        expected = fx.arrays(f"f_train_{variant}")
        meta = meta_all.get(variant, {})
        run = f_multimodal if variant.startswith("multimodal") else f_swin
        run(fx, report, variant, expected, meta)


def initial_parameters(model: nn.Module, expected: dict) -> dict:
    """Our loaded parameters under the fixture's `initial/<name>` keys (the weights both runs start from)."""
    params = dict(model.named_parameters())
    return {k: params[k.split("/", 1)[1]].detach().clone() for k in expected if k.startswith("initial/")
            and k.split("/", 1)[1] in params}


def _steps(expected: dict) -> list[int]:
    return sorted({int(k[4:].split("_")[0]) for k in expected if k.startswith("step")})


def f_multimodal(fx: Fixture, report: Report, variant: str, expected: dict, meta: dict) -> None:
    args = fx.args()
    swin, model, data = fx.swin(), fx.multimodal("roberta"), CDataset(fx, "roberta")
    steps = _steps(expected)
    swin.noise_source = NoiseQueue([expected[f"step{s}_gumbel_noise"] for s in steps])
    optimizer = make_optimizer(variant.split("_")[1], model.parameters(), args.trg_lr, args.weight_decay)
    scheduler = lr_schedule(fx, optimizer, args)
    tracked = sorted({k.split("/", 1)[1] for k in expected if k.startswith(f"step{steps[0]}_grad_before_clip/")})
    criterion = nn.CrossEntropyLoss()
    ours, lrs = initial_parameters(model, expected), []
    optimizer.zero_grad()
    utterances = expected["input_train_utterances"]
    for i, s in enumerate(steps):
        batch = data.batch([utterances[i]])
        lrs.append(optimizer.param_groups[0]["lr"])
        with captured({"logits": swin.classifier, "distribution": swin}) as calls:
            result = mermc_train_step(swin, model, batch, criterion, optimizer, scheduler,
                                      threshold=args.FacialEmoImpor_threshold, clip=args.clip,
                                      accumulation_steps=args.trg_accumulation_steps, batch_index=i,
                                      before_clip=record_grads(model, tracked, ours, f"step{s}_grad_before_clip/"))
        gate = result.gate
        ours.update({f"step{s}_swin_logits_before_gumbel": calls["logits"][0][1],
                     f"step{s}_preds_FacialEmo_distr": calls["distribution"][0][1],
                     f"step{s}_clarity_diag_PPt": gate.clarity, f"step{s}_vision_inputs_concat": gate.vision_inputs_concat,
                     f"step{s}_new_vision_mask": gate.vision_mask, f"step{s}_logits": result.logits,
                     f"step{s}_loss": np.float32(result.loss), f"step{s}_grad_norm_before_clip": np.float32(result.grad_norm)})
        params = dict(model.named_parameters())
        for key in [k for k in expected if k.startswith(f"step{s}_param_after/")]:
            ours[key] = params[key.split("/", 1)[1]].detach().clone()
        recorded = meta.get("steps", [])
        if i < len(recorded) and "branch" in recorded[i]:
            same = gate.branches == [recorded[i]["branch"]] * len(gate.branches)
            report.compare(f"f_{variant}/step{s}_branch ({recorded[i]['branch']})", np.array(int(not same)), np.array(0))
    buffers = dict(swin.state_dict())
    for key in [k for k in expected if k.startswith("swin_after/")]:
        ours[key] = buffers[key.split("/", 1)[1]]
    compare_all(report, f"f_{variant}", ours, expected,
                is_input=lambda k: k.startswith("input_") or k.endswith("_gumbel_noise"))
    compare_training(report, f"f_{variant}", fx, model, ours, expected, meta, lrs)


def f_swin(fx: Fixture, report: Report, variant: str, expected: dict, meta: dict) -> None:
    args = fx.args()
    swin = fx.swin()
    optimizer = make_optimizer(variant.split("_")[1], swin.parameters(), args.aux_lr, 0.0)  # reference: no decay
    scheduler = lr_schedule(fx, optimizer, args)
    steps = _steps(expected)
    tracked = sorted({k.split("/", 1)[1] for k in expected if k.startswith(f"step{steps[0]}_grad_before_clip/")})
    criterion = nn.CrossEntropyLoss()
    ours, lrs, tolerances = initial_parameters(swin, expected), [], {}
    optimizer.zero_grad()
    for i, s in enumerate(steps):
        images = fx.images()[expected[f"input_batch{s}_pool_indices"]]
        labels = torch.from_numpy(expected[f"input_batch{s}_labels"])
        lrs.append(optimizer.param_groups[0]["lr"])
        with captured({"logits": swin.classifier}) as calls:
            result = dfer_train_step(swin, images, labels, criterion, optimizer, scheduler, clip=args.clip,
                                     accumulation_steps=args.aux_accumulation_steps, batch_index=i,
                                     before_clip=record_grads(swin, tracked, ours, f"step{s}_grad_before_clip/"))
        ours.update({f"step{s}_logits": calls["logits"][0][1], f"step{s}_loss": np.float32(result.loss),
                     f"step{s}_grad_norm_before_clip": np.float32(result.grad_norm)})
        tolerances[f"step{s}_grad_norm_before_clip"] = {"rtol": SWIN_GRAD_NORM_RTOL}
        state, params = swin.state_dict(), dict(swin.named_parameters())
        for key in [k for k in expected if k.startswith(f"step{s}_param_after/")]:
            ours[key] = params[key.split("/", 1)[1]].detach().clone()
        for key in [k for k in expected if k.startswith(f"step{s}_buffer_after/")]:
            ours[key] = state[key.split("/", 1)[1]].clone()
    compare_all(report, f"f_{variant}", ours, expected, is_input=lambda k: k.startswith("input_"),
                tolerances=tolerances)
    compare_training(report, f"f_{variant}", fx, swin, ours, expected, meta, lrs)


# ------------------------------------------------------------------------------------------ g
def case_g(fx: Fixture, report: Report) -> None:
    expected = fx.arrays("g_text_preprocess")
    csv_path = next(fx.path("inputs/meld_text").glob("*_sent_emo.csv"))
    dialogues = dialogues_from_csv(csv_path)
    tokens_json = fx.path("cases/g_text_tokens.json")
    recorded = json.loads(tokens_json.read_text()) if tokens_json.is_file() else {}
    truncation = fx.case_meta("g").get("truncation", {})
    ours = {}
    for column, kind in enumerate(TEXT_KINDS):
        tokenizer = load_tokenizer(fx.text_model_path(kind))
        encoded = {dia: tokenise_dialogue([t for _, t in utts], tokenizer, kind) for dia, utts in dialogues.items()}
        for field_name in ("input_ids", "input_mask", "sep_mask"):
            ours[f"{kind}_{field_name}"] = np.array([getattr(e, field_name) for e in encoded.values()], dtype=np.int64)
        if truncation:
            flags = [int(encoded[int(d)].truncated) for d in truncation]
            report.compare(f"g/{kind}_truncated {list(truncation)}", np.array(flags),
                           np.array([int(v[column]) for v in truncation.values()]))
        if recorded.get("dialogues"):
            texts = {name: text for utts in dialogues.values() for name, text in utts}
            mismatches = sum(tokenizer.tokenize(texts[u["utt"]]) != u[f"{kind}_tokens"]
                             for d in recorded["dialogues"] for u in d["utterances"])
            report.compare(f"g/{kind}_tokens (mismatching utterances of g_text_tokens.json)", np.array(mismatches),
                           np.array(0))
    compare_all(report, "g", ours, expected)


# ------------------------------------------------------------------------------------------ h
def full_size_state_dicts() -> dict[str, dict[str, list]]:
    """Key -> shape of our full-size models (built on the meta device: no memory, no weights)."""
    from transformers import BertConfig, RobertaConfig

    from .text_encoder import build_text_model

    placeholder = {v: k for k, v in LENGTH_PLACEHOLDERS.items()}
    args = MarioArgs(get_audio_utt_max_lens=LENGTH_PLACEHOLDERS["A_MAX"],
                     get_vision_utt_max_lens=LENGTH_PLACEHOLDERS["V_MAX"])
    shapes = lambda m: {k: [placeholder.get(d, d) for d in v.shape] for k, v in m.state_dict().items()}  # noqa: E731
    with torch.device("meta"):
        models = {"SwinForAffwildClassification": SwinForAffwildClassification(args, SwinConfig()),
                  "meld_utt_transformer": meld_utt_transformer(args)}
        for kind, config_class in (("roberta", RobertaConfig), ("bert", BertConfig)):
            text_model = build_text_model(config_class(**FULL_TEXT_CONFIGS[kind]))
            models[f"MultiModalTransformerForClassification[{kind}-large]"] = \
                MultiModalTransformerForClassification(args, text_model=text_model)
    return {name: shapes(model) for name, model in models.items()}


def case_h(fx: Fixture, report: Report) -> None:
    expected = json.loads(fx.path("state_dict_keys_full.json").read_text())
    ours = full_size_state_dicts()
    for name, keys in expected.items():
        mine = ours.get(name)
        if mine is None:
            report.fail(f"h/{name}", "model not built")
            continue
        missing, extra = set(keys) - set(mine), set(mine) - set(keys)
        wrong = [k for k in set(keys) & set(mine) if list(keys[k]) != list(mine[k])]
        note = "; ".join(f"{label}: {sorted(s)[:3]}" for label, s in
                         (("missing", missing), ("unexpected", extra), ("shape", wrong)) if s)
        report.compare(f"h/{name} ({len(keys)} keys: missing+unexpected+shape)",
                       np.array(len(missing) + len(extra) + len(wrong)), np.array(0))
        if note:
            report.lines[-1].note = note
            print(f"    {note}")


CASES = {"a": case_a, "b": case_b, "c": case_c, "d": case_d, "e": case_e, "f": case_f, "g": case_g, "h": case_h}
