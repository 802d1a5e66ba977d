from pathlib import Path

from _common import start

log = start(snakemake)  # noqa: F821

from facseq.meld import read_utterances  # noqa: E402
from facseq.report import write_summary_html  # noqa: E402
from facseq.stages.collect import collect_split  # noqa: E402

utterances = read_utterances(Path(snakemake.input.annotations).parent, snakemake.params.split)
decisions = collect_split(
    utterances,
    [Path(d) / "decisions.tsv" for d in snakemake.input.select],
    snakemake.params.facseq_dir,
    snakemake.output.sequences,
    snakemake.output.profile,
    snakemake.output.decisions,
)
write_summary_html(snakemake.wildcards.name, decisions, snakemake.params.sheets_dir, snakemake.output.summary)
