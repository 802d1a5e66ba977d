from _common import settings, start

log = start(snakemake)  # noqa: F821

from facseq.faces import DetectorSettings  # noqa: E402
from facseq.stages.embeddings import embed_library  # noqa: E402

roles = embed_library(
    snakemake.input[0],
    snakemake.output.embeddings,
    snakemake.wildcards.backend,
    snakemake.params.weights,
    snakemake.params.device,
    settings(DetectorSettings, snakemake.params.detection),
)
log.info("face library: %s", {role: len(v) for role, v in roles.items()})
