"""Stage Two inputs (rules/features.smk): utterance-level features and FacialMMT's own data files.

Per batch of dialogues (like the per-clip stages of Stage One):

* `vision_features`: InceptionResnetV1 (facenet-pytorch, e.g. CASIA-WebFace weights from a local
  state-dict) -> one 512-d vector for every face crop of the utterance's real-speaker sequence;
* `audio_features`: wav2vec 2.0 (`transformers.Wav2Vec2Model` from a local Hugging Face folder) -> the
  last hidden states (T x hidden) of the utterance's 16 kHz audio.

Each writes `features.npz` (utterance name -> float32 (n, dim)) and `features.tsv` (utterance, status,
length, reason) into its batch folder; a bad crop or wav fails only its utterance (status `failed`, zero
length). Then, per split, `write_facialmmt_split` pads everything to the common lengths L_v / L_a
(`padded_length`: mean + 3 std, paper 3.3) and writes FacialMMT's files under `preprocess_data/`.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facseq import meld
from facseq.tables import failure_reason, read_tsv, write_tsv

log = logging.getLogger("facseq")

# FacialMMT's label ids (its utils/dataset.py): the position in this tuple.
EMOTIONS = ("neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger")
FEATURE_COLUMNS = ["utterance", "status", "length", "reason"]
AUDIO_RATE = 16000


class FeatureError(ValueError):
    """Unusable Stage-Two input; the message names the file or config key."""


@dataclass(frozen=True)
class Annotation:
    """One CSV row as Stage Two needs it."""

    name: str  # dia{D}_utt{U}
    text: str  # the `Utterance` column
    label: int  # index in EMOTIONS


# ----------------------------------------------------------------------------------- annotations
def read_annotations(annotations: str | Path, split: str) -> list[Annotation]:
    """Utterance text and emotion label of every row, in CSV order (= FacialMMT's utterance index)."""
    utterances = meld.read_utterances(annotations, split)  # validates layout, ids and duplicates
    path = meld.annotation_path(annotations, split)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    missing = [c for c in ("Utterance", "Emotion") if c not in rows[0]] if rows else []
    if missing:
        raise meld.AnnotationError(f"{path}: missing column(s) {', '.join(missing)}")
    out = []
    for line, (utt, row) in enumerate(zip(utterances, rows), start=2):
        emotion = (row["Emotion"] or "").strip().lower()
        if emotion not in EMOTIONS:
            raise meld.AnnotationError(f"{path}: line {line}: unknown Emotion {row['Emotion']!r} (one of {', '.join(EMOTIONS)})")
        out.append(Annotation(utt.name, row["Utterance"] or "", EMOTIONS.index(emotion)))
    return out


def text_json(annotations: list[Annotation]) -> dict[str, dict[str, list[str]]]:
    """FacialMMT's `{name}_text.json`: `{"dia{D}_utt{U}": {"txt": [utterance]}}`."""
    return {a.name: {"txt": [a.text]} for a in annotations}


# ----------------------------------------------------------------------------------- feature store
def write_features(out_dir: str | Path, features: dict[str, np.ndarray], rows: list[dict]) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez(out_dir / "features.npz", **{k: v.astype(np.float32) for k, v in features.items()})
    write_tsv(out_dir / "features.tsv", rows, FEATURE_COLUMNS)


def read_features(batch_dirs: list[str | Path]) -> dict[str, np.ndarray]:
    """Utterance name -> (n, dim) features over the batch folders of one split."""
    features = {}
    for batch_dir in batch_dirs:
        with np.load(Path(batch_dir) / "features.npz") as store:
            features.update({name: store[name] for name in store.files})
    return features


def feature_lengths(batch_dirs: list[str | Path]) -> list[int]:
    """Sequence length of every utterance with features (length > 0), from the batches' tables."""
    return [int(r["length"]) for d in batch_dirs for r in read_tsv(Path(d) / "features.tsv") if int(r["length"]) > 0]


def _row(name: str, status: str, length: int = 0, reason: str = "") -> dict:
    return {"utterance": name, "status": status, "length": length, "reason": reason}


# ----------------------------------------------------------------------------------- vision
def vision_features(names: list[str], sequences_json: str | Path, out_dir: str | Path, weights: str | Path,
                    device: str = "cpu", max_faces: int | None = None) -> list[dict]:
    """InceptionResnetV1 embedding (512-d, L2-normalised as facenet-pytorch returns it; RGB crops with
    facenet-pytorch's fixed standardisation) of every crop of each utterance's face sequence, in sequence
    order; with `max_faces` (a fixed L_v, `stage_two.max_lengths.vision`) only the first crops that the
    padded files keep. An unreadable crop fails its whole utterance, so features and crop list never
    disagree."""
    from PIL import Image

    from facseq.embed import FacenetEmbedder

    if not Path(weights or "").is_file():
        raise FeatureError(f"{weights}: InceptionResnetV1 state dict not found (config key stage_two.vision_weights)")
    sequences = json.loads(Path(sequences_json).read_text(encoding="utf-8"))
    embedder = FacenetEmbedder(weights, device)
    features, rows = {}, []
    for name in names:
        paths = sequences.get(name, [])[:max_faces]
        try:
            crops = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
            features[name] = embedder.embed(crops) if crops else np.zeros((0, embedder.dim), np.float32)
            rows.append(_row(name, "ok" if crops else "empty", len(crops), "" if crops else "no face sequence"))
        except Exception as err:  # noqa: BLE001 - recorded, the other utterances go on
            log.exception("%s: vision features failed", name)
            features[name] = np.zeros((0, embedder.dim), np.float32)
            rows.append(_row(name, "failed", 0, failure_reason(err)))
    write_features(out_dir, features, rows)
    return rows


# ----------------------------------------------------------------------------------- audio
class Wav2Vec2Encoder:
    """wav2vec 2.0 from a local Hugging Face folder (config, weights, preprocessor_config.json)."""

    def __init__(self, model_dir: str | Path, device: str = "cpu"):
        import torch
        from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

        from facseq.faces import pick_device

        model_dir = Path(model_dir or "")
        if not (model_dir / "config.json").is_file():
            raise FeatureError(f"{model_dir}: not a Hugging Face wav2vec 2.0 folder (config key stage_two.audio_model)")
        if not (model_dir / "preprocessor_config.json").is_file():
            raise FeatureError(f"{model_dir}: preprocessor_config.json missing (config key stage_two.audio_model)")
        self.device = pick_device(device)
        self.extractor = Wav2Vec2FeatureExtractor.from_pretrained(str(model_dir))
        self.model = Wav2Vec2Model.from_pretrained(str(model_dir)).eval().to(self.device)
        self.dim = self.model.config.hidden_size
        self._torch = torch

    def encode(self, samples: np.ndarray) -> np.ndarray:
        """(n_samples,) float32 at 16 kHz -> (T, hidden): one utterance at a time, unpadded (wav2vec2-base
        was trained without attention masks, so padding a batch would change its outputs)."""
        inputs = self.extractor(samples, sampling_rate=AUDIO_RATE, return_tensors="pt")
        with self._torch.inference_mode():
            hidden = self.model(inputs.input_values.to(self.device)).last_hidden_state  # (1, T, hidden)
        return hidden[0].float().cpu().numpy()


def audio_features(names: list[str], audio_dir: str | Path, out_dir: str | Path, model_dir: str | Path,
                   device: str = "cpu") -> list[dict]:
    """wav2vec 2.0 last hidden states of each utterance's `audio_dir/{name}.wav` (Stage One's 16 kHz mono
    extraction); a clip without audio gets zero length (status `empty`)."""
    from facseq.media import read_wav

    encoder = Wav2Vec2Encoder(model_dir, device)
    features, rows = {}, []
    for name in names:
        wav = Path(audio_dir) / f"{name}.wav"
        features[name] = np.zeros((0, encoder.dim), np.float32)
        if not wav.is_file():
            rows.append(_row(name, "empty", 0, "no audio (clip missing, unreadable or without an audio stream)"))
            continue
        try:
            samples, rate = read_wav(wav)
            if rate != AUDIO_RATE:
                raise FeatureError(f"{wav}: {rate} Hz, wav2vec 2.0 needs {AUDIO_RATE} Hz")
            features[name] = encoder.encode(samples)
            rows.append(_row(name, "ok", len(features[name])))
        except Exception as err:  # noqa: BLE001 - recorded, the other utterances go on
            log.exception("%s: audio features failed", name)
            rows.append(_row(name, "failed", 0, failure_reason(err)))
    write_features(out_dir, features, rows)
    return rows


# ----------------------------------------------------------------------------------- padding
def padded_length(lengths: list[int]) -> int:
    """Paper 3.3: the maximum length is the mean plus three standard deviations of the sequence lengths
    (population std), rounded up, never above the longest sequence (more would be padding only), at least 1.
    Lengths 0 (no faces / no audio) are not sequences and are left out."""
    lengths = np.asarray([n for n in lengths if n > 0], dtype=np.float64)
    if lengths.size == 0:
        return 1
    return int(max(1, min(math.ceil(lengths.mean() + 3 * lengths.std()), lengths.max())))


def pad_sequences(sequences: list[np.ndarray], length: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, length, dim) float32 features and (n, length) float32 mask (1 = real, 0 = pad); longer sequences
    keep their first `length` steps, empty ones are all padding."""
    values = np.zeros((len(sequences), length, dim), dtype=np.float32)
    mask = np.zeros((len(sequences), length), dtype=np.float32)
    for i, seq in enumerate(sequences):
        n = min(len(seq), length)
        if n:
            if seq.shape[1] != dim:
                raise FeatureError(f"feature width {seq.shape[1]} != {dim} (features from different models?)")
            values[i, :n] = seq[:n]
            mask[i, :n] = 1.0
    return values, mask


def max_lengths(vision_dirs: list[str | Path], audio_dirs: list[str | Path], vision_override: int | None = None,
                audio_override: int | None = None) -> dict:
    """L_v and L_a over the given batches (all configured splits, so that every split has the shape the
    model's position tables are built for), with the statistics behind them; an override (e.g. the length
    a released checkpoint was trained with) wins."""
    out = {}
    for modality, dirs, override in (("vision", vision_dirs, vision_override), ("audio", audio_dirs, audio_override)):
        lengths = feature_lengths(dirs)
        computed = padded_length(lengths)
        out[modality] = {"n": len(lengths), "mean": float(np.mean(lengths)) if lengths else 0.0,
                         "std": float(np.std(lengths)) if lengths else 0.0, "max": max(lengths, default=0),
                         "computed": computed, "length": int(override) if override else computed,
                         "override": bool(override)}
    return out


# ----------------------------------------------------------------------------------- FacialMMT files
def facialmmt_paths(root: str | Path, name: str) -> dict[str, Path]:
    """Where FacialMMT's `main.py --data_load_path ROOT` looks for the files of split `name`."""
    root = Path(root)
    tav, v = root / "T+A+V", root / "V"
    return {
        "vision": tav / f"meld_{name}_vision_utt.pkl",
        "audio": tav / f"meld_{name}_audio_utt.pkl",
        "profile": tav / f"{name}_utt_profile.json",
        "sequences": tav / f"{name}_facseqs_160_paths_final.json",
        "text": tav / f"{name}_text.json",
        "csv": tav / f"{name}_sent_emo.csv",
        "vision_only": v / f"meld_{name}_vision_utt.pkl",
    }


def _dump_pickle(path: Path, payload) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        pickle.dump(payload, handle, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)


def _dump_json(path: Path, payload) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def write_facialmmt_split(name: str, annotations: list[Annotation], profile_json: str | Path,
                          sequences_json: str | Path, vision: dict[str, np.ndarray], audio: dict[str, np.ndarray],
                          lengths: dict, annotation_csv: str | Path, out_root: str | Path) -> dict[str, Path]:
    """FacialMMT's data files of one split, rows in CSV order (the utt_profile index):

    * `T+A+V/meld_{name}_vision_utt.pkl` and `V/...`: `{name: {"vision": (n, L_v, 512), "vision_utt_mask":
      (n, L_v), "labels": (n,) int64}}`; `T+A+V/meld_{name}_audio_utt.pkl`: `{name: {"audio": (n, L_a, dim),
      "audio_utt_mask": (n, L_a)}}` (float32, masks 1 = real, 0 = pad);
    * `{name}_utt_profile.json` (Stage One's), `{name}_facseqs_160_paths_final.json` holding exactly the
      crops behind the vision rows (the first L_v of the sequence; none where features failed), so that
      FacialMMT's face images and feature rows line up;
    * `{name}_text.json` and `{name}_sent_emo.csv` (the split's CSV under FacialMMT's name, `dev` -> `val`).
    """
    paths = facialmmt_paths(out_root, name)
    profile = json.loads(Path(profile_json).read_text(encoding="utf-8"))
    order = [profile[str(i)][0] for i in range(len(profile))]
    if order != [a.name for a in annotations]:
        raise FeatureError(f"{profile_json}: utterances differ from the annotation CSV {annotation_csv} (rerun Stage One)")
    sequences = json.loads(Path(sequences_json).read_text(encoding="utf-8"))
    l_v, l_a = lengths["vision"]["length"], lengths["audio"]["length"]
    vision_dim = next((v.shape[1] for v in vision.values()), 512)
    audio_dim = next((a.shape[1] for a in audio.values()), 768)
    missing = [n for n in order if n not in vision or n not in audio]
    if missing:
        raise FeatureError(f"split {name}: no features for {missing[:5]} (feature batches incomplete)")
    vision_values, vision_mask = pad_sequences([vision[n] for n in order], l_v, vision_dim)
    audio_values, audio_mask = pad_sequences([audio[n] for n in order], l_a, audio_dim)
    labels = np.asarray([a.label for a in annotations], dtype=np.int64)
    vision_payload = {name: {"vision": vision_values, "vision_utt_mask": vision_mask, "labels": labels}}
    _dump_pickle(paths["vision"], vision_payload)
    _dump_pickle(paths["vision_only"], vision_payload)
    _dump_pickle(paths["audio"], {name: {"audio": audio_values, "audio_utt_mask": audio_mask}})
    kept = {n: sequences.get(n, [])[: min(len(vision[n]), l_v)] for n in order}
    _dump_json(paths["sequences"], kept)
    _dump_json(paths["profile"], profile)
    _dump_json(paths["text"], text_json(annotations))
    shutil.copyfile(annotation_csv, paths["csv"])
    return paths
