"""Rule `train_and_evaluate`: one model for one (dropout, seed) pair, trained,
then evaluated in the same process."""

from pathlib import Path

from mnist_dropout.backend import configure_backend, select_backend
from mnist_dropout.cpus import claim_cpus
from mnist_dropout.dataset import load_dataset
from mnist_dropout.jobs import log_to
from mnist_dropout.provenance import check_code, code_version

with log_to(snakemake.log[0]):
    settings, seed = snakemake.params.settings, int(snakemake.wildcards.seed)
    # The folder is named by the code planned; the code that runs must be it.
    scripts = Path(snakemake.scriptdir)
    check_code(settings["code"]["digest"], [scripts / "train_and_evaluate.py"], scripts / "mnist_dropout")
    train = settings["train"]
    claim = claim_cpus(snakemake.threads)
    select_backend(train["backend"])
    # Keras is imported only now: after the backend is chosen and logging redirected.
    from mnist_dropout.evaluation import evaluate_model
    from mnist_dropout.training import model_name, train_and_save

    data = load_dataset(snakemake.input.data, splits=["train", "test"])
    environment = {
        **configure_backend(snakemake.threads, seed),
        **claim,
        "code": {"digest": settings["code"]["digest"], **code_version(snakemake.scriptdir)},
    }
    model = train_and_save(
        data,
        snakemake.wildcards.dropout,
        seed,
        train,
        snakemake.config["train"]["steps_per_execution"],  # an execution setting
        environment,
        snakemake.output.model,
        snakemake.output.history,
        snakemake.output.info,
    )
    evaluate_model(
        model,
        model_name(snakemake.wildcards.dropout, seed),
        data["x_test"],
        data["y_test"],
        snakemake.params.forward_pass_tolerance,
        environment,
        snakemake.output.metrics,
        snakemake.output.predictions,
    )
