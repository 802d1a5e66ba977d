"""Shared test helpers: where ../shared is, and running the workflow the way a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv the tests run in holds snakemake too


def shared_dir() -> Path:
    return Path(os.environ.get("FACSEQ_SHARED", REPO.parent / "shared"))


def require_shared(*parts: str) -> Path:
    """Path inside ../shared, or skip the test with the reason when it is absent."""
    path = shared_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared fixtures sit beside the repository in development and CI)")
    return path


def run_snakemake(*args: str, cwd: Path = REPO, check: bool = True, timeout: int = 1800) -> subprocess.CompletedProcess:
    """`snakemake ARGS` from the repository root, as the README says; output kept for the failure message."""
    command = [str(BIN / "snakemake"), *args]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}")
    return result


def config_args(meld_root, annotations, face_library, results, splits="[dev]", *extra: str) -> list[str]:
    return [
        "--config",
        f"meld_root={meld_root}",
        f"annotations={annotations}",
        f"splits={splits}",
        f"face_library={face_library}",
        f"results={results}",
        *extra,
    ]


def load_benchmark(name: str):
    """Import a script of benchmarks/ (not a package) as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dag_build = load_benchmark("dag_build")


def meld_standin(tmp_path_factory, folder: str, **kwargs) -> dict:
    """The full-MELD stand-in of benchmarks/dag_build.py (real CSVs, empty clips), or skip when the
    shared CSVs are absent."""
    source = dag_build.shared_meld()
    if source is None:
        pytest.skip(f"MELD annotation CSVs absent under {dag_build.shared_dir() / 'data' / 'meld'} "
                    "(the shared data sits beside the repository, or set FACSEQ_SHARED)")
    return dag_build.make_standin(tmp_path_factory.mktemp(folder), source, **kwargs)
