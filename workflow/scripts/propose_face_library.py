from pathlib import Path

from _common import settings, start

log = start(snakemake)  # noqa: F821

from facseq.cluster import ClusterSettings  # noqa: E402
from facseq.propose_library import ProposalSettings  # noqa: E402
from facseq.stages.common import batch_items  # noqa: E402
from facseq.stages.propose_library import BatchOutputs, propose_face_library  # noqa: E402

inputs, params = snakemake.input, snakemake.params  # noqa: F821
batches = [
    BatchOutputs(batch["split"], batch_items(batch["items"]), Path(faces), Path(embeddings), Path(evidence))
    for batch, faces, embeddings, evidence in zip(params.batches, inputs.faces, inputs.embeddings, inputs.evidence)
]
choices = propose_face_library(
    batches,
    params.roles,
    Path(snakemake.output.proposal).parent,  # noqa: F821
    snakemake.output.sheets,  # noqa: F821
    settings(ClusterSettings, params.cluster, min_similarity=params.cluster_min_similarity),
    settings(ProposalSettings, params.library),
)
log.info("proposed folders: %s", [c.role for c in choices if c.cluster is not None] or "none")
