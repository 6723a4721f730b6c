"""Rule `export_mlflow`: every model kept under results/models into a new
MLflow tracking store (mnist_dropout.tracking)."""

import os

from mnist_dropout.jobs import InputError, log_to

with log_to(snakemake.log[0]):
    # Like the rest of the workflow the export makes no network calls:
    # MLflow's usage reporting stays off unless the user asked for it.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        from mnist_dropout.tracking import export
    except ModuleNotFoundError as error:
        if error.name != "mlflow":
            raise
        raise InputError("MLflow is not installed: pip install -r requirements-tracking.txt") from None
    export("results", snakemake.output.store, snakemake.output.artifacts, snakemake.params.current)
