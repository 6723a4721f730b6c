"""The MLP of the original study, and how it is trained (Keras 3).

Keras reads its backend when first imported: call backend.select_backend before
importing this module."""

import os
import time

import keras
import numpy as np

NUM_CLASSES = 10
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")


def configure_backend(threads, seed, cpus=None):
    """Seed every generator and, on TensorFlow, bound its thread pools and make
    ops deterministic, so a rerun with the same threads gives identical bytes.
    (JAX on CPU is deterministic for a given thread count; its threads are bounded
    by pinning to `cpus`, see backend.claim_cpus.) Must run before the backend
    executes anything. Returns what a result depends on, for the record."""
    environment = {"backend": keras.backend.backend(), "keras": keras.__version__, "threads": threads}
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        # Several jobs may share one GPU; allocate its memory as needed.
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
        tf.config.experimental.enable_op_determinism()
        environment.update(
            tensorflow=tf.__version__,
            intra_op_threads=threads,
            inter_op_threads=threads,
            onednn_opts=os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
            gpus=len(tf.config.list_physical_devices("GPU")),
        )
    else:
        import jax

        environment.update(jax=jax.__version__, cpus=cpus, devices=str(jax.devices()))
    keras.utils.set_random_seed(seed)
    environment["seed"] = seed
    return environment


def build_model(dropout, hidden_units=(512, 512), learning_rate=0.001, input_dim=784, steps_per_execution=1):
    """Dense(relu) layers, each followed by Dropout(p) unless p == 0, then softmax.
    `steps_per_execution` > 1 runs several batches per call into TensorFlow,
    saving per-step overhead without changing what is computed."""
    model = keras.Sequential([keras.Input(shape=(input_dim,))])
    for units in hidden_units:
        model.add(keras.layers.Dense(units, activation="relu"))
        if dropout > 0:
            model.add(keras.layers.Dropout(dropout))
    model.add(keras.layers.Dense(NUM_CLASSES, activation="softmax"))
    model.compile(
        loss="categorical_crossentropy",
        optimizer=keras.optimizers.RMSprop(learning_rate=learning_rate),
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model


class EpochTimer(keras.callbacks.Callback):
    """Wall seconds of each epoch, training and validation included."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def train_model(model, x, y, batch_size, epochs, validation_split, early_stopping):
    """`fit` as the original: Keras holds out the last `validation_split` of the
    arrays unshuffled and shuffles the rest every epoch. Returns history rows."""
    timer = EpochTimer()
    callbacks = [timer]
    if early_stopping:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor=early_stopping["monitor"], patience=early_stopping["patience"])
        )
    history = model.fit(
        x,
        keras.utils.to_categorical(y, NUM_CLASSES),
        batch_size=batch_size,
        epochs=epochs,
        validation_split=validation_split,
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


def dense_weights(model):
    """(kernel, bias) of each Dense layer, in order, as NumPy arrays."""
    return [
        tuple(np.asarray(w) for w in layer.get_weights())
        for layer in model.layers
        if isinstance(layer, keras.layers.Dense)
    ]
