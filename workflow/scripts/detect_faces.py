from _common import settings, start

log = start(snakemake)  # noqa: F821

from facseq.faces import DetectorSettings  # noqa: E402
from facseq.identity import IdentitySettings  # noqa: E402
from facseq.shots import ShotSettings  # noqa: E402
from facseq.stages.common import batch_items  # noqa: E402
from facseq.stages.faces import detect_faces  # noqa: E402

detect_faces(
    batch_items(snakemake.params.batch),
    snakemake.input.audio,
    snakemake.output[0],
    settings(DetectorSettings, snakemake.params.detection),
    dict(snakemake.params.tracking),
    settings(ShotSettings, snakemake.params.shots),
    settings(IdentitySettings, snakemake.params.identity, min_similarity=snakemake.params.identity_min_similarity),
    dict(snakemake.params.embedding),
    keep_frames=snakemake.params.keep_frames,
    asd_crops=snakemake.params.asd_crops,
)
