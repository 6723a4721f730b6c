"""Rule `evaluate`: test metrics of one model, checked against a NumPy forward pass."""

from mnist_dropout.backend import configure_backend, select_backend
from mnist_dropout.dataset import load_dataset
from mnist_dropout.jobs import log_to
from mnist_dropout.files import read_json

with log_to(snakemake.log[0]):
    cpus = select_backend(snakemake.params.backend, snakemake.threads)
    # Keras is imported only now: after the backend is chosen and logging redirected.
    from mnist_dropout.evaluation import evaluate_model, load_trained_model
    from mnist_dropout.training import model_name

    configure_backend(snakemake.threads, seed=0, cpus=cpus)
    data = load_dataset(snakemake.input.data, splits=["test"])
    evaluate_model(
        load_trained_model(snakemake.input.model),
        model_name(snakemake.wildcards.dropout, snakemake.wildcards.seed),
        data["x_test"],
        data["y_test"],
        snakemake.params.forward_pass_tolerance,
        read_json(snakemake.input.info)["environment"],
        snakemake.output.metrics,
        snakemake.output.predictions,
    )
