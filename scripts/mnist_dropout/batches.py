"""The training batches, as the original's `fit(validation_split=...,
shuffle=True)` makes them, served to either backend.

Keras reads its backend when first imported: call backend.select_backend before
importing this module."""

import math

import keras
import numpy as np


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
