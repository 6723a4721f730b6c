"""A model's inference, confusion matrix and precision/recall in plain NumPy:
an independent check of what Keras computes."""

import numpy as np

NUM_CLASSES = 10


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
    input)], as evaluation.numpy_steps reads them off a model."""
    for name, arguments in steps:
        x = LAYER_STEPS[name](x, **arguments)
    return x


def not_finite(**values):
    """The names of the values (numbers, arrays or lists of them) holding a NaN
    or an infinity."""

    def finite(value):
        return all(map(finite, value)) if isinstance(value, list) else bool(np.all(np.isfinite(value)))

    return [name for name, value in values.items() if not finite(value)]


def confusion_matrix(y_true, y_pred, num_classes=NUM_CLASSES):
    """Counts with true labels as rows and predicted labels as columns."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return matrix


def precision_recall_f1(matrix):
    """One-vs-rest precision, recall and F1 per class from a confusion matrix.
    A class never predicted (or never present) gets 0, as scikit-learn's default."""
    true_positives = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0)
    actual = matrix.sum(axis=1)
    precision = np.divide(true_positives, predicted, out=np.zeros_like(true_positives), where=predicted > 0)
    recall = np.divide(true_positives, actual, out=np.zeros_like(true_positives), where=actual > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return precision, recall, f1
