from _common import start

log = start(snakemake)  # noqa: F821

from facseq.stages.common import batch_items  # noqa: E402
from facseq.stages.select import contact_sheets  # noqa: E402

contact_sheets(
    batch_items(snakemake.params.batch),
    snakemake.input.faces,
    snakemake.input.evidence,
    snakemake.input.select,
    snakemake.output[0],
)
