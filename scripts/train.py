"""Rule `train`: one model for one (dropout, seed) pair."""

from mnist_dropout.backend import configure_backend, select_backend
from mnist_dropout.dataset import load_dataset
from mnist_dropout.jobs import log_to
from mnist_dropout.provenance import code_version

with log_to(snakemake.log[0]):
    settings, seed = snakemake.params.settings, int(snakemake.wildcards.seed)
    train = settings["train"]
    cpus = select_backend(train["backend"], snakemake.threads)
    # Keras is imported only now: after the backend is chosen and logging redirected.
    from mnist_dropout.training import train_and_save

    environment = configure_backend(snakemake.threads, seed, cpus)
    environment["code"] = {"digest": settings["code"]["digest"], **code_version(snakemake.scriptdir)}
    train_and_save(
        load_dataset(snakemake.input.data, splits=["train"]),
        snakemake.wildcards.dropout,
        seed,
        train,
        snakemake.config["train"]["steps_per_execution"],  # speed only: not a param (see the rule)
        environment,
        snakemake.output.model,
        snakemake.output.history,
        snakemake.output.info,
    )
