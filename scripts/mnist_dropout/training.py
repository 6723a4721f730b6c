"""A training job's work: one model for one (dropout, seed) pair, trained as
the original does, checked and saved. Imports Keras: call
backend.select_backend first."""

import resource
import time

import keras

from .batches import EpochShuffledBatches, ReshuffleEachEpoch, split_validation
from .files import HISTORY_COLUMNS, write_csv, write_json
from .jobs import NotFiniteError, atomic_output
from .metrics import NUM_CLASSES, all_weights, not_finite
from .model import build_model, dense_weights, transfer_state


class EpochTimer(keras.callbacks.Callback):
    """Wall seconds of each epoch, training and validation included."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def train_model(model, x, y, batch_size, epochs, validation_split, early_stopping, seed):
    """`fit` as the original: the last `validation_split` of the arrays held out
    unshuffled, the rest reshuffled every epoch (from `seed`). Returns history rows."""
    (x_train, y_train), validation = split_validation(x, keras.utils.to_categorical(y, NUM_CLASSES), validation_split)
    batches = EpochShuffledBatches(x_train, y_train, batch_size, seed)
    timer = EpochTimer()
    callbacks = [ReshuffleEachEpoch(batches), timer]
    if early_stopping:
        # monitor, patience and (optionally) restore_best_weights, as Keras names them.
        callbacks.append(keras.callbacks.EarlyStopping(**early_stopping))
    history = model.fit(
        batches.tf_dataset() if keras.backend.backend() == "tensorflow" else batches,
        epochs=epochs,
        shuffle=False,  # the order is the dataset's; Keras would shuffle batches again
        validation_data=validation,
        validation_batch_size=batch_size,
        callbacks=callbacks,
        verbose=2,
    )
    return [
        {
            "epoch": epoch + 1,
            **{key: float(history.history[key][epoch]) for key in HISTORY_COLUMNS[1:5]},
            "seconds": timer.seconds[epoch],
        }
        for epoch in range(len(timer.seconds))
    ]


def model_name(dropout_label, seed):
    """How errors name a model: as its results folder does."""
    return f"model p{dropout_label} seed {seed}"


def train_and_save(
    data, dropout_label, seed, train, steps_per_execution, environment, model_path, history_path, info_path
):
    """Train on data["x_train"], data["y_train"] with the `train` settings; fail
    with one line if it diverged, else write the model, its history and what it
    was trained with. Returns the saved model."""
    dropout = float(dropout_label)
    architecture = {
        "hidden_units": train["hidden_units"],
        "learning_rate": train["learning_rate"],
        "optimizer": train["optimizer"],
        "steps_per_execution": steps_per_execution,
    }
    model = build_model(dropout, **architecture)
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
            f"{model_name(dropout_label, seed)}: {', '.join(diverged)} not finite (NaN or infinite): "
            "training diverged; try a smaller train.learning_rate"
        )
    # Saved with Keras' own Dropout, the same at inference: plain Keras loads it.
    saved = build_model(dropout, **architecture, dropout_layer=keras.layers.Dropout)
    transfer_state(model, saved)
    with atomic_output(model_path) as temporary:
        saved.save(temporary)
    write_csv(history_path, history, HISTORY_COLUMNS)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    write_json(
        info_path,
        {
            "dropout": dropout,
            "parameters": saved.count_params(),
            "epochs_run": len(history),
            "train": train,
            "steps_per_execution": steps_per_execution,
            "environment": environment,
            # Of the job so far: how its CPU time splits between computing and
            # the kernel, for the benchmark.
            "cpu_seconds": {"user": usage.ru_utime, "system": usage.ru_stime},
        },
    )
    return saved
