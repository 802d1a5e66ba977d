"""MARIO's datasets: MELD utterances read back from FacialMMT's data files (as its `utils/dataset.py` reads
them), and Aff-Wild2 face frames for the auxiliary DFER task.

    dataset = MermcDataset(preprocess_data_root, "train", tokenizer, train=True)
    loader = DataLoader(dataset, batch_size=1, shuffle=True, collate_fn=collate_utterances)
    batch = next(iter(loader))   # a facseq.mario.steps.MermcBatch: text_input_ids (B, 512) ... face_images

    faces = DferDataset(affwild2_samples("/data/Aff-Wild2"), train=True)   # (image (3, 224, 224), label)

Rows are the utt_profile's: row i of the pickles is utterance `profile[str(i)]`, its text is its dialogue's
tokenisation (`facseq.mario.text`, from `{name}_sent_emo.csv`), its face images are the crops listed in
`{name}_facseqs_160_paths_final.json` (exactly the ones behind its vision rows, `facseq.features`), read
with the reference's preprocessing (`facseq.mario.preprocess`).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from facseq.features import facialmmt_paths
from facseq.mario.preprocess import load_face_batch, load_face_image
from facseq.mario.steps import MermcBatch
from facseq.mario.text import tokenise_csv

# Aff-Wild2 EXPR labels (Neutral, Anger, Disgust, Fear, Happiness, Sadness, Surprise, Other) -> MELD ids
# (neutral 0, surprise 1, fear 2, sadness 3, joy 4, disgust 5, anger 6); Other (7) and -1 are left out.
AFFWILD2_TO_MELD = {0: 0, 1: 6, 2: 5, 3: 2, 4: 4, 5: 3, 6: 1}
AFFWILD2_ANNOTATIONS = Path("Annotations") / "EXPR_Classification_Challenge"
AFFWILD2_IMAGES = "cropped_aligned"


class MarioDataError(ValueError):
    """Unusable training data; the message names the file or config key."""


def _load_pickle(path: Path, name: str, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise MarioDataError(f"{path}: FacialMMT data file not found (rule facialmmt_data)")
    with open(path, "rb") as handle:
        payload = pickle.load(handle)
    if name not in payload or any(k not in payload[name] for k in keys):
        raise MarioDataError(f"{path}: expected {{{name!r}: {{{', '.join(keys)}}}}}")
    return payload[name]


class MermcDataset(Dataset):
    """One MELD split as FacialMMT's multimodal loader sees it."""

    def __init__(self, root: str | Path, name: str, tokenizer, train: bool = False):
        paths = facialmmt_paths(root, name)
        vision = _load_pickle(paths["vision"], name, ("vision", "vision_utt_mask", "labels"))
        audio = _load_pickle(paths["audio"], name, ("audio", "audio_utt_mask"))
        self.profile = json.loads(paths["profile"].read_text(encoding="utf-8"))
        self.sequences = json.loads(paths["sequences"].read_text(encoding="utf-8"))
        self.dialogues = tokenise_csv(paths["csv"], tokenizer)
        self.vision = torch.from_numpy(vision["vision"])  # (n, L_v, 512)
        self.vision_mask = torch.from_numpy(vision["vision_utt_mask"])  # (n, L_v)
        self.labels = torch.from_numpy(vision["labels"])  # (n,)
        self.audio = torch.from_numpy(audio["audio"])  # (n, L_a, D_a)
        self.audio_mask = torch.from_numpy(audio["audio_utt_mask"])  # (n, L_a)
        self.train = train
        if not (len(self.profile) == len(self.vision) == len(self.audio)):
            raise MarioDataError(f"{paths['profile']}: {len(self.profile)} utterances but {len(self.vision)} vision "
                                 f"and {len(self.audio)} audio rows")

    def __len__(self) -> int:
        return len(self.profile)

    @property
    def names(self) -> list[str]:
        return [self.profile[str(i)][0] for i in range(len(self))]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        """The reference dataset's item, in `MermcBatch` field order."""
        utt_name, dia_name, _, _, utt_in_dia = self.profile[str(index)]
        tokens = self.dialogues[int(dia_name.removeprefix("dia"))]
        max_faces = self.vision.shape[1]
        # As the reference: only the first L_v faces (a folder not written by us may list more).
        paths = self.sequences.get(utt_name, [])[:max_faces]
        images = load_face_batch(paths, train=self.train)  # (n, 3, 224, 224)
        face_images = images.new_zeros((max_faces, *images.shape[1:]))  # (L_v, 3, 224, 224)
        face_images[: len(images)] = images
        return (
            torch.tensor(tokens.input_ids),  # (512,) the whole dialogue
            torch.tensor(tokens.input_mask),
            torch.tensor(tokens.sep_mask),
            self.audio[index],  # (L_a, D_a)
            self.audio_mask[index],
            self.vision[index],  # (L_v, 512)
            self.vision_mask[index],
            self.labels[index],
            face_images,
            torch.tensor(len(images)),
            torch.tensor(utt_in_dia),
        )


def collate_utterances(items: list[tuple[torch.Tensor, ...]]) -> MermcBatch:
    """Stack the items of a batch (face crops zero-padded to L_v per utterance, counts in vis_num_imgs)."""
    return MermcBatch(*(torch.stack(column) for column in zip(*items)))


# ----------------------------------------------------------------------------------- Aff-Wild2
def affwild2_samples(root: str | Path, subset: str = "Train_Set") -> list[tuple[Path, int]]:
    """(frame image, MELD label) of every annotated frame of the ABAW release layout:
    `Annotations/EXPR_Classification_Challenge/{subset}/{video}.txt` (a header line, then one label per
    frame, -1 = not annotated) and `cropped_aligned/{video}/{frame:05d}.jpg`. Frames labelled Other or
    without an image (frames where no face was aligned) are left out, as in the paper."""
    root = Path(root)
    annotations = root / AFFWILD2_ANNOTATIONS / subset
    if not annotations.is_dir():
        raise MarioDataError(f"{annotations}: not found (config key stage_two.affwild2 must hold the ABAW layout)")
    samples = []
    for label_file in sorted(annotations.glob("*.txt")):
        lines = label_file.read_text().split()[1:]
        frames = root / AFFWILD2_IMAGES / label_file.stem
        for frame, value in enumerate(lines, start=1):
            label = AFFWILD2_TO_MELD.get(int(value))
            image = frames / f"{frame:05d}.jpg"
            if label is not None and image.is_file():
                samples.append((image, label))
    if not samples:
        raise MarioDataError(f"{annotations}: no annotated frame with an image (config key stage_two.affwild2)")
    return samples


class DferDataset(Dataset):
    """Aff-Wild2 frames for the DFER task, read like the reference (BGR as RGB, colour jitter in training)."""

    def __init__(self, samples: list[tuple[Path, int]], train: bool = True):
        self.samples = samples
        self.train = train

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        path, label = self.samples[index]
        return load_face_image(path, train=self.train), torch.tensor(label)
