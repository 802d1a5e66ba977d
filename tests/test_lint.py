"""`snakemake --lint` is clean and `snakefmt --check` is quiet (the workflow's style gates)."""

from __future__ import annotations

import subprocess

from conftest import BIN, REPO, run_snakemake


def test_snakemake_lint_is_clean(tmp_path):
    # Lint needs a config whose annotation CSV exists: a one-utterance MELD-layout folder.
    (tmp_path / "dev_sent_emo.csv").write_text(
        "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"
        '1,Hi.,Joey,neutral,neutral,0,0,1,1,"00:00:01,000","00:00:02,000"\n'
    )
    (tmp_path / "library" / "Joey").mkdir(parents=True)
    result = run_snakemake(
        "--lint", "--config", f"meld_root={tmp_path}", f"annotations={tmp_path}",
        f"face_library={tmp_path / 'library'}", f"results={tmp_path / 'results'}", check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Congratulations, your workflow is in a good condition!" in output, output


def test_snakefmt_check_passes():
    result = subprocess.run(
        [str(BIN / "snakefmt"), "--check", "Snakefile", "workflow/"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_has_log_and_benchmark():
    import re

    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        blocks = re.split(r"^(?=rule \w+:)", smk.read_text(), flags=re.M)
        for block in blocks:
            match = re.match(r"rule (\w+):", block)
            if match:
                assert "\n    log:" in block and "\n    benchmark:" in block, f"{smk.name}: rule {match.group(1)}"
