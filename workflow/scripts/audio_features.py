from _common import start

log = start(snakemake)  # noqa: F821

from facseq.features import audio_features  # noqa: E402

audio_features(
    [item["name"] for item in snakemake.params.batch],
    snakemake.input.audio,
    snakemake.output[0],
    snakemake.input.model,
    snakemake.params.device,
)
