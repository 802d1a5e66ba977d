"""Static check of the per-rule conda environments (envs/*.yaml) against the code each rule runs.

For every rule with `conda:` and `script:` (parsed from workflow/rules/*.smk), the script's imports are
collected together with what it pulls in from the `facseq` package (src/facseq), found with `ast`:

* a script runs whole, so all its imports count, and every `facseq` name it imports is followed;
* importing a `facseq` module runs its module-level imports (and those of its parent packages);
* a `facseq` function or class counts only when something reached uses it: then the imports inside it
  (function-level imports included), the names it uses (module functions, constants, names imported from
  other facseq modules) and, recursively, theirs. A module imported for one function does not drag in the
  libraries of its other functions (the facseq.stages modules import libraries inside the stage function);
* `importlib.util.find_spec("x")`, `importlib.import_module("x")` and `__import__("x")` with a literal name
  count as imports of x; imports inside `try: ... except ImportError` are optional and not required.

Standard-library modules, `facseq`, `_common` (the scripts' shared start: its torch import is optional)
and `snakemake` are ignored. Each third-party import name must be provided by a package of the env
(conda dependencies, the pip section, or a `pip install` line of the env's post-deploy script), through
IMPORT_PACKAGES. Also: every dependency pinned, channels conda-forge + nodefaults, every env used by a rule.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
RULES_DIR = REPO / "workflow" / "rules"
ENVS_DIR = REPO / "envs"
SRC = REPO / "src"
PACKAGE = "facseq"
IGNORED = {PACKAGE, "_common", "snakemake", "__future__"}

# import name -> packages (conda-forge or PyPI names, compared normalised) any of which provides it; the
# first is the one to suggest. An import missing here is looked up under its own name.
IMPORT_PACKAGES: dict[str, tuple[str, ...]] = {
    "cv2": ("py-opencv", "opencv", "libopencv", "opencv-python", "opencv-python-headless",
            "opencv-contrib-python", "opencv-contrib-python-headless",
            "mediapipe"),  # mediapipe's wheel requires opencv-contrib-python
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "ffmpeg": ("ffmpeg-python",),
    "PIL": ("pillow",),
    "torch": ("pytorch", "torch", "pytorch-gpu", "pytorch-cpu"),
    "torchvision": ("torchvision",),
    "torchaudio": ("torchaudio",),
    "faiss": ("faiss-cpu", "faiss-gpu", "faiss"),
    "infomap": ("infomap",),
    "dlib": ("dlib",),
    "face_recognition_models": ("face_recognition_models",),
    "facenet_pytorch": ("facenet-pytorch",),
    "mediapipe": ("mediapipe",),
    "yaml": ("pyyaml",),
    "sklearn": ("scikit-learn",),
    "skimage": ("scikit-image",),
    "python_speech_features": ("python_speech_features",),
    "matplotlib": ("matplotlib", "matplotlib-base"),
    "pandas": ("pandas",),
    "requests": ("requests",),
    "tqdm": ("tqdm",),
    "soundfile": ("pysoundfile", "soundfile"),
    "librosa": ("librosa",),
}
# pip requirement lines allow only these per-requirement options (pip rejects e.g. `--no-deps` there).
PIP_LINE_OPTIONS = ("--hash", "--config-settings", "--global-option")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ---------------------------------------------------------------------------------------- rules
@dataclass
class RuleInfo:
    name: str
    smk: Path
    conda: Path | None
    script: Path | None


def rule_blocks(path: Path) -> dict[str, str]:
    text = path.read_text()
    starts = list(re.finditer(r"^(?:rule|checkpoint)\s+(\w+)\s*:", text, flags=re.M))
    blocks = {}
    for match, following in zip(starts, starts[1:] + [None]):
        body = text[match.end() : following.start() if following else len(text)]
        stop = re.search(r"^\S", body, flags=re.M)
        blocks[match.group(1)] = body[: stop.start()] if stop else body
    return blocks


def directive_string(block: str, name: str) -> str | None:
    """The string literal of a one-string directive (`conda:`, `script:`), on its line or the next."""
    match = re.search(rf"^\s+{name}:\s*(?:#.*)?\n?\s*([rRbBuU]?)(['\"])(.+?)\2", block, flags=re.M)
    return match.group(3) if match else None


def workflow_rules() -> dict[str, RuleInfo]:
    rules = {}
    for smk in [REPO / "Snakefile", *sorted(RULES_DIR.glob("*.smk"))]:
        for name, block in rule_blocks(smk).items():
            conda, script = directive_string(block, "conda"), directive_string(block, "script")
            rules[name] = RuleInfo(
                name, smk,
                (smk.parent / conda).resolve() if conda else None,
                (smk.parent / script).resolve() if script else None,
            )
    return rules


RULES = workflow_rules()
SCRIPT_RULES = sorted(r for r, info in RULES.items() if info.script)


# ---------------------------------------------------------------------------------------- envs
@dataclass
class Env:
    path: Path
    channels: list
    conda: list[str]  # conda dependency strings
    pip: list[str]  # pip section lines
    post_deploy: list[str]  # requirements installed by `pip install` in <env>.post-deploy.sh

    def conda_names(self) -> set[str]:
        return {norm(re.split(r"[\s=<>!~\[]", d.strip(), maxsplit=1)[0].split("::")[-1]) for d in self.conda}

    def packages(self) -> set[str]:
        pip = {norm(re.split(r"[\s=<>!~\[;@]", p.strip(), maxsplit=1)[0]) for p in self.pip + self.post_deploy}
        return self.conda_names() | pip


def load_env(path: Path) -> Env:
    data = yaml.safe_load(path.read_text()) or {}
    conda, pip = [], []
    for dep in data.get("dependencies") or []:
        if isinstance(dep, dict):
            pip += [str(p) for p in dep.get("pip") or []]
        else:
            conda.append(str(dep))
    post_deploy = []
    script = path.with_name(path.name.removesuffix(".yaml").removesuffix(".yml") + ".post-deploy.sh")
    if script.is_file():
        for line in script.read_text().splitlines():
            line = line.split("#", 1)[0]
            match = re.search(r"\bpip3?\s+install\s+(.*)", line)
            if match:
                post_deploy += [t for t in match.group(1).split() if not t.startswith("-")]
    return Env(path, list(data.get("channels") or []), conda, pip, post_deploy)


ENV_FILES = sorted(ENVS_DIR.glob("*.yaml")) + sorted(ENVS_DIR.glob("*.yml"))


# ---------------------------------------------------------------------------------------- imports
@dataclass
class Found:
    required: dict[str, set[str]] = field(default_factory=dict)  # import name -> where
    optional: dict[str, set[str]] = field(default_factory=dict)


class ImportScanner:
    """Third-party imports reachable from scripts through the `facseq` package (see the module docstring)."""

    def __init__(self, src: Path = SRC, package: str = PACKAGE, ignored=IGNORED):
        self.src, self.package, self.ignored = src, package, set(ignored)
        self._modules: dict[str, dict | None] = {}

    # -- modules
    def module_path(self, name: str) -> Path | None:
        if name.split(".")[0] != self.package:
            return None
        base = self.src.joinpath(*name.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None

    def module(self, name: str) -> dict | None:
        if name not in self._modules:
            path = self.module_path(name)
            self._modules[name] = None if path is None else self._index(name, path)
        return self._modules[name]

    def _index(self, name: str, path: Path) -> dict:
        tree = ast.parse(path.read_text(), filename=str(path))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        is_package = path.name == "__init__.py"
        info = {"name": name, "path": path, "tree": tree, "parents": parents,
                "package": name if is_package else name.rpartition(".")[0], "defs": {}, "assigns": {}, "bindings": {}}
        for stmt in tree.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                info["defs"][stmt.name] = stmt
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for target in targets:
                    for node in ast.walk(target):
                        if isinstance(node, ast.Name):
                            info["assigns"][node.id] = stmt
        for node in ast.walk(tree):  # module-level import bindings (not inside functions)
            if isinstance(node, (ast.Import, ast.ImportFrom)) and not self._in_function(node, parents):
                for local, target in self._bindings(node, info["package"]):
                    info["bindings"][local] = target
        return info

    @staticmethod
    def _in_function(node, parents) -> bool:
        while node in parents:
            node = parents[node]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                return True
        return False

    @staticmethod
    def _optional(node, parents) -> bool:
        """Inside the body of a `try` whose handlers catch ImportError / ModuleNotFoundError."""
        child = node
        while child in parents:
            parent = parents[child]
            if isinstance(parent, ast.Try) and child in parent.body:
                for handler in parent.handlers:
                    names = [handler.type] if not isinstance(handler.type, ast.Tuple) else handler.type.elts
                    if any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names):
                        return True
            child = parent
        return False

    def _absolute(self, node: ast.ImportFrom, package: str) -> str:
        if not node.level:
            return node.module or ""
        parts = package.split(".")
        base = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
        return ".".join(base + ([node.module] if node.module else []))

    def _bindings(self, node, package: str):
        """(local name, (module, attribute or None)) for each name an import statement binds."""
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    yield alias.asname, (alias.name, None)
                else:
                    top = alias.name.split(".")[0]
                    yield top, (top, None)
        else:
            module = self._absolute(node, package)
            for alias in node.names:
                if alias.name == "*":
                    continue
                sub = f"{module}.{alias.name}"
                target = (sub, None) if self.module_path(sub) else (module, alias.name)
                yield alias.asname or alias.name, target

    # -- scanning
    def scan_script(self, path: Path) -> Found:
        found, queue, seen = Found(), [], set()
        tree = ast.parse(path.read_text(), filename=str(path))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        where = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        for node in ast.walk(tree):
            self._visit_node(node, parents, "", f"{where}", found, queue, eager=True)
        self._drain(queue, seen, found)
        return found

    def scan_symbols(self, module: str, *symbols: str) -> Found:
        """Imports reached from `module.symbol` (tests of the scanner itself)."""
        found, seen = Found(), set()
        self._drain([(module, None)] + [(module, s) for s in symbols], seen, found)
        return found

    def _record(self, name: str, where: str, optional: bool, found: Found):
        top = name.split(".")[0]
        if not top or top in self.ignored or top in sys.stdlib_module_names:
            return
        (found.optional if optional else found.required).setdefault(top, set()).add(where)

    def _visit_node(self, node, parents, package, where, found, queue, eager):
        """Record / follow one AST node: an import, or a dynamic import call with a literal name."""
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            optional = self._optional(node, parents)
            line = f"{where}:{node.lineno}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == self.package:
                        self._queue_module(alias.name, queue)
                    else:
                        self._record(alias.name, line, optional, found)
            else:
                module = self._absolute(node, package)
                if module.split(".")[0] == self.package:
                    self._queue_module(module, queue)
                    if eager:  # names imported where they are used: follow them
                        for alias in node.names:
                            queue.append((module, None if alias.name == "*" else alias.name))
                else:
                    self._record(module, line, optional, found)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in ("find_spec", "import_module", "__import__"):
                name = node.args[0].value
                if name.split(".")[0] == self.package:
                    self._queue_module(name, queue)
                else:
                    self._record(name, f"{where}:{node.lineno} ({called})", self._optional(node, parents), found)

    def _queue_module(self, name: str, queue):
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # parent packages run first
            queue.append((".".join(parts[:i]), None))

    def _drain(self, queue, seen, found):
        while queue:
            item = queue.pop()
            if item in seen:
                continue
            seen.add(item)
            module_name, symbol = item
            info = self.module(module_name)
            if info is None:
                continue
            if symbol is None:
                self._visit_import_time(info, found, queue)
            elif symbol == "*":
                queue += [(module_name, name) for name in info["defs"]]
            elif symbol in info["defs"] or symbol in info["assigns"]:
                node = info["defs"].get(symbol) or info["assigns"][symbol]
                self._visit_body(info, node, symbol, found, queue)
            elif symbol in info["bindings"]:
                target_module, attribute = info["bindings"][symbol]
                queue.append((target_module, attribute))
            elif self.module_path(f"{module_name}.{symbol}"):
                self._queue_module(f"{module_name}.{symbol}", queue)

    def _visit_import_time(self, info, found, queue):
        """What importing the module runs: imports and names outside function bodies."""
        where = f"{info['path'].relative_to(REPO) if info['path'].is_relative_to(REPO) else info['path']}"
        for node in ast.walk(info["tree"]):
            if self._in_function(node, info["parents"]):
                continue
            self._visit_node(node, info["parents"], info["package"], where, found, queue, eager=False)
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Store) and node.id in info["assigns"]:
                queue.append((info["name"], node.id))

    def _visit_body(self, info, root, symbol, found, queue):
        where = f"{info['path'].relative_to(REPO) if info['path'].is_relative_to(REPO) else info['path']} ({symbol})"
        for node in ast.walk(root):
            self._visit_node(node, info["parents"], info["package"], where, found, queue, eager=True)
            if isinstance(node, ast.Name):
                self._follow_name(info, node.id, None, queue)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                self._follow_name(info, node.value.id, node.attr, queue)

    def _follow_name(self, info, name, attribute, queue):
        if name in info["defs"] or name in info["assigns"]:
            queue.append((info["name"], name))
        elif name in info["bindings"]:
            module, symbol = info["bindings"][name]
            if module.split(".")[0] != self.package:
                return
            if symbol is not None:
                queue.append((module, symbol))
            elif attribute is not None:  # module.attribute
                queue.append((module, attribute))
            else:  # the module object itself is passed around: everything in it
                queue.append((module, "*"))


SCANNER = ImportScanner()


def provided(import_name: str, env: Env) -> bool:
    candidates = IMPORT_PACKAGES.get(import_name, (import_name,))
    return bool({norm(c) for c in candidates} & env.packages())


# ---------------------------------------------------------------------------------------- tests
def test_rules_with_scripts_are_found():
    assert {"extract_media", "detect_faces", "embed_faces", "embed_library", "select_speaker"} <= set(SCRIPT_RULES)


@pytest.mark.parametrize("rule", SCRIPT_RULES)
def test_rule_has_existing_conda_env_and_script(rule):
    info = RULES[rule]
    assert info.conda is not None, f"rule {rule} ({info.smk.name}) runs a script but has no conda: env"
    assert info.conda.is_file(), f"rule {rule}: {info.conda} not found"
    assert info.script.is_file(), f"rule {rule}: {info.script} not found"


@pytest.mark.parametrize("rule", SCRIPT_RULES)
def test_env_covers_script_imports(rule):
    info = RULES[rule]
    if info.conda is None or not info.conda.is_file():
        pytest.skip("no env (see test_rule_has_existing_conda_env_and_script)")
    env = load_env(info.conda)
    found = SCANNER.scan_script(info.script)
    missing = {name: where for name, where in found.required.items() if not provided(name, env)}
    env_name = info.conda.relative_to(REPO)
    assert not missing, f"rule {rule}: {env_name} lacks packages for: " + "; ".join(
        f"`import {name}` (e.g. dependency `{IMPORT_PACKAGES.get(name, (name,))[0]}`; "
        f"used at {', '.join(sorted(where)[:3])})"
        for name, where in sorted(missing.items())
    )


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_is_pinned_and_conda_forge(path):
    env = load_env(path)
    assert env.channels and env.channels[0] == "conda-forge" and set(env.channels) == {"conda-forge", "nodefaults"}, \
        f"{path.name}: channels must be conda-forge, nodefaults (got {env.channels})"
    assert env.conda, f"{path.name}: no dependencies"
    # name=version, name==version, name=version=build (channel::name allowed)
    pinned = re.compile(r"[A-Za-z0-9_.\-]+(::[A-Za-z0-9_.\-]+)?==?[0-9][\w.*+!-]*(=[\w.*]+)?")
    unpinned = [d for d in env.conda if not pinned.fullmatch(d.strip())]
    assert not unpinned, f"{path.name}: conda dependencies without =version: {unpinned}"
    bad_pip = []
    for line in env.pip + [f"{p} (post-deploy)" for p in env.post_deploy]:
        requirement, *options = line.split()
        if options == ["(post-deploy)"]:
            options = []
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+(\[[\w,\-]+\])?==[0-9][\w.+!-]*", requirement):
            bad_pip.append(f"{line!r}: not name==version")
        for option in options:
            if not option.startswith(PIP_LINE_OPTIONS):
                bad_pip.append(f"{line!r}: pip rejects {option!r} on a requirement line (conda runs `pip install -r`); "
                               f"install it in {path.stem}.post-deploy.sh instead")
    assert not bad_pip, f"{path.name}: " + "; ".join(bad_pip)
    if env.pip:
        assert "pip" in env.conda_names(), f"{path.name}: a pip section needs pip (pinned) in the conda dependencies"


def test_every_env_is_used_by_a_rule():
    used = {info.conda for info in RULES.values() if info.conda}
    unused = [p.name for p in ENV_FILES if p.resolve() not in used]
    assert ENV_FILES and not unused, f"envs not used by any rule: {unused}"


# ------------------------------------------------------------------------------ the scanner itself
def test_scanner_follows_only_what_is_used(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .inner import helper\n")
    (pkg / "sub" / "inner.py").write_text("import scipy\n\ndef helper():\n    import yaml\n")
    (pkg / "base.py").write_text("import numpy as np\nLIMIT = 3\n\ndef tool():\n    import faiss\n")
    (pkg / "stages.py").write_text(
        "import json\nimport cv2\nfrom pkg import base\nfrom pkg.base import LIMIT\n\n"
        "def used(x):\n    from pkg.sub.inner import helper\n    helper()\n    return base.tool(), _private()\n\n"
        "def _private():\n    import importlib.util\n    return importlib.util.find_spec('dlib')\n\n"
        "def unused():\n    import infomap\n\n"
        "def soft():\n    try:\n        import torch\n    except ImportError:\n        torch = None\n"
    )
    script = tmp_path / "script.py"
    script.write_text("from _common import start\nfrom pkg.stages import used, soft\nimport mediapipe\n")
    scanner = ImportScanner(src=tmp_path, package="pkg", ignored={"pkg", "_common"})
    found = scanner.scan_script(script)
    # module level of stages, base, sub (parent package: scipy via sub/__init__ -> inner), the used functions
    assert set(found.required) == {"cv2", "numpy", "scipy", "yaml", "faiss", "dlib", "mediapipe"}
    assert set(found.optional) == {"torch"}  # try/except ImportError
    assert "infomap" not in found.required  # `unused` is never called


def test_scanner_on_the_workflow():
    """The real scripts: each stage needs its own libraries, not those of the other stages."""
    media = SCANNER.scan_script(RULES["extract_media"].script).required
    assert {"ffmpeg", "numpy"} <= set(media) and not {"dlib", "mediapipe", "faiss", "infomap", "torch"} & set(media)
    select = SCANNER.scan_script(RULES["select_speaker"].script).required
    assert {"faiss", "infomap"} <= set(select)
