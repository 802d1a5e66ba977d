"""Stage-Two inputs (facseq.features): padded lengths, padding/masks, the feature stages on tiny random
models, and FacialMMT's data files read back the way its loader reads them (pickle, json, utt_profile)."""

from __future__ import annotations

import json
import pickle
import wave

import numpy as np
import pytest

from facseq import features, meld

CSV_HEADER = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"
ROWS = [  # (dialogue, utterance, emotion, text); dialogue 3 comes before dialogue 1 in the CSV
    (3, 0, "joy", "Hello there."),
    (3, 1, "anger", "Go away, “now”."),
    (1, 0, "neutral", "Hi."),
    (1, 1, "disgust", "Ew."),
    (1, 2, "Surprise", "What?"),
]


def write_csv(folder, rows=ROWS, split_file="dev_sent_emo.csv"):
    lines = [f'{i + 1},"{text}",Joey,{emotion},neutral,{d},{u},1,1,"00:00:01,000","00:00:02,000"\n'
             for i, (d, u, emotion, text) in enumerate(rows)]
    (folder / split_file).write_text(CSV_HEADER + "".join(lines), encoding="utf-8")
    return folder / split_file


# ------------------------------------------------------------------------------ lengths and padding
def test_padded_length_is_mean_plus_three_std_rounded_up():
    # 98 x 1 and 2 x 100: mean 2.98, population std 13.860, mean + 3 std = 44.56 -> 45 (below the max 100)
    assert features.padded_length([1] * 98 + [100] * 2) == 45
    # empty sequences are not sequences: zeros change nothing
    assert features.padded_length([0] * 50 + [1] * 98 + [100] * 2) == 45


def test_padded_length_never_exceeds_the_longest_and_is_at_least_one():
    assert features.padded_length([1, 2, 3, 4, 50]) == 50  # mean + 3 std = 69.1
    assert features.padded_length([7, 7, 7]) == 7
    assert features.padded_length([]) == 1 and features.padded_length([0, 0]) == 1


def test_pad_sequences_masks_and_truncates():
    seqs = [np.ones((5, 3)), np.zeros((0, 3)), np.arange(6, dtype=np.float32).reshape(2, 3)]
    values, mask = features.pad_sequences(seqs, 4, 3)
    assert values.shape == (3, 4, 3) and values.dtype == np.float32 and mask.dtype == np.float32
    assert mask.tolist() == [[1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 0, 0]]
    assert np.all(values[0] == 1) and np.all(values[1] == 0)
    assert values[2, :2].tolist() == [[0, 1, 2], [3, 4, 5]] and np.all(values[2, 2:] == 0)
    with pytest.raises(features.FeatureError, match="width"):
        features.pad_sequences([np.ones((2, 5))], 4, 3)


def test_max_lengths_over_batches_and_override(tmp_path):
    for batch, lengths in (("b0", [3, 0, 5]), ("b1", [4])):
        rows = [{"utterance": f"u{i}", "status": "ok", "length": n, "reason": ""} for i, n in enumerate(lengths)]
        features.write_features(tmp_path / batch, {f"u{i}": np.zeros((n, 2)) for i, n in enumerate(lengths)}, rows)
    dirs = [tmp_path / "b0", tmp_path / "b1"]
    lengths = features.max_lengths(dirs, dirs)
    assert lengths["vision"]["n"] == 3 and lengths["vision"]["max"] == 5
    assert lengths["vision"]["length"] == 5 and not lengths["vision"]["override"]  # 4 + 3 * 0.816 -> capped at 5
    overridden = features.max_lengths(dirs, dirs, vision_override=12)
    assert overridden["vision"]["length"] == 12 and overridden["vision"]["override"]
    assert overridden["vision"]["computed"] == 5  # what mean + 3 std would have given, kept for the record
    assert overridden["audio"]["length"] == 5
    assert sorted(features.read_features(dirs)) == ["u0", "u1", "u2"]


# ------------------------------------------------------------------------------ annotations
def test_read_annotations_labels_text_and_order(tmp_path):
    write_csv(tmp_path)
    annotations = features.read_annotations(tmp_path, "dev")
    assert [a.name for a in annotations] == ["dia3_utt0", "dia3_utt1", "dia1_utt0", "dia1_utt1", "dia1_utt2"]
    assert [a.label for a in annotations] == [4, 6, 0, 5, 1]  # joy, anger, neutral, disgust, surprise
    assert annotations[1].text == "Go away, “now”."
    assert features.text_json(annotations)["dia1_utt2"] == {"txt": ["What?"]}


