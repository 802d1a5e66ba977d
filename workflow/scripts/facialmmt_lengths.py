import json
from pathlib import Path

from _common import start

log = start(snakemake)  # noqa: F821

from facseq.features import max_lengths  # noqa: E402

overrides = snakemake.params.overrides
lengths = max_lengths(snakemake.input.vision, snakemake.input.audio, overrides["vision"], overrides["audio"])
log.info("L_v = %d, L_a = %d (%s)", lengths["vision"]["length"], lengths["audio"]["length"], lengths)
Path(snakemake.output[0]).write_text(json.dumps(lengths, indent=1) + "\n")
