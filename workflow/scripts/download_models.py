from _common import start

log = start(snakemake)  # noqa: F821

from facseq.asd import download_model  # noqa: E402

log.info("downloading %s", snakemake.params.url)
path = download_model(snakemake.params.url, snakemake.output[0], snakemake.params.sha256)
log.info("wrote %s (sha256 %s)", path, "checked" if snakemake.params.sha256 else "unknown, not checked")
