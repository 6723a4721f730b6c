"""Rule `evaluate`: test metrics of one model, checked against a NumPy forward pass."""

from backend import select_backend
from mnist import load_dataset
from results import read_json
from script_io import InputError, log_to

with log_to(snakemake.log[0]):
    cpus = select_backend(snakemake.params.backend, snakemake.threads)
    import keras

    from evaluation import evaluate_model
    from model import configure_backend

    configure_backend(snakemake.threads, seed=0, cpus=cpus)
    data = load_dataset(snakemake.input.data, splits=["test"])
    try:
        # safe_mode (the default) refuses to deserialise arbitrary code.
        model = keras.saving.load_model(snakemake.input.model, safe_mode=True)
    except Exception as error:
        raise InputError(
            f"{snakemake.input.model}: cannot load the model ({error}); delete it and rerun to retrain"
        ) from error
    evaluate_model(
        model,
        f"model p{snakemake.wildcards.dropout} seed {snakemake.wildcards.seed}",
        data["x_test"],
        data["y_test"],
        snakemake.params.forward_pass_tolerance,
        read_json(snakemake.input.info)["environment"],
        snakemake.output.metrics,
        snakemake.output.predictions,
    )
