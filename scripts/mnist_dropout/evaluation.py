"""Test metrics of a trained model, checked against a NumPy forward pass of its
layers. Imports Keras: call backend.select_backend first."""

import keras
import numpy as np

from .files import write_json
from .jobs import InputError, NotFiniteError, atomic_output
from .metrics import ACTIVATIONS, LAYER_STEPS, NUM_CLASSES, confusion_matrix, forward_pass, not_finite
from .metrics import precision_recall_f1

# The evaluation fails if NumPy's and Keras' test probabilities differ by this.
FORWARD_PASS_TOLERANCE = 1e-4


def numpy_steps(model):
    """The model's inference as metrics.forward_pass steps, read off its layers
    (Dropout is the identity at inference); a layer or activation the NumPy
    pass cannot compute is an InputError naming it (raised before training)."""
    steps = []
    for layer in model.layers:
        kind = type(layer).__name__
        if isinstance(layer, keras.layers.Dropout):
            continue
        if kind not in LAYER_STEPS:
            raise InputError(
                f"layer {layer.name}: {kind} has no NumPy forward pass; use {', '.join(LAYER_STEPS)} or Dropout "
                "in build_model, or add it to mnist_dropout.metrics.LAYER_STEPS"
            )
        # Named as the step's arguments: kernel, bias, gamma, beta, moving_mean...
        arguments = {variable.name: keras.ops.convert_to_numpy(variable) for variable in layer.weights}
        if kind == "BatchNormalization":
            arguments["epsilon"] = layer.epsilon
        if getattr(layer, "activation", None) is not None:
            arguments["activation"] = getattr(layer.activation, "__name__", repr(layer.activation))
            if arguments["activation"] not in ACTIVATIONS:
                raise InputError(
                    f"layer {layer.name}: activation {arguments['activation']} has no NumPy forward pass; use one "
                    f"of {', '.join(ACTIVATIONS)}, or add it to mnist_dropout.metrics.ACTIVATIONS"
                )
        steps.append((kind, arguments))
    return steps


def evaluate_model(
    model, name, x_test, y_test, training_environment, metrics_path, predictions_path, tolerance=FORWARD_PASS_TOLERANCE
):
    """Write `metrics_path` (JSON) and `predictions_path` (.npz) for `model`
    (called `name` in errors); a diverged model writes nothing."""
    # model.evaluate's defaults, as the original calls it.
    test_loss, test_accuracy = model.evaluate(x_test, keras.utils.to_categorical(y_test, NUM_CLASSES), verbose=2)
    probabilities = model.predict(x_test, verbose=0)
    weights = [keras.ops.convert_to_numpy(variable) for variable in model.weights]
    diverged = not_finite(**{"test loss": test_loss, "weights": weights, "probabilities": probabilities})
    if diverged:
        raise NotFiniteError(f"{name}: {', '.join(diverged)} not finite (NaN or infinite): the model diverged")
    max_abs_difference = float(np.abs(probabilities - forward_pass(x_test, numpy_steps(model))).max())
    print(f"NumPy forward pass vs Keras: max |difference| = {max_abs_difference:.3g}")
    if not max_abs_difference < tolerance:
        raise InputError(
            f"{name}: Keras' test probabilities differ from a NumPy forward pass of its weights by "
            f"{max_abs_difference:.3g} >= {tolerance}; nothing written for it"
        )
    predicted = probabilities.argmax(axis=1)
    matrix = confusion_matrix(y_test, predicted)
    precision, recall, f1 = precision_recall_f1(matrix)
    with atomic_output(predictions_path) as temporary:
        np.savez_compressed(temporary, y_true=y_test, y_pred=predicted, probabilities=probabilities)
    write_json(
        metrics_path,
        {
            "test_loss": float(test_loss),
            "test_accuracy": float(test_accuracy),
            "numpy_forward_max_abs_difference": max_abs_difference,
            "precision": precision.tolist(),
            "recall": recall.tolist(),
            "f1": f1.tolist(),
            "confusion_matrix": matrix.tolist(),
            # What the model was trained with: backend, versions, threads, seed.
            "training_environment": training_environment,
        },
    )
