from _common import settings, start

log = start(snakemake)  # noqa: F821

from facseq.cluster import ClusterSettings  # noqa: E402
from facseq.match import MatchSettings  # noqa: E402
from facseq.stages.common import batch_items  # noqa: E402
from facseq.stages.select import select_speaker  # noqa: E402

decisions = select_speaker(
    batch_items(snakemake.params.batch),
    snakemake.input.faces,
    snakemake.input.audio,
    snakemake.input.embeddings,
    snakemake.input.evidence,
    snakemake.input.library,
    snakemake.output[0],
    snakemake.params.facseq_dir,
    settings(ClusterSettings, snakemake.params.cluster, min_similarity=snakemake.params.cluster_min_similarity),
    settings(MatchSettings, snakemake.params.match, min_similarity=snakemake.params.match_min_similarity),
)
for row in decisions:
    log.info("%s: %s (%s)", row["utterance"], row["status"], row["reason"])
