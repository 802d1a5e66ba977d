"""MARIO training and evaluation throughput (utterances/s) on synthetic MELD-shaped data.

    python benchmarks/mario_throughput.py                 # tiny configuration (CPU), ~1 min
    python benchmarks/mario_throughput.py --paper         # the paper's sizes (roberta-large-sized text model,
                                                          # Swin-tiny, hidden 768), on the GPU when present

Everything is random and built here (no download): a text model + tokenizer folder, FacialMMT data files for
`--utterances` utterances (dialogues of 4), face crops; then one MERMC epoch of `facseq.mario.train` and one
evaluation pass of `facseq.mario.evaluate`, timed. `build_tiny_models` is also what the Stage-Two workflow
test uses to make its tiny random models.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

TINY_MODEL = {"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64, "audio_utt_Transformernum": 1,
              "vision_utt_Transformernum": 1, "crossmodal_layers_TA": 1, "crossmodal_num_heads_TA": 2,
              "crossmodal_layers_TA_V": 1, "crossmodal_num_heads_TA_V": 2}
TINY_SWIN = {"embed_dim": 12, "depths": [2, 2, 2, 2], "num_heads": [3, 6, 12, 24], "drop_path_rate": 0.0}
TINY_TEXT = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
             "max_position_embeddings": 520, "type_vocab_size": 1, "pad_token_id": 1, "bos_token_id": 0,
             "eos_token_id": 2, "vocab_size": 300}
# strides 5 x 8 x 8 = 320 samples: 50 frames per second of 16 kHz audio, as wav2vec2-base
TINY_WAV2VEC2 = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
                 "conv_dim": (8, 8, 8), "conv_kernel": (10, 8, 4), "conv_stride": (5, 8, 8),
                 "num_feat_extract_layers": 3, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2}
WORDS = ("oh my god he is lost it what are you doing here I will be right there keep going nobody can hear me "
         "the microphone is off but I am talking houston we are ready for the next burn").split()


def build_text_model(folder: Path, texts: list[str], config: dict | None = None, seed: int = 0) -> Path:
    """A random RoBERTa (`folder/roberta-large`, the name FacialMMT's code needs) with a byte-level BPE
    tokenizer trained on `texts`."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizer

    config = {**TINY_TEXT, **(config or {})}
    out = folder / "roberta-large"
    out.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=config["vocab_size"], min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(str(out))
    RobertaTokenizer(str(out / "vocab.json"), str(out / "merges.txt")).save_pretrained(str(out))
    torch.manual_seed(seed)
    RobertaModel(RobertaConfig(**config), add_pooling_layer=True).save_pretrained(str(out))
    return out


def build_tiny_models(folder: str | Path, texts: list[str], seed: int = 0) -> dict[str, str]:
    """Tiny random models for every Stage-Two path key: text model, wav2vec 2.0 folder, InceptionResnetV1
    state dict. Returns the `stage_two` config entries."""
    import torch
    from facenet_pytorch import InceptionResnetV1
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    folder = Path(folder)
    text = build_text_model(folder, texts, seed=seed)
    torch.manual_seed(seed)
    wav2vec2 = folder / "wav2vec2-tiny"
    Wav2Vec2Model(Wav2Vec2Config(**TINY_WAV2VEC2)).save_pretrained(str(wav2vec2))
    Wav2Vec2FeatureExtractor().save_pretrained(str(wav2vec2))
    inception = folder / "inception_resnet_v1_random.pt"
    torch.save(InceptionResnetV1(pretrained=None, classify=False).state_dict(), inception)
    return {"text_model": str(text), "audio_model": str(wav2vec2), "vision_weights": str(inception)}


def synthetic_split(root: Path, name: str, n_utterances: int, lengths: dict, vision_dim: int, audio_dim: int,
                    faces_dir: Path, seed: int = 0) -> None:
    """FacialMMT data files of a random split (dialogues of 4 utterances, 1-L_v faces each)."""
    from PIL import Image

    from facseq import features, meld

    rng = np.random.default_rng(seed)
    csv_dir = root / "csv"
    csv_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_utterances):
        text = " ".join(rng.choice(WORDS, size=int(rng.integers(3, 15))))
        rows.append(f'{i + 1},"{text}",Joey,{features.EMOTIONS[i % 7]},neutral,{i // 4},{i % 4},1,1,'
                    '"00:00:01,000","00:00:02,000"\n')
    csv_path = csv_dir / "dev_sent_emo.csv"
    csv_path.write_text("Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,"
                        "StartTime,EndTime\n" + "".join(rows), encoding="utf-8")
    faces_dir.mkdir(parents=True, exist_ok=True)
    pool = []
    for k in range(8):
        pool.append(faces_dir / f"face_{k}.jpg")
        Image.fromarray(rng.integers(0, 255, (160, 160, 3), dtype=np.uint8)).save(pool[-1])
    annotations = features.read_annotations(csv_dir, "dev")
    profile = root / f"{name}_profile.json"
    profile.write_text(json.dumps(meld.utterance_profile(meld.read_utterances(csv_dir, "dev"))))
    n_faces = {a.name: int(rng.integers(1, lengths["vision"]["length"] + 1)) for a in annotations}
    sequences = root / f"{name}_sequences.json"
    sequences.write_text(json.dumps({n: [str(pool[j % len(pool)]) for j in range(k)] for n, k in n_faces.items()}))
    vision = {n: rng.normal(size=(k, vision_dim)).astype(np.float32) for n, k in n_faces.items()}
    audio = {a.name: rng.normal(size=(int(rng.integers(5, lengths["audio"]["length"] + 1)), audio_dim))
             .astype(np.float32) for a in annotations}
    features.write_facialmmt_split(name, annotations, profile, sequences, vision, audio, lengths, csv_path,
                                   root / "preprocess_data")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paper", action="store_true", help="the paper's model sizes (slow on CPU)")
    parser.add_argument("--utterances", type=int, default=32)
    parser.add_argument("--workdir", default="/tmp/facseq_mario_benchmark")
    args = parser.parse_args(argv)

    import torch

    from facseq.mario import evaluate, train

    work = Path(args.workdir)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.paper:
        lengths = {"vision": {"length": 42}, "audio": {"length": 600}}  # about MELD's mean + 3 std
        model, swin, dims = {}, {}, (512, 768)
        text_config = {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
                       "intermediate_size": 4096, "max_position_embeddings": 514, "vocab_size": 1000}
    else:
        lengths = {"vision": {"length": 12}, "audio": {"length": 40}}
        model, swin, dims, text_config = TINY_MODEL, TINY_SWIN, (24, 16), None
    synthetic_split(work, "train", args.utterances, lengths, *dims, work / "faces")
    text = build_text_model(work / "models", [" ".join(WORDS)] * 4, text_config)
    settings = train.RunSettings(data_root=str(work / "preprocess_data"), train_name="train", dev_name="train",
                                 text_model=str(text), model=model, swin=swin,
                                 training={"num_epochs": 1, "trg_accumulation_steps": 4}, device=device)
    start = time.perf_counter()
    result = train.train_mario(settings, work / "out")
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    evaluate.evaluate_mario(work / "out" / "run.json", work / "out" / "checkpoints" / "best_swin.pt",
                            work / "out" / "checkpoints" / "best_multimodal.pt", str(work / "preprocess_data"),
                            ["train"], work / "out" / "evaluation", device=device)
    eval_s = time.perf_counter() - start
    n = args.utterances
    print(f"configuration: {'paper sizes' if args.paper else 'tiny'}, device {device}, {n} utterances, "
          f"L_v {lengths['vision']['length']}, L_a {lengths['audio']['length']}, torch threads {torch.get_num_threads()}")
    # the training epoch includes the dev pass that picks the checkpoint (here the same utterances)
    print(f"training (one MERMC epoch + its dev pass): {train_s:.1f} s, {n / train_s:.2f} utterances/s "
          f"(MERMC steps: {result['optimizer_steps']})")
    print(f"evaluation: {eval_s:.1f} s, {n / eval_s:.2f} utterances/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
