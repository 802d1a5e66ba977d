from _common import start

log = start(snakemake)  # noqa: F821

from facseq.features import vision_features  # noqa: E402

vision_features(
    [item["name"] for item in snakemake.params.batch],
    snakemake.input.sequences,
    snakemake.output[0],
    snakemake.input.weights,
    snakemake.params.device,
    snakemake.params.max_faces,
)
