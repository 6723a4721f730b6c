"""Rule `train_and_evaluate`: one model for one (dropout, seed) pair, trained,
then evaluated in the same process."""

from mnist_dropout.backend import start_job
from mnist_dropout.dataset import load_dataset
from mnist_dropout.jobs import log_to

with log_to(snakemake.log[0]):
    seed = int(snakemake.wildcards.seed)
    environment = start_job(snakemake.params.settings, snakemake.scriptdir, snakemake.threads, seed)
    # Keras reads the backend start_job chose when first imported: only now.
    from mnist_dropout.training import train_and_evaluate

    train_and_evaluate(
        load_dataset(snakemake.input.data),
        snakemake.wildcards.dropout,
        seed,
        snakemake.params.settings["train"],
        snakemake.config["train"]["steps_per_execution"],  # an execution setting
        environment,
        snakemake.output,
    )