def test_unknown_emotion_names_file_and_line(tmp_path):
    write_csv(tmp_path, ROWS[:2] + [(1, 0, "bored", "Hm.")])
    with pytest.raises(meld.AnnotationError, match=r"dev_sent_emo.csv: line 4: unknown Emotion 'bored'"):
        features.read_annotations(tmp_path, "dev")


# ------------------------------------------------------------------------------ FacialMMT's files
@pytest.fixture
def split_files(tmp_path):
    """A synthetic split: CSV, Stage One's profile and sequences, vision/audio features."""
    csv_path = write_csv(tmp_path)
    annotations = features.read_annotations(tmp_path, "dev")
    profile = tmp_path / "val_utt_profile.json"
    profile.write_text(json.dumps(meld.utterance_profile(meld.read_utterances(tmp_path, "dev"))))
    n_faces = {"dia3_utt0": 3, "dia3_utt1": 0, "dia1_utt0": 6, "dia1_utt1": 2, "dia1_utt2": 4}
    sequences = {name: [f"/crops/{name}/{i:06d}.jpg" for i in range(n)] for name, n in n_faces.items()}
    sequences_json = tmp_path / "val_facseqs_160_paths_final.json"
    sequences_json.write_text(json.dumps(sequences))
    rng = np.random.default_rng(0)
    vision = {name: rng.normal(size=(n, 512)).astype(np.float32) for name, n in n_faces.items()}
    vision["dia1_utt2"] = np.zeros((0, 512), np.float32)  # its features failed: no crops may be listed
    audio = {name: rng.normal(size=(10 + 7 * i, 16)).astype(np.float32) for i, name in enumerate(n_faces)}
    lengths = {"vision": {"length": 4}, "audio": {"length": 30}}
    return dict(name="val", annotations=annotations, profile_json=profile, sequences_json=sequences_json,
                vision=vision, audio=audio, lengths=lengths, annotation_csv=csv_path, out_root=tmp_path / "out")


def test_facialmmt_files_read_back_like_facialmmt(split_files):
    paths = features.write_facialmmt_split(**split_files)
    root = split_files["out_root"]
    assert paths["vision"] == root / "T+A+V" / "meld_val_vision_utt.pkl"
    # FacialMMT's loader: pickle.load, then [name][key], rows indexed by the utt_profile's row number
    with open(root / "T+A+V" / "meld_val_vision_utt.pkl", "rb") as f:
        vision = pickle.load(f)
    with open(root / "T+A+V" / "meld_val_audio_utt.pkl", "rb") as f:
        audio = pickle.load(f)
    with open(root / "V" / "meld_val_vision_utt.pkl", "rb") as f:
        vision_only = pickle.load(f)
    profile = json.loads((root / "T+A+V" / "val_utt_profile.json").read_text())
    sequences = json.loads((root / "T+A+V" / "val_facseqs_160_paths_final.json").read_text())
    text = json.loads((root / "T+A+V" / "val_text.json").read_text(encoding="utf-8"))
    assert set(vision) == {"val"} and set(vision["val"]) == {"vision", "vision_utt_mask", "labels"}
    assert set(audio["val"]) == {"audio", "audio_utt_mask"}
    v, vm, labels = vision["val"]["vision"], vision["val"]["vision_utt_mask"], vision["val"]["labels"]
    a, am = audio["val"]["audio"], audio["val"]["audio_utt_mask"]
    assert v.shape == (5, 4, 512) and v.dtype == np.float32 and vm.shape == (5, 4) and vm.dtype == np.float32
    assert a.shape == (5, 30, 16) and a.dtype == np.float32 and am.shape == (5, 30)
    assert labels.dtype == np.int64 and labels.tolist() == [4, 6, 0, 5, 1]
    for key in ("vision", "vision_utt_mask", "labels"):
        assert np.array_equal(vision_only["val"][key], vision["val"][key])
    source_vision, source_audio = split_files["vision"], split_files["audio"]
    for row in range(len(profile)):
        name, dia_name, dia_idx, dia_len, utt_in_dia = profile[str(row)]
        n_v = min(len(source_vision[name]), 4)
        assert vm[row].sum() == n_v and np.array_equal(v[row, :n_v], source_vision[name][:n_v])
        n_a = min(len(source_audio[name]), 30)
        assert am[row].sum() == n_a and np.array_equal(a[row, :n_a], source_audio[name][:n_a])
        # the face list behind each vision row: same crops, same order, same count
        assert sequences[name] == [f"/crops/{name}/{i:06d}.jpg" for i in range(n_v)]
        assert text[name]["txt"] == [split_files["annotations"][row].text]
    assert profile["0"][:3] == ["dia3_utt0", "dia3", 0] and profile["2"][:3] == ["dia1_utt0", "dia1", 1]
    assert (root / "T+A+V" / "val_sent_emo.csv").read_bytes() == split_files["annotation_csv"].read_bytes()


