"""The baseline: the original study's approach, one process, a plain loop over
the dropout values that builds, fits and evaluates each model with default
TensorFlow settings. A fixed number of epochs, or with --early-stopping the
original's EarlyStopping(monitor="val_loss", patience=2) as well.

    python benchmarks/original_sweep.py MNIST_DIR EPOCHS OUT.json [--early-stopping]
"""

import json
import sys
import time
from pathlib import Path

from mnist_dropout.idx import load_idx

import keras

mnist_dir, epochs, out = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
early_stopping = sys.argv[4:] == ["--early-stopping"]
start = time.perf_counter()
x_train = load_idx(mnist_dir / "train-images-idx3-ubyte.gz").reshape(-1, 784).astype("float32") / 255
x_test = load_idx(mnist_dir / "t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype("float32") / 255
y_train = keras.utils.to_categorical(load_idx(mnist_dir / "train-labels-idx1-ubyte.gz"), 10)
y_test = keras.utils.to_categorical(load_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz"), 10)


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        epoch_seconds.append(time.perf_counter() - self.start)


epoch_seconds, accuracies = [], {}
for p in [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]:
    model = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(512, activation="relu")])
    if p > 0:
        model.add(keras.layers.Dropout(p))
    model.add(keras.layers.Dense(512, activation="relu"))
    if p > 0:
        model.add(keras.layers.Dropout(p))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.RMSprop(), metrics=["accuracy"])
    callbacks = [EpochTimer()]
    if early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=2))
    model.fit(x_train, y_train, batch_size=128, epochs=epochs, validation_split=0.1, verbose=0, callbacks=callbacks)
    accuracies[p] = model.evaluate(x_test, y_test, verbose=0)[1]
out.write_text(
    json.dumps({"epoch_seconds": epoch_seconds, "test_accuracy": accuracies, "seconds": time.perf_counter() - start})
)
