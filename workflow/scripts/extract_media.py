from _common import start

log = start(snakemake)  # noqa: F821 - `snakemake` is injected by Snakemake

from facseq.stages.common import batch_items  # noqa: E402
from facseq.stages.media import extract_media  # noqa: E402

status = extract_media(
    batch_items(snakemake.params.batch),
    snakemake.output[0],
    snakemake.params.fps,
)
log.info("extracted %d clips: %s", len(status), {s: sum(v[0] == s for v in status.values()) for s in {v[0] for v in status.values()}})
