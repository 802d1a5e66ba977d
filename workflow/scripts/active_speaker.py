from _common import start

log = start(snakemake)  # noqa: F821

from facseq.stages.asd import active_speaker  # noqa: E402
from facseq.stages.common import batch_items  # noqa: E402

active_speaker(
    batch_items(snakemake.params.batch),
    snakemake.input.faces,
    snakemake.input.audio,
    snakemake.output[0],
    snakemake.params.backend,
    snakemake.input.weights,
    snakemake.params.device,
)
