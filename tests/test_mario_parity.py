"""MARIO against FacialMMT's numbers: `python -m facseq.mario.parity` on ../shared/fixtures/mario/.

The command itself is what is tested (exit status and its lines), on the shared fixture and on a copy of it
with one perturbed array, which must FAIL. Skips when the fixture is absent.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import require_shared

pytestmark = pytest.mark.shared

LINE = re.compile(r"^(?P<name>\S.*?)\s+(?P<diff>nan|[-+0-9.e]+)\s+(?P<tol>\S+(?: \S+)?)\s+(?P<verdict>PASS|FAIL)")


def run_parity(fixture, *extra: str) -> tuple[int, dict[str, str], str]:
    result = subprocess.run([sys.executable, "-m", "facseq.mario.parity", str(fixture), *extra],
                            capture_output=True, text=True, timeout=600)
    verdicts = {}
    for line in result.stdout.splitlines():
        match = LINE.match(line)
        if match:
            verdicts[match["name"]] = match["verdict"]
    return result.returncode, verdicts, result.stdout + result.stderr


def test_parity_command_passes_on_the_shared_fixture():
    fixture = require_shared("fixtures", "mario")
    code, verdicts, output = run_parity(fixture)
    failed = [name for name, verdict in verdicts.items() if verdict == "FAIL"]
    assert code == 0 and not failed, f"parity FAILs: {failed[:20]}\n{output[-3000:]}"
    # every case ran and reported its arrays
    for prefix in ("a/", "b/", "c/", "d_roberta/", "d_bert/", "e/", "f_multimodal_hf424/", "f_multimodal_torch/",
                   "f_swin_hf424/", "f_swin_torch/", "g/", "h/"):
        assert any(name.startswith(prefix) for name in verdicts), f"no line for case {prefix}\n{output[-2000:]}"
    for required in ("a/expected_images", "b/one_logits", "c/c3_none_pass/new_vision_mask", "c/c4_batch2/mm_logits",
                     "d_roberta/utt2_texaudi_crossVis_att", "d_bert/batched_logits", "e/batch1_len1_logits",
                     "f_multimodal_hf424/step2_update/classifier.weight", "f_swin_hf424/step2_grad_norm_before_clip",
                     "g/bert_sep_mask"):
        assert verdicts.get(required) == "PASS", required
    assert len(verdicts) > 700
    assert re.search(r"^\d+ PASS, 0 FAIL of \d+ checks$", output, re.M)


def _fixture_copy_with(tmp_path, fixture, case_file: str, key: str, delta: float):
    """A folder laid out like the fixture (links) whose `case_file` has `key` shifted by `delta`."""
    copy = tmp_path / "fixture"
    copy.mkdir()
    for entry in fixture.iterdir():
        if entry.name != "cases":
            (copy / entry.name).symlink_to(entry)
    (copy / "cases").mkdir()
    for entry in (fixture / "cases").iterdir():
        if entry.name != case_file:
            (copy / "cases" / entry.name).symlink_to(entry)
    arrays = dict(np.load(fixture / "cases" / case_file))
    arrays[key] = arrays[key] + np.asarray(delta, dtype=arrays[key].dtype)
    np.savez(copy / "cases" / case_file, **arrays)
    return copy


def test_a_perturbed_array_fails_and_exits_non_zero(tmp_path):
    fixture = require_shared("fixtures", "mario")
    copy = _fixture_copy_with(tmp_path, fixture, "e_meld_utt_transformer.npz", "main_logits", 1e-3)
    code, verdicts, output = run_parity(copy, "--cases", "e")
    assert code == 1, output[-2000:]
    assert verdicts["e/main_logits"] == "FAIL"
    others = {name: v for name, v in verdicts.items() if name != "e/main_logits"}
    assert others and set(others.values()) == {"PASS"}, output[-2000:]


def test_a_perturbation_below_the_tolerance_passes(tmp_path):
    fixture = require_shared("fixtures", "mario")
    copy = _fixture_copy_with(tmp_path, fixture, "e_meld_utt_transformer.npz", "main_logits", 3e-5)
    code, verdicts, output = run_parity(copy, "--cases", "e")
    assert code == 0 and verdicts["e/main_logits"] == "PASS", output[-2000:]


def test_not_a_fixture_folder_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "facseq.mario.parity", str(tmp_path)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0 and "no config.json" in result.stderr
