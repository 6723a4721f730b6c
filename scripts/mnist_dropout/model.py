"""The MLP of the original study (Keras 3).

Keras reads its backend when first imported: call backend.select_backend before
importing this module."""

import keras
import numpy as np

from .metrics import NUM_CLASSES


@keras.saving.register_keras_serializable(package="mnist_dropout")
class RuntimeRateDropout(keras.layers.Dropout):
    """Keras' Dropout with its keep probability in a non-trainable weight instead
    of a constant compiled into the training step: on JAX one compiled step, kept
    in .cache/jax, then serves every p > 0 (about 1 s less per job). The same
    masks and bits as keras.layers.Dropout (tested): XLA turns the division by
    a constant keep probability into a product with its reciprocal, as here.
    Models are saved with keras.layers.Dropout (training.train_and_save), which
    plain Keras loads; registered so that models saved with this layer by
    earlier versions load once this module is imported."""

    def build(self, input_shape):
        self.keep_probability = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(1.0 - self.rate), trainable=False, name="keep_probability"
        )

    def call(self, inputs, training=False):
        if not training:
            return inputs
        kept = keras.random.uniform(keras.ops.shape(inputs), seed=self.seed_generator) < self.keep_probability
        return keras.ops.where(kept, inputs * (1.0 / self.keep_probability), keras.ops.zeros_like(inputs))


OPTIMIZERS = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam}


def build_model(
    dropout,
    hidden_units=(512, 512),
    learning_rate=0.001,
    optimizer="rmsprop",
    input_dim=784,
    steps_per_execution=1,
    dropout_layer=None,
):
    """Dense(relu) layers, each followed by Dropout(p) unless p == 0, then softmax.
    `steps_per_execution` > 1 runs several batches per call into TensorFlow,
    saving per-step overhead without changing what is computed. `dropout_layer`
    defaults to the fastest to train: RuntimeRateDropout on JAX; TensorFlow's
    dropout draws other random numbers with it, so there it is Keras' own."""
    if dropout_layer is None:
        dropout_layer = RuntimeRateDropout if keras.backend.backend() == "jax" else keras.layers.Dropout
    model = keras.Sequential([keras.Input(shape=(input_dim,))])
    for units in hidden_units:
        model.add(keras.layers.Dense(units, activation="relu"))
        if dropout > 0:
            model.add(dropout_layer(dropout))
    model.add(keras.layers.Dense(NUM_CLASSES, activation="softmax"))
    model.compile(
        loss="categorical_crossentropy",
        optimizer=OPTIMIZERS[optimizer](learning_rate=learning_rate),
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model


def transfer_state(source, target):
    """Give `target`, a model with the same Dense layers as `source`, their
    weights and the optimizer's state (its step count and the slots of each
    trainable weight, which are the Dense layers' alone)."""
    for source_layer, target_layer in zip(dense_layers(source), dense_layers(target), strict=True):
        target_layer.set_weights(source_layer.get_weights())
    target.optimizer.build(target.trainable_variables)
    for source_variable, target_variable in zip(source.optimizer.variables, target.optimizer.variables, strict=True):
        target_variable.assign(source_variable)


def dense_layers(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def dense_weights(model):
    """(kernel, bias) of each Dense layer, in order, as NumPy arrays."""
    return [tuple(np.asarray(w) for w in layer.get_weights()) for layer in dense_layers(model)]
