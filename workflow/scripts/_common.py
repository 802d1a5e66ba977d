"""Shared start of every rule script: import path for the `facseq` package and logging to the rule's log."""

import logging
import os
import sys
import warnings
from pathlib import Path


def start(snakemake):
    """Make `facseq` importable (also inside per-rule conda envs), send logging and warnings to the log."""
    sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
    log_path = snakemake.log[0] if len(snakemake.log) else None
    handler = logging.FileHandler(log_path, mode="w") if log_path else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    logging.captureWarnings(True)
    warnings.simplefilter("default")
    if log_path:  # native libraries (mediapipe, ffmpeg) write to stderr: keep that in the log too
        sys.stderr = open(log_path, "a", buffering=1)
    # The rule's threads for torch, BLAS and OpenMP, read when (and only if) a stage imports them: importing
    # torch here cost every job 1.2-1.6 s, and most stages never use it (Snakemake sets the same variables).
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(variable, str(max(1, snakemake.threads)))
    return logging.getLogger("facseq")


def settings(cls, values: dict, **overrides):
    """A settings dataclass from a config section, ignoring keys it does not define."""
    fields = cls.__dataclass_fields__
    return cls(**{k: v for k, v in {**values, **overrides}.items() if k in fields})
