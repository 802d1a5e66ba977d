import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import min_version, validate

min_version("9.0")

# The workflow's logic lives in the `facseq` package (src/); make it importable here too.
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from facseq import meld  # noqa: E402
from facseq.match import DEFAULT_MIN_SIMILARITY  # noqa: E402

validate(config, schema="../schemas/config.schema.yaml")

RESULTS = Path(config["results"])
WORK = RESULTS / "work"
LOGS = RESULTS / "logs"
BENCH = RESULTS / "benchmarks"


def load_batches():
    """split -> batch id -> list of {name, speaker, clip}: read once, when the DAG is built."""
    batches = {}
    for split in config["splits"]:
        try:
            utterances = meld.read_utterances(config["annotations"], split)
        except meld.AnnotationError as err:
            hint = ""
            if Path(config["annotations"]) == Path("resources/demo/meld"):
                hint = " -- the default config points at the demo data: create it with `make demo-data`"
            raise WorkflowError(f"{err}{hint}") from err
        grouped = meld.make_batches(utterances, config["dialogues_per_batch"])
        clip_dir = (
            Path(config["meld_root"]).resolve() / meld.SPLITS[split][0]
        )  # resolved once: 13,708 clips
        batches[split] = {
            batch: [
                {
                    "name": u.name,
                    "speaker": u.speaker,
                    "clip": str(clip_dir / f"{u.name}.mp4"),
                }
                for u in members
            ]
            for batch, members in grouped.items()
        }
    return batches


def asd_plan():
    """(mode, note): the fusion mode when the ASD runs, else None and why it does not."""
    asd = config["asd"]
    if asd["mode"] == "rules":
        return None, "asd.mode is rules"
    weights = asd["weights"]
    problem = (
        "no ASD weights configured (asd.weights)"
        if not weights
        else (f"ASD weights {weights} not found" if not Path(weights).is_file() else "")
    )
    if problem:
        if asd["mode"] == "auto":
            return None, problem
        raise WorkflowError(f"asd.mode={asd['mode']} needs the ASD: {problem}")
    if config["frames"]["fps"] != 25:
        raise WorkflowError(
            "the active speaker detector needs frames at 25 fps (frames.fps: 25)"
        )
    return ("both" if asd["mode"] == "auto" else asd["mode"]), ""


ASD_MODE, NO_ASD_NOTE = asd_plan()
if ASD_MODE is None:
    logger.warning(
        f"Active speaker detection is off: {NO_ASD_NOTE}. Possible speakers come from the multimodal "
        "rules only (recorded in decisions: speaker_detection)."
    )

BATCHES = load_batches()
SPLIT_OF_NAME = {meld.output_name(split): split for split in config["splits"]}


wildcard_constraints:
    split="train|dev|test",
    batch=r"b\d{4}",
    name="train|val|test",
    backend="dlib|facenet|resnet50|arcface_onnx",


def similarity(section):
    value = config[section]["min_similarity"]
    return (
        DEFAULT_MIN_SIMILARITY[config["embedding"]["backend"]]
        if value == "auto"
        else value
    )


def batch_items(wildcards):
    return BATCHES[wildcards.split][wildcards.batch]


def batch_clips(wildcards):
    """The batch's clips that exist: a missing clip is recorded as `no_video`, not a DAG error."""
    return [
        item["clip"] for item in batch_items(wildcards) if Path(item["clip"]).is_file()
    ]


def batch_dir(stage):
    return str(WORK / "{split}" / "{batch}" / stage)


def split_batches(stage, split):
    return [str(WORK / split / batch / stage) for batch in BATCHES[split]]


def collect_inputs(wildcards):
    # A missing face_library stops the run, even with old results. Checked here too: Snakemake evaluates
    # the input functions of the final jobs whatever the state of the results, but it ignores an error
    # deeper down (embed_library's) when that job's output exists.
    face_library_images(wildcards)
    split = SPLIT_OF_NAME[wildcards.name]
    return {
        "select": split_batches("select", split),
        "sheets": [
            str(RESULTS / "contact_sheets" / split / batch) for batch in BATCHES[split]
        ],
        "annotations": str(meld.annotation_path(config["annotations"], split)),
    }


