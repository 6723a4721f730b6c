"""Rule `train`: one model for one (dropout, seed) pair."""

from mnist_dropout.backend import configure_backend, select_backend
from mnist_dropout.data import load_dataset
from mnist_dropout.jobs import log_to

with log_to(snakemake.log[0]):
    train, seed = snakemake.params.train, int(snakemake.wildcards.seed)
    cpus = select_backend(train["backend"], snakemake.threads)
    # Keras is imported only now: after the backend is chosen and logging redirected.
    from mnist_dropout.training import train_and_save

    train_and_save(
        load_dataset(snakemake.input.data, splits=["train"]),
        snakemake.wildcards.dropout,
        seed,
        train,
        snakemake.config["train"]["steps_per_execution"],  # speed only: not a param (see the rule)
        configure_backend(snakemake.threads, seed, cpus),
        snakemake.output.model,
        snakemake.output.history,
        snakemake.output.info,
    )
