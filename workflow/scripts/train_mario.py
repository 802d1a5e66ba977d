from pathlib import Path

from _common import start

log = start(snakemake)  # noqa: F821

from facseq.mario.train import RunSettings, train_mario  # noqa: E402

settings = RunSettings.from_config(
    snakemake.params.stage_two,
    snakemake.params.data_root,
    snakemake.params.train_name,
    snakemake.params.dev_name,
    loader_workers=max(0, snakemake.threads - 1),
)
train_mario(settings, Path(snakemake.output.run).parent)
