"""profiles/default (the implicit workflow profile) and profiles/slurm: valid YAML, only real rule names and
resources, the settings Snakemake ends up with when both are loaded, and dry runs accepted on stand-in data.

SLURM is not needed: a dry run never calls sbatch. conda is: with `use-conda: true` Snakemake asks
`conda info` before building the DAG, so the slurm dry run puts a stand-in `conda` first on PATH that answers
those queries and refuses anything else (it cannot create an environment).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PROFILES = {name: REPO / "profiles" / name / "config.yaml" for name in ("default", "slurm")}

# Rules the slurm profile configures before they exist in the workflow; the only names allowed to be missing
# (none now: train_mario landed with Stage Two).
FUTURE_RULES = frozenset()
# The GPU rules: each asks for a GPU.
GPU_RULES = frozenset({"active_speaker", "vision_features", "audio_features", "train_mario", "evaluate_mario"})

# Profile keys holding rule names, and how to read the names.
RULE_KEYED = ("set-resources", "set-threads", "groups")

# Resources Snakemake or snakemake-executor-plugin-slurm read (a misspelt one would be silently ignored).
KNOWN_RESOURCES = {
    "mem_mb", "mem_mib", "mem", "mem_mb_per_cpu", "disk_mb", "disk_mib", "disk", "runtime", "tmpdir",
    "slurm_partition", "slurm_account", "slurm_cluster", "clusters", "cluster", "constraint", "qos",
    "slurm_extra", "nodes", "tasks", "tasks_per_node", "tasks_per_gpu", "mpi", "cpus_per_task",
    "cpus_per_gpu", "gpu", "gpu_model", "gres",
}

from conftest import dag_build, meld_standin  # noqa: E402

CONDA_STUB = """#!/bin/sh
# conda stand-in for dry runs: answers what Snakemake asks before building the DAG, refuses the rest.
case "$*" in
  "info --json") echo '{"conda_prefix": "/nonexistent/conda", "platform": "linux-64", "envs_dirs": [], "pkgs_dirs": []}' ;;
  "--version") echo "conda 24.11.3" ;;
  "config --get channel_priority --json") echo '{"get": {"channel_priority": "strict"}, "success": true}' ;;
  *) echo "conda stand-in (dry runs only): refusing 'conda $*'" >&2; exit 1 ;;
esac
"""


def load(name: str) -> dict:
    return yaml.safe_load(PROFILES[name].read_text())


def workflow_rules() -> set[str]:
    names = set()
    for path in [REPO / "Snakefile", *(REPO / "workflow" / "rules").glob("*.smk")]:
        names |= set(re.findall(r"^(?:rule|checkpoint)\s+(\w+)\s*:", path.read_text(), flags=re.M))
    return names


def rules_named(profile: dict) -> set[str]:
    return {rule for key in RULE_KEYED for rule in (profile.get(key) or {})}


# ------------------------------------------------------------------------------------------ static
@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profile_is_a_yaml_mapping(name):
    profile = load(name)
    assert isinstance(profile, dict) and profile
    for key in RULE_KEYED + ("default-resources", "group-components"):
        assert isinstance(profile.get(key, {}), dict), f"{name}: {key} must be a mapping"


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_top_level_entry_is_commented(name):
    lines = PROFILES[name].read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[A-Za-z][\w-]*:", line):
            previous = next((l for l in reversed(lines[:i]) if l.strip()), "")
            assert previous.lstrip().startswith("#") or " #" in line, f"{name}: `{line}` has no comment"


def test_workflow_rules_are_found():
    assert {"extract_media", "detect_faces", "embed_faces", "embed_library", "collect_split", "all"} <= workflow_rules()


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profiles_name_only_workflow_rules_or_future_gpu_rules(name):
    unknown = rules_named(load(name)) - workflow_rules()
    assert unknown <= FUTURE_RULES, f"{name}: rules not in the workflow: {sorted(unknown - FUTURE_RULES)}"


def test_future_rules_are_the_gpu_rules_of_the_slurm_profile():
    profile = load("slurm")
    assert GPU_RULES <= rules_named(profile)
    for rule in GPU_RULES:
        assert int(profile["set-resources"][rule]["gpu"]) >= 1, f"{rule} must ask for a GPU"
    landed = FUTURE_RULES & workflow_rules()
    if landed:
        print(f"now in the workflow, can leave FUTURE_RULES: {sorted(landed)}")


def test_slurm_profile_settings():
    profile = load("slurm")
    assert profile["executor"] == "slurm"
    assert int(profile["jobs"]) >= 1
    assert profile["use-conda"] is True
    assert profile["keep-going"] is True and profile["rerun-incomplete"] is True
    assert int(profile["latency-wait"]) >= 30 and int(profile["retries"]) >= 1
    for rule in ("detect_faces", "embed_faces"):
        assert {"mem_mb", "runtime"} <= set(profile["set-resources"][rule]), rule
    resources = {r for rules in profile["set-resources"].values() for r in rules} | set(profile["default-resources"])
    assert resources <= KNOWN_RESOURCES, f"unknown resources: {sorted(resources - KNOWN_RESOURCES)}"
    # group components only for groups that exist
    assert set(profile.get("group-components", {})) <= set(profile.get("groups", {}).values())
    # CPUs follow threads: a cpus_per_task default would override every rule's threads
    assert "cpus_per_task" not in profile["default-resources"]


def test_default_profile_leaves_executor_settings_alone():
    """profiles/default is also loaded under `--profile profiles/slurm` and overrides it: it must not set
    what differs between local and cluster runs."""
    profile = load("default")
    assert profile.get("keep-going") is True and profile.get("rerun-incomplete") is True
    clash = {"cores", "jobs", "executor", "latency-wait", "use-conda", "software-deployment-method",
             "default-resources", "set-resources", "retries", "resources"} & set(profile)
    assert not clash, f"profiles/default sets {sorted(clash)}"


PARSE_ARGS = """
import json, sys
from snakemake.cli import parse_args
parser, args = parse_args(sys.argv[1:])
print(json.dumps({k: getattr(args, k) for k in ("executor", "jobs", "cores", "use_conda", "latency_wait",
                  "retries", "keep_going", "rerun_incomplete", "printshellcmds")}, default=str))