def test_facialmmt_files_refuse_a_stale_profile(split_files):
    profile = json.loads(split_files["profile_json"].read_text())
    profile["0"], profile["1"] = profile["1"], profile["0"]
    split_files["profile_json"].write_text(json.dumps(profile))
    with pytest.raises(features.FeatureError, match="val_utt_profile.json: utterances differ"):
        features.write_facialmmt_split(**split_files)


def test_facialmmt_files_refuse_missing_features(split_files):
    del split_files["audio"]["dia1_utt1"]
    with pytest.raises(features.FeatureError, match=r"no features for \['dia1_utt1'\]"):
        features.write_facialmmt_split(**split_files)


# ------------------------------------------------------------------------------ feature stages
def test_vision_features_tiny_random_inception(tmp_path):
    torch = pytest.importorskip("torch")
    from facenet_pytorch import InceptionResnetV1
    from PIL import Image

    torch.manual_seed(0)
    weights = tmp_path / "inception.pt"
    torch.save(InceptionResnetV1(pretrained=None, classify=False).state_dict(), weights)
    rng = np.random.default_rng(0)
    crops = []
    for i in range(3):
        crops.append(tmp_path / f"{i}.jpg")
        Image.fromarray(rng.integers(0, 255, (160, 160, 3), dtype=np.uint8)).save(crops[-1])
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    sequences = tmp_path / "seq.json"
    sequences.write_text(json.dumps({"a": [str(c) for c in crops], "b": [], "c": [str(crops[0]), str(tmp_path / "broken.jpg")]}))
    rows = features.vision_features(["a", "b", "c"], sequences, tmp_path / "out", weights, "cpu")
    assert [(r["status"], r["length"]) for r in rows] == [("ok", 3), ("empty", 0), ("failed", 0)]
    assert "broken.jpg" in rows[2]["reason"] or "cannot identify" in rows[2]["reason"]
    stored = features.read_features([tmp_path / "out"])
    assert stored["a"].shape == (3, 512) and stored["b"].shape == (0, 512) and stored["c"].shape == (0, 512)
    assert np.allclose(np.linalg.norm(stored["a"], axis=1), 1, atol=1e-5)  # facenet-pytorch L2-normalises
    capped = features.vision_features(["a"], sequences, tmp_path / "capped", weights, "cpu", max_faces=2)
    assert capped[0]["length"] == 2
    assert np.allclose(features.read_features([tmp_path / "capped"])["a"], stored["a"][:2], atol=1e-6)
    with pytest.raises(features.FeatureError, match="stage_two.vision_weights"):
        features.vision_features(["a"], sequences, tmp_path / "out2", tmp_path / "absent.pt")


def write_wav(path, seconds, rate=16000):
    samples = (np.sin(np.arange(int(seconds * rate)) * 0.05) * 8000).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.tobytes())


def test_audio_features_tiny_random_wav2vec2(tmp_path):
    pytest.importorskip("transformers")
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    model_dir = tmp_path / "wav2vec2-tiny"
    config = Wav2Vec2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                            conv_dim=(8, 8), conv_kernel=(10, 3), conv_stride=(5, 2), num_feat_extract_layers=2,
                            num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    Wav2Vec2Model(config).save_pretrained(model_dir)
    Wav2Vec2FeatureExtractor().save_pretrained(model_dir)
    audio = tmp_path / "audio"
    audio.mkdir()
    write_wav(audio / "a.wav", 1.0)
    write_wav(audio / "c.wav", 0.5, rate=8000)
    rows = features.audio_features(["a", "b", "c"], audio, tmp_path / "out", model_dir, "cpu")
    assert [r["status"] for r in rows] == ["ok", "empty", "failed"]
    assert "8000 Hz" in rows[2]["reason"]
    stored = features.read_features([tmp_path / "out"])
    # two convolutions (kernel 10 stride 5, kernel 3 stride 2): 16000 samples -> 3199 -> 1599 frames
    assert stored["a"].shape == (1599, 16) and stored["b"].shape == (0, 16)
    with pytest.raises(features.FeatureError, match="stage_two.audio_model"):
        features.audio_features(["a"], audio, tmp_path / "out2", tmp_path / "absent")
