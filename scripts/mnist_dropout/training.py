"""A training job's work: one model for one (dropout, seed) pair, trained as
the original, checked, saved and evaluated. Imports Keras: start_job first."""

import math
import resource
import time
from datetime import datetime, timezone

import keras
import numpy as np

from .evaluation import evaluate_model, not_finite, numpy_steps
from .files import HISTORY_COLUMNS, write_csv, write_json
from .jobs import NotFiniteError, atomic_output
from .model import NUM_CLASSES, RuntimeRateDropout, build_model, compile_model, saveable


def split_validation(x, y, validation_split):
    """The last `validation_split` of the arrays, unshuffled, as validation data:
    the split `fit(validation_split=...)` makes."""
    split_at = math.floor(len(x) * (1.0 - validation_split))
    return (x[:split_at], y[:split_at]), (x[split_at:], y[split_at:])


class EpochShuffledBatches(keras.utils.PyDataset):
    """Training batches in a fresh order every epoch, drawn from (seed, epoch),
    as `fit(shuffle=True)` promises and the original got: Keras 3 on TensorFlow
    with a global seed replays the first epoch's order. Both backends get the
    same batches. Epoch 0's order is also drawn here, for Keras' shape probe."""

    def __init__(self, x, y, batch_size, seed):
        super().__init__()
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.order = self.epoch_order(0)

    def epoch_order(self, epoch):
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.x))

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.x[rows], self.y[rows]


class EpochCallback(keras.callbacks.Callback):
    """Gives the batches each epoch's order (by Keras' epoch count: the dataset's
    own `on_epoch_begin` also fires for JAX's shape probe) and times each epoch,
    validation included."""

    def __init__(self, batches):
        super().__init__()
        self.batches, self.seconds = batches, []

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.order = self.batches.epoch_order(epoch)
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def train_model(model, x, y, train, seed):
    """`fit` as the original, with the `train` settings: the last
    validation_split of the arrays held out unshuffled, the rest reshuffled
    every epoch (from `seed`). Returns history rows."""
    y = keras.utils.to_categorical(y, NUM_CLASSES)
    (x_train, y_train), validation = split_validation(x, y, train["validation_split"])
    batches = EpochShuffledBatches(x_train, y_train, train["batch_size"], seed)
    epoch_callback = EpochCallback(batches)
    callbacks = [epoch_callback]
    if train["early_stopping"]:
        # monitor, patience and (optionally) restore_best_weights, as Keras names them.
        callbacks.append(keras.callbacks.EarlyStopping(**train["early_stopping"]))
    history = model.fit(
        batches,
        epochs=train["epochs"],
        shuffle=False,  # the order is the dataset's; Keras would shuffle batches again
        validation_data=validation,
        validation_batch_size=train["batch_size"],
        callbacks=callbacks,
        verbose=2,
    )
    return [
        {
            "epoch": epoch + 1,
            **{key: float(history.history[key][epoch]) for key in HISTORY_COLUMNS[1:5]},
            "seconds": seconds,
        }
        for epoch, seconds in enumerate(epoch_callback.seconds)
    ]


def train_and_evaluate(data, dropout_label, seed, train, steps_per_execution, environment, output):
    """Train on data["x_train"], data["y_train"] with the `train` settings and
    evaluate on data["x_test"], data["y_test"]; fail with one line if it
    diverged, else write the rule's `output` files: the model, its history,
    what it was trained with, its metrics and predictions. Returns the model
    saved and evaluated."""
    name = f"model p{dropout_label} seed {seed}"  # as its folder names it
    # On JAX one compiled training step then serves every p (RuntimeRateDropout);
    # TensorFlow's dropout draws other random numbers with it.
    dropout_layer = RuntimeRateDropout if keras.backend.backend() == "jax" else keras.layers.Dropout
    model = build_model(float(dropout_label), train["hidden_units"], dropout_layer=dropout_layer)
    numpy_steps(model)  # a layer the NumPy check cannot compute stops the job before training
    compile_model(model, train["learning_rate"], train["optimizer"], steps_per_execution)
    model.summary()
    started = datetime.now(timezone.utc).isoformat()
    history = train_model(model, data["x_train"], data["y_train"], train, seed)
    times = {"started": started, "ended": datetime.now(timezone.utc).isoformat()}
    diverged = not_finite(
        **{"training loss": [row["loss"] for row in history], "validation loss": [row["val_loss"] for row in history]},
        weights=[keras.ops.convert_to_numpy(weight) for weight in model.weights],
    )
    if diverged:
        raise NotFiniteError(
            f"{name}: {', '.join(diverged)} not finite (NaN or infinite): training diverged; "
            "try a smaller train.learning_rate"
        )
    model = saveable(model)
    with atomic_output(output.model) as temporary:
        model.save(temporary)
    write_csv(output.history, history, HISTORY_COLUMNS)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    write_json(
        output.info,
        {
            "dropout": float(dropout_label),
            "parameters": model.count_params(),
            "epochs_run": len(history),
            "train": train,
            "steps_per_execution": steps_per_execution,
            "environment": environment,
            "times": times,
            # Of the job so far: how its CPU time splits between computing and
            # the kernel, for the benchmark.
            "cpu_seconds": {"user": usage.ru_utime, "system": usage.ru_stime},
        },
    )
    evaluate_model(model, name, data["x_test"], data["y_test"], environment, output.metrics, output.predictions)
    return model
