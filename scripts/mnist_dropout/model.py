"""The MLP of the original study, and how it is trained (Keras 3).

Keras reads its backend when first imported: call backend.select_backend before
importing this module."""

import math
import time

import keras
import numpy as np

from .metrics import NUM_CLASSES

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")


@keras.saving.register_keras_serializable(package="mnist_dropout")
class RuntimeRateDropout(keras.layers.Dropout):
    """Keras' Dropout with its keep probability in a non-trainable weight instead
    of a constant compiled into the training step: on JAX one compiled step, kept
    in .cache/jax, then serves every p > 0 (about 1 s less per job). The same
    masks and bits as keras.layers.Dropout (tested): XLA turns the division by
    a constant keep probability into a product with its reciprocal, as here."""

    def build(self, input_shape):
        self.keep_probability = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(1.0 - self.rate), trainable=False, name="keep_probability"
        )

    def call(self, inputs, training=False):
        if not training:
            return inputs
        kept = keras.random.uniform(keras.ops.shape(inputs), seed=self.seed_generator) < self.keep_probability
        return keras.ops.where(kept, inputs * (1.0 / self.keep_probability), keras.ops.zeros_like(inputs))


def build_model(dropout, hidden_units=(512, 512), learning_rate=0.001, input_dim=784, steps_per_execution=1):
    """Dense(relu) layers, each followed by Dropout(p) unless p == 0, then softmax.
    `steps_per_execution` > 1 runs several batches per call into TensorFlow,
    saving per-step overhead without changing what is computed."""
    # TensorFlow's dropout draws other random numbers: it keeps Keras' layer.
    dropout_layer = RuntimeRateDropout if keras.backend.backend() == "jax" else keras.layers.Dropout
    model = keras.Sequential([keras.Input(shape=(input_dim,))])
    for units in hidden_units:
        model.add(keras.layers.Dense(units, activation="relu"))
        if dropout > 0:
            model.add(dropout_layer(dropout))
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


def split_validation(x, y, validation_split):
    """The last `validation_split` of the arrays, unshuffled, as validation data:
    the split `fit(validation_split=...)` makes."""
    split_at = math.floor(len(x) * (1.0 - validation_split))
    return (x[:split_at], y[:split_at]), (x[split_at:], y[split_at:])


class EpochShuffledBatches(keras.utils.PyDataset):
    """Training batches in a fresh order every epoch, as `fit(shuffle=True)` on
    arrays promises and the original got. Needed because Keras 3 on TensorFlow,
    once a global seed is set, replays the first epoch's order in every epoch
    (its tf.data shuffle restarts from the same seed each epoch); JAX reshuffles.
    Serving both backends from here also gives them the same batches.

    Epoch e's order is drawn from (seed, e) by `ReshuffleEachEpoch`; epoch 0's
    also at construction, for the batches Keras reads ahead to learn shapes.
    JAX reads the batches through `__getitem__`; TensorFlow through
    `tf_dataset()`, the same batches gathered in-graph, with no Python per step."""

    def __init__(self, x, y, batch_size, seed):
        super().__init__()
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.epoch, self.order = None, self.epoch_order(0)
        self._tf_order = None

    def epoch_order(self, epoch):
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.x))

    def set_epoch(self, epoch):
        self.epoch, self.order = epoch, self.epoch_order(epoch)
        if self._tf_order is not None:
            self._tf_order.assign(self.order)

    def tf_dataset(self):
        """The batches as a tf.data pipeline. Keras opens a new iterator on it
        every epoch, after `set_epoch` has stored that epoch's order in a variable
        the pipeline reads, so each epoch gathers its own order's batches.
        The arrays are variables too: of a constant, tf.data's graph rewrite
        builds a zero-filled stand-in (170 MB for the images)."""
        import tensorflow as tf

        # On the CPU, where tf.data runs, even when a GPU would take variables.
        with tf.device("/CPU:0"):
            self._tf_order = tf.Variable(self.order, trainable=False)
            x, y = (tf.Variable(in_place(array), trainable=False) for array in (self.x, self.y))
        size, batch_size = len(self.x), self.batch_size
        return (
            tf.data.Dataset.range(len(self))
            .map(lambda index: self._tf_order[index * batch_size : tf.minimum((index + 1) * batch_size, size)])
            .map(lambda rows: (tf.gather(x.value(), rows), tf.gather(y.value(), rows)))
            .prefetch(2)
        )

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def batch_rows(self, index):
        """Indices into the training arrays of batch `index` of the current epoch."""
        return self.order[index * self.batch_size : (index + 1) * self.batch_size]

    def __getitem__(self, index):
        rows = self.batch_rows(index)
        return self.x[rows], self.y[rows]


# TensorFlow's kernels need tensors to start at a 64-byte boundary.
TENSORFLOW_ALIGNMENT = 64


def in_place(array):
    """`array` as a TensorFlow tensor on the same memory, where TensorFlow allows
    it (C order, aligned, as load_dataset maps the dataset), else copied. Each
    page TensorFlow copies to is a fault in the kernel: the images' copy was a
    quarter of a training job's kernel time."""
    import tensorflow as tf

    if array.flags.c_contiguous and array.ctypes.data % TENSORFLOW_ALIGNMENT == 0:
        return tf.experimental.dlpack.from_dlpack(array.__dlpack__())
    return tf.constant(array)


class ReshuffleEachEpoch(keras.callbacks.Callback):
    """Tells the batches which epoch begins: Keras' own count, the same on both
    backends (the dataset's `on_epoch_begin` also fires for JAX's shape probe)."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)


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


def dense_weights(model):
    """(kernel, bias) of each Dense layer, in order, as NumPy arrays."""
    return [
        tuple(np.asarray(w) for w in layer.get_weights())
        for layer in model.layers
        if isinstance(layer, keras.layers.Dense)
    ]
