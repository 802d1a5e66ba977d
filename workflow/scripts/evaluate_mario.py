from pathlib import Path

from _common import start

log = start(snakemake)  # noqa: F821

from facseq.mario.evaluate import evaluate_mario  # noqa: E402

evaluate_mario(
    snakemake.input.run,
    snakemake.input.swin,
    snakemake.input.multimodal,
    snakemake.params.data_root,
    snakemake.params.names,
    Path(snakemake.output.f1).parent,
    snakemake.params.device,
    snakemake.input.metrics,
    snakemake.input.steps,
)
