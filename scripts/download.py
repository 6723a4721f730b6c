"""Rule `download`: one IDX file from the first mirror that has it, verified."""

from mnist_dropout.mirrors import fetch_verified
from mnist_dropout.jobs import log_to

with log_to(snakemake.log[0]):
    fetch_verified(
        snakemake.wildcards.name,
        # From the config, not a param: changing where the verified bytes come
        # from must not rerun the download and everything after it.
        snakemake.config["data"]["mirrors"],
        snakemake.params.sha256,
        snakemake.output[0],
        attempts=snakemake.params.attempts,
        timeout=snakemake.params.timeout_seconds,
    )
