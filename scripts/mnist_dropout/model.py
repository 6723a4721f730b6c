"""The network: `build_model` is the one function to edit to try another.
Imports Keras: backend.start_job first."""

import keras

# The digits 0-9.
NUM_CLASSES = 10


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
    """The original's loss and metric; `optimizer` with Keras' defaults but the
    learning rate. `steps_per_execution` batches per call: the same bits, faster."""
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
    """Keras' Dropout with its keep probability in a weight, not a constant of
    the compiled step: on JAX one compiled step (in .cache/jax) serves every
    p > 0, with the bits of Keras' Dropout (tested). Registered: models saved
    with it by earlier versions load once this module is imported."""

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
    """`model` as plain Keras loads it: Keras' Dropout for RuntimeRateDropout,
    every other layer the trained object with all its state, the same optimizer."""
    saved = keras.models.clone_model(
        model,
        clone_function=lambda layer: (
            keras.layers.Dropout(layer.rate) if isinstance(layer, RuntimeRateDropout) else layer
        ),
    )
    return compile_model(saved, optimizer=model.optimizer, steps_per_execution=model.steps_per_execution)
