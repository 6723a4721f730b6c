"""Rule `train`: one model for one (dropout, seed) pair; with
`train.evaluate_in_training_job` (rule `train_and_evaluate`) also its evaluation."""

import resource

from backend import select_backend
from mnist import load_dataset
from metrics import all_weights, not_finite
from results import write_csv, write_json
from script_io import NotFiniteError, atomic_output, log_to


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"user": usage.ru_utime, "system": usage.ru_stime}


with log_to(snakemake.log[0]):
    train = snakemake.params.train
    cpus = select_backend(train["backend"], snakemake.threads)
    # Keras is imported only after logging is redirected, so its messages land in the log.
    from model import HISTORY_COLUMNS, build_model, configure_backend, dense_weights, train_model

    dropout = float(snakemake.wildcards.dropout)
    seed = int(snakemake.wildcards.seed)
    name = f"model p{snakemake.wildcards.dropout} seed {seed}"
    environment = configure_backend(snakemake.threads, seed, cpus)
    evaluate = "metrics" in snakemake.output.keys()
    data = load_dataset(snakemake.input.data, splits=["train", "test"] if evaluate else ["train"])
    # An execution setting, read from the config on purpose: it changes speed, not
    # results, so it is not a param and changing it retrains nothing.
    steps_per_execution = snakemake.config["train"]["steps_per_execution"]
    model = build_model(dropout, train["hidden_units"], train["learning_rate"], steps_per_execution=steps_per_execution)
    model.summary()
    history = train_model(
        model,
        data["x_train"],
        data["y_train"],
        batch_size=train["batch_size"],
        epochs=train["epochs"],
        validation_split=train["validation_split"],
        early_stopping=train["early_stopping"],
        seed=seed,
    )
    diverged = not_finite(
        **{
            "training loss": [row["loss"] for row in history],
            "validation loss": [row["val_loss"] for row in history],
            "weights": all_weights(dense_weights(model)),
        }
    )
    if diverged:
        raise NotFiniteError(
            f"{name}: {', '.join(diverged)} not finite (NaN or infinite): training diverged; "
            "try a smaller train.learning_rate"
        )
    with atomic_output(snakemake.output.model) as temporary:
        model.save(temporary)
    write_csv(snakemake.output.history, history, HISTORY_COLUMNS)
    write_json(
        snakemake.output.info,
        {
            "dropout": dropout,
            "parameters": model.count_params(),
            "epochs_run": len(history),
            "train": train,
            "steps_per_execution": steps_per_execution,
            "environment": environment,
            # Of the job so far (training, not evaluation): how the CPU time splits
            # between computing and the kernel, for the benchmark.
            "cpu_seconds": cpu_seconds(),
        },
    )
    if evaluate:
        from evaluation import evaluate_model

        evaluate_model(
            model,
            name,
            data["x_test"],
            data["y_test"],
            snakemake.params.forward_pass_tolerance,
            environment,
            snakemake.output.metrics,
            snakemake.output.predictions,
        )
