from _common import settings, start

log = start(snakemake)  # noqa: F821

from facseq.rules import RuleSettings  # noqa: E402
from facseq.speakers import AsdSettings  # noqa: E402
from facseq.stages.common import batch_items  # noqa: E402
from facseq.stages.evidence import speaker_evidence  # noqa: E402

speaker_evidence(
    batch_items(snakemake.params.batch),
    snakemake.input.faces,
    snakemake.input.audio,
    snakemake.output[0],
    settings(RuleSettings, snakemake.params.rules),
    snakemake.params.rules["envelope_window_s"],
    snakemake.input.get("asd"),
    snakemake.params.mode,
    settings(AsdSettings, snakemake.params.asd),
    snakemake.params.no_asd_note,
)
