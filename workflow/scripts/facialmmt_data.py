import json
from pathlib import Path

from _common import start

log = start(snakemake)  # noqa: F821

from facseq.features import read_annotations, read_features, write_facialmmt_split  # noqa: E402

paths = write_facialmmt_split(
    snakemake.wildcards.name,
    read_annotations(Path(snakemake.input.annotations).parent, snakemake.params.split),
    snakemake.input.profile,
    snakemake.input.sequences,
    read_features(snakemake.input.vision),
    read_features(snakemake.input.audio),
    json.loads(Path(snakemake.input.lengths).read_text()),
    snakemake.input.annotations,
    Path(snakemake.output.vision).parents[1],  # preprocess_data/ (the pickle lies in T+A+V/)
)
log.info("wrote %s", ", ".join(str(p) for p in paths.values()))
