from _common import start

log = start(snakemake)  # noqa: F821

from facseq.stages.common import batch_items  # noqa: E402
from facseq.stages.embeddings import embed_faces  # noqa: E402

embed_faces(
    batch_items(snakemake.params.batch),
    snakemake.input.faces,
    snakemake.input.audio,
    snakemake.output[0],
    snakemake.params.backend,
    snakemake.params.weights,
    snakemake.params.device,
    snakemake.params.crop_margin,
    snakemake.params.max_per_track,
)
