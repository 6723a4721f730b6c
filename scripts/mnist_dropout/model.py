"""The network of the study: `build_model` is the one function to edit to try
another. Training, saving and the NumPy check follow its layers.

Keras reads its backend when first imported: call backend.select_backend before
importing this module."""

import keras

from .metrics import NUM_CLASSES


def build_model(dropout, hidden_units=(512, 512), input_dim=784, dropout_layer=keras.layers.Dropout):
    """The original's MLP: Dense(relu) layers, each followed by Dropout(p)
    unless p == 0, then a softmax layer."""
    model = keras.Sequential([keras.Input(shape=(input_dim,))])
    for units in hidden_units:
        model.add(keras.layers.Dense(units, activation="relu"))
        if dropout > 0:
            model.add(dropout_layer(dropout))
    model.add(keras.layers.Dense(NUM_CLASSES, activation="softmax"))
    return model


OPTIMIZERS = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam}


def compile_model(model, learning_rate=0.001, optimizer="rmsprop", steps_per_execution=1):
    """The original's loss and metric, `optimizer` with Keras' defaults but the
    learning rate. `steps_per_execution` > 1 runs several batches per call into
    the backend: less overhead per step, the same bits (tested)."""
    if isinstance(optimizer, str):
        optimizer = OPTIMIZERS[optimizer](learning_rate=learning_rate)
    model.compile(
        loss="categorical_crossentropy",
        optimizer=optimizer,
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model


@keras.saving.register_keras_serializable(package="mnist_dropout")
class RuntimeRateDropout(keras.layers.Dropout):
    """Keras' Dropout with its keep probability in a non-trainable weight instead
    of a constant compiled into the training step: on JAX one compiled step, kept
    in .cache/jax, then serves every p > 0. The same masks and bits as
    keras.layers.Dropout (tested). Models are saved with Keras' own Dropout
    (`saveable`); registered so that models saved with this layer by earlier
    versions load once this module is imported."""

    def build(self, input_shape):
        self.keep_probability = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(1.0 - self.rate), trainable=False, name="keep_probability"
        )

    def call(self, inputs, training=False):
        if not training:
            return inputs
        kept = keras.random.uniform(keras.ops.shape(inputs), seed=self.seed_generator) < self.keep_probability
        return keras.ops.where(kept, inputs * (1.0 / self.keep_probability), keras.ops.zeros_like(inputs))


def saveable(model):
    """`model` as plain Keras loads it: RuntimeRateDropout layers replaced by
    Keras' own Dropout (the same at inference), every other layer the trained
    object itself, with all its state, and the same optimizer with its state."""
    saved = keras.models.clone_model(
        model,
        clone_function=lambda layer: (
            keras.layers.Dropout(layer.rate) if isinstance(layer, RuntimeRateDropout) else layer
        ),
    )
    return compile_model(saved, optimizer=model.optimizer, steps_per_execution=model.steps_per_execution)