def library_embeddings():
    return str(WORK / "library" / f"{config['embedding']['backend']}.npz")


def final_outputs():
    outputs = []
    for split in config["splits"]:
        name = meld.output_name(split)
        outputs += [
            str(RESULTS / "facseqs" / f"{name}_facseqs_160_paths_final.json"),
            str(RESULTS / "facseqs" / f"{name}_utt_profile.json"),
            str(RESULTS / "decisions" / f"{name}.tsv"),
            str(RESULTS / "decisions" / f"{name}_summary.html"),
        ]
    return outputs


def evidence_inputs(wildcards):
    inputs = {"faces": batch_dir("faces"), "audio": batch_dir("audio")}
    if ASD_MODE is not None:
        inputs["asd"] = batch_dir("asd")
    return {k: v.format(**wildcards) for k, v in inputs.items()}


def checkpoint_url(wildcards):
    from facseq.asd import CHECKPOINTS

    official = {c.file_name: c for c in CHECKPOINTS.values()}
    if wildcards.file_name not in official:
        raise WorkflowError(
            f"unknown checkpoint {wildcards.file_name}; known: {sorted(official)}"
        )
    return config["asd"]["urls"].get(
        wildcards.file_name, official[wildcards.file_name].url
    )


def checkpoint_sha256(wildcards):
    from facseq.asd import CHECKPOINTS

    return {c.file_name: c.sha256 for c in CHECKPOINTS.values()}.get(
        wildcards.file_name
    )


def face_library_dir(wildcards):
    """Input function of embed_library: the main workflow needs `face_library`, checked only when a job
    that uses it is in the DAG (`propose_face_library` needs none)."""
    library = config.get("face_library")
    if not library:
        raise WorkflowError(
            "face_library is not set: the main workflow needs a face library (one folder per leading "
            "role); propose one with `snakemake propose_face_library` (README: Proposing the face library)"
        )
    if not Path(library).is_dir():
        raise WorkflowError(f"face_library: {library} is not a folder")
    return library


def face_library_images(wildcards):
    """Input function of embed_library: every library image, so that an added or removed image re-runs
    the library embedding and everything after it."""
    from facseq.library import LibraryError, library_images

    try:
        return [str(path) for path in library_images(face_library_dir(wildcards))]
    except LibraryError as err:
        raise WorkflowError(str(err)) from err


def face_library_digest(wildcards):
    """Parameter of embed_library: a digest of the images' content, so that a replaced image re-runs it
    whatever its modification time."""
    from facseq.library import library_digest

    return library_digest(face_library_dir(wildcards))


# ------------------------------------------------------------------ face library proposal
def proposal_roles():
    """`roles`, or the `library.n_roles` CSV speakers with the most utterances; a role that never
    speaks in the CSVs of `splits` is a config error."""
    from facseq.propose_library import default_roles

    speakers = [
        item["speaker"]
        for batches in BATCHES.values()
        for items in batches.values()
        for item in items
    ]
    roles = config["roles"] or default_roles(speakers, config["library"]["n_roles"])
    unknown = sorted(set(roles) - set(speakers))
    if unknown:
        raise WorkflowError(
            f"roles: {', '.join(unknown)} never speak(s) in the CSVs of splits {config['splits']}"
        )
    return roles


def proposal_batches():
    """(split, batch) of every batch holding an utterance of a proposed role, in order."""
    roles = set(proposal_roles())
    return [
        (split, batch)
        for split, batches in BATCHES.items()
        for batch, items in batches.items()
        if any(item["speaker"] in roles for item in items)
    ]


def proposal_inputs(wildcards):
    return {
        stage: [
            str(WORK / split / batch / stage) for split, batch in proposal_batches()
        ]
        for stage in ("faces", "embeddings", "evidence")
    }


def proposal_batch_params(wildcards):
    return [
        {"split": split, "items": BATCHES[split][batch]}
        for split, batch in proposal_batches()
    ]


