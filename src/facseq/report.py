"""Per-split decision summary as a self-contained HTML page (shown in `snakemake --report`)."""

from __future__ import annotations

import html
from pathlib import Path

from facseq.stages.collect import decision_summary
from facseq.tables import FINAL_STATUSES


def write_summary_html(name: str, decisions: list[dict], sheets_dir: str | Path, out_path: str | Path) -> None:
    summary = decision_summary(decisions)
    statuses = [s for s in FINAL_STATUSES if s in summary["per_status"]] + sorted(
        s for s in summary["per_status"] if s not in FINAL_STATUSES
    )
    esc = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>FacialMMT stage one: {esc(name)}</title>",
        "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin-bottom:1.5em}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}th{background:#eee}"
        ".ok{color:#060}.failed,.no_video{color:#a00}</style></head><body>",
        f"<h1>Split {esc(name)}: {len(decisions)} utterances</h1>",
        "<h2>Utterances per status</h2><table><tr><th>status</th><th>utterances</th><th>share</th></tr>",
    ]
    for status in statuses:
        count = summary["per_status"][status]
        parts.append(f"<tr><td class='{esc(status)}'>{esc(status)}</td><td>{count}</td><td>{count / max(len(decisions), 1):.1%}</td></tr>")
    parts.append("</table><h2>Utterances per speaker and status</h2><table><tr><th>speaker</th>")
    parts += [f"<th>{esc(s)}</th>" for s in statuses] + ["<th>all</th></tr>"]
    for speaker, counts in sorted(summary["per_speaker"].items(), key=lambda kv: -sum(kv[1].values())):
        cells = "".join(f"<td>{counts.get(s, 0)}</td>" for s in statuses)
        parts.append(f"<tr><td>{esc(speaker)}</td>{cells}<td>{sum(counts.values())}</td></tr>")
    parts.append("</table><h2>Decisions</h2><p>Contact sheets: <code>" + esc(str(sheets_dir)) + "/&lt;batch&gt;/&lt;utterance&gt;.png</code></p>")
    parts.append("<table><tr><th>utterance</th><th>speaker</th><th>status</th><th>faces</th><th>similarity</th><th>reason</th></tr>")
    for row in decisions:
        parts.append(
            f"<tr><td>{esc(row['utterance'])}</td><td>{esc(row.get('speaker', ''))}</td>"
            f"<td class='{esc(row['status'])}'>{esc(row['status'])}</td><td>{esc(str(row.get('n_faces', '')))}</td>"
            f"<td>{esc(str(row.get('similarity', '')))}</td><td>{esc(row.get('reason', ''))}</td></tr>"
        )
    parts.append("</table></body></html>\n")
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    Path(out_path).write_text("\n".join(parts), encoding="utf-8")