print(json.dumps({"set_threads": sorted(args.set_threads or {}), "groups": args.groups or {},
                  "group_components": args.group_components or {}}))
"""


def effective_args(*argv: str) -> tuple[dict, dict]:
    """Settings Snakemake takes from the command line + profiles (run from the repository root, where it
    also finds profiles/default as the workflow profile)."""
    result = subprocess.run([sys.executable, "-c", PARSE_ARGS, *argv], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.strip().splitlines()[-2:]
    return json.loads(first), json.loads(second)


def test_effective_settings_with_slurm_profile():
    args, rules = effective_args("-n", "--profile", "profiles/slurm")
    assert args["executor"] == "slurm"
    assert args["use_conda"] is True  # not switched off by the workflow profile
    assert args["latency_wait"] == 60 and args["retries"] == 2 and args["jobs"] == 100
    assert args["cores"] is None  # no core cap on cluster jobs' threads
    assert args["keep_going"] and args["rerun_incomplete"] and args["printshellcmds"]
    assert {"detect_faces", "embed_faces"} <= set(rules["set_threads"])
    assert rules["group_components"] and set(rules["groups"]) <= workflow_rules()


def test_effective_settings_local():
    args, _ = effective_args("-n")  # profiles/default only, found by itself
    assert args["executor"] in (None, "local")
    assert args["use_conda"] is False
    assert args["keep_going"] and args["rerun_incomplete"] and args["printshellcmds"]


# ------------------------------------------------------------------------------------------ dry runs
@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    return meld_standin(tmp_path_factory, "profiles_standin", splits=("dev",))


def dry_run(standin, *extra: str, env=None) -> tuple[int, str]:
    command = [*dag_build.snakemake_command(), "-n", *extra,
               *dag_build.standin_config(standin, ("dev",), dialogues_per_batch=8)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.shared
def test_dry_run_with_default_profile(standin):
    rc, output = dry_run(standin, "--quiet", "rules", "--profile", "profiles/default")
    assert rc == 0, output[-4000:]
    stats = dag_build.job_stats(output)
    assert stats["detect_faces"] == 15 and stats["collect_split"] == 1  # dev: 114 dialogues / 8


@pytest.mark.shared
def test_dry_run_with_slurm_profile(standin, tmp_path):
    stub = tmp_path / "bin" / "conda"
    stub.parent.mkdir()
    stub.write_text(CONDA_STUB)
    stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{stub.parent}{os.pathsep}{os.environ['PATH']}"}
    rc, output = dry_run(standin, "--profile", "profiles/slurm", env=env)
    assert rc == 0, output[-4000:]
    assert "Conda environment envs/faces.yaml will be created" in output  # use-conda is on
    stats = dag_build.job_stats(output)
    assert stats["detect_faces"] == 15 and stats["embed_faces"] == 15
    # set-resources reached the jobs: detect_faces asks for what the profile says (attempt 1)
    profile = load("slurm")["set-resources"]["detect_faces"]
    mem, runtime = (int(eval(str(profile[k]), {"attempt": 1})) for k in ("mem_mb", "runtime"))
    block = output[output.index("rule detect_faces:"):]
    resources = re.search(r"resources: (.*)", block).group(1)
    assert re.search(r"\bmem_mb=(\d+)", resources).group(1) == str(mem), resources
    assert re.search(r"\bruntime=(\d+)", resources).group(1) == str(runtime), resources
    # the groups bundle batches: 15 dev batches in groups of group-components
    for group, components in load("slurm").get("group-components", {}).items():
        assert output.count(f"Group job {group} ") == -(-15 // int(components)), group