# ------------------------------------------------------------------ Stage Two (MARIO)
STAGE_TWO = config["stage_two"]
FACIALMMT_DATA = RESULTS / "facialmmt" / "preprocess_data"
MARIO = RESULTS / "mario"


def stage_two_path(key, optional=False):
    """The configured path `stage_two.<key>`; a missing file is a clear error naming the key."""
    value = STAGE_TWO[key]
    if not value:
        if optional:
            return []
        raise WorkflowError(
            f"Stage Two needs stage_two.{key} in the config (README: Stage Two)"
        )
    if not Path(value).exists():
        raise WorkflowError(f"stage_two.{key}: {value} not found")
    return value


def stage_two_file(key, optional=False):
    """Input function for `stage_two.<key>`: checked only when a Stage-Two job is in the DAG."""
    return lambda wildcards: stage_two_path(key, optional)


def stage_two_name(split, key):
    """FacialMMT's name of a split named by `stage_two.<key>`, which Stage One must process too."""
    if split not in config["splits"]:
        raise WorkflowError(
            f"stage_two.{key}: {split} is not among splits {config['splits']}"
        )
    return meld.output_name(split)


def split_sequences_json(wildcards):
    name = meld.output_name(wildcards.split)
    return str(RESULTS / "facseqs" / f"{name}_facseqs_160_paths_final.json")


def all_feature_batches(stage):
    return [d for split in config["splits"] for d in split_batches(stage, split)]


def facialmmt_outputs(name):
    from facseq.features import facialmmt_paths

    return {k: str(v) for k, v in facialmmt_paths(FACIALMMT_DATA, name).items()}


def facialmmt_data_inputs(wildcards):
    split = SPLIT_OF_NAME[wildcards.name]
    facseqs = RESULTS / "facseqs" / wildcards.name
    return {
        "vision": split_batches("vision_features", split),
        "audio": split_batches("audio_features", split),
        "lengths": str(RESULTS / "facialmmt" / "max_lengths.json"),
        "sequences": f"{facseqs}_facseqs_160_paths_final.json",
        "profile": f"{facseqs}_utt_profile.json",
        "annotations": str(meld.annotation_path(config["annotations"], split)),
    }


def mario_eval_names():
    return [stage_two_name(split, "eval_splits") for split in STAGE_TWO["eval_splits"]]


def mario_train_inputs(wildcards):
    names = {
        stage_two_name(STAGE_TWO[key], key) for key in ("train_split", "dev_split")
    }
    inputs = {
        "data": [
            path for name in sorted(names) for path in facialmmt_outputs(name).values()
        ],
        "text_model": stage_two_path("text_model"),
        "swin_weights": stage_two_path("swin_weights", optional=True),
        "affwild2": stage_two_path("affwild2", optional=True),
    }
    return inputs


def mario_evaluate_inputs(wildcards):
    checkpoints = MARIO / "checkpoints"
    return {
        "swin": str(checkpoints / "best_swin.pt"),
        "multimodal": str(checkpoints / "best_multimodal.pt"),
        "run": str(MARIO / "run.json"),
        "metrics": str(MARIO / "metrics.tsv"),
        "steps": str(MARIO / "steps.tsv"),
        "text_model": stage_two_path("text_model"),
        "data": [
            path
            for name in mario_eval_names()
            for path in facialmmt_outputs(name).values()
        ],
    }


def mario_outputs(force=False):
    """Stage Two's final files (MARIO's evaluation, FacialMMT's data of every split); none unless
    `stage_two.enabled` or forced (target `mario`)."""
    if not (STAGE_TWO["enabled"] or force):
        return []
    names = [meld.output_name(split) for split in config["splits"]]
    return [str(MARIO / "evaluation" / "f1.tsv")] + [
        path for name in names for path in facialmmt_outputs(name).values()
    ]


def mario_target(wildcards):
    """Input function of the target `mario`: evaluated only when it is asked for."""
    return mario_outputs(force=True)
