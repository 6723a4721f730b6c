"""Test metrics of a trained model, checked against a forward pass of its
layers in plain NumPy, computed without Keras: an independent check. Imports
Keras: backend.start_job first."""

import keras
import numpy as np

from .files import write_json
from .jobs import InputError, NotFiniteError, atomic_output
from .model import NUM_CLASSES

# The evaluation fails if NumPy's and Keras' test probabilities differ by this.
FORWARD_PASS_TOLERANCE = 1e-4


def softmax(logits):
    """Row-wise softmax, stabilised by subtracting each row's maximum."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=1, keepdims=True)


# Keras' activations by name; SELU's constants as Keras defines them.
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
ACTIVATIONS = {
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "softmax": softmax,
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
    "selu": lambda z: SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0))),
    "softplus": lambda z: np.logaddexp(z, 0),
}


def activation(z, activation):
    return ACTIVATIONS[activation](z)


def dense(z, kernel, bias=0, activation="linear"):
    return ACTIVATIONS[activation](z @ kernel + bias)


def batch_normalization(z, moving_mean, moving_variance, epsilon, gamma=1, beta=0):
    return (z - moving_mean) / np.sqrt(moving_variance + epsilon) * gamma + beta


# The layers forward_pass computes, by the Keras layer kind each stands for.
LAYER_STEPS = {"Activation": activation, "Dense": dense, "BatchNormalization": batch_normalization}


def forward_pass(x, steps):
    """Inference by hand: `steps` is [(LAYER_STEPS name, arguments after the
    input)], as numpy_steps reads them off a model."""
    for name, arguments in steps:
        x = LAYER_STEPS[name](x, **arguments)
    return x


def not_finite(**values):
    """The names of the values (numbers, arrays or lists) holding NaN or inf."""

    def finite(value):
        return all(map(finite, value)) if isinstance(value, list) else bool(np.all(np.isfinite(value)))

    return [name for name, value in values.items() if not finite(value)]


def confusion_matrix(y_true, y_pred, num_classes=NUM_CLASSES):
    """Counts with true labels as rows and predicted labels as columns."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return matrix


def precision_recall_f1(matrix):
    """One-vs-rest precision, recall and F1 per class of a confusion matrix; 0
    for a class never predicted or present, as scikit-learn's default."""
    true_positives = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0)
    actual = matrix.sum(axis=1)
    precision = np.divide(true_positives, predicted, out=np.zeros_like(true_positives), where=predicted > 0)
    recall = np.divide(true_positives, actual, out=np.zeros_like(true_positives), where=actual > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return precision, recall, f1


def numpy_steps(model):
    """The model's inference as forward_pass steps, read off its layers
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
                "in build_model, or add it to mnist_dropout.evaluation.LAYER_STEPS"
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
                    f"of {', '.join(ACTIVATIONS)}, or add it to mnist_dropout.evaluation.ACTIVATIONS"
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
