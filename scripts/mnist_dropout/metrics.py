"""The MLP's inference, confusion matrix and precision/recall in plain NumPy."""

import numpy as np

NUM_CLASSES = 10


def softmax(logits):
    """Row-wise softmax, stabilised by subtracting each row's maximum."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def forward_pass(x, dense_weights):
    """The MLP's inference by hand: relu hidden layers, softmax output.
    Dropout is the identity at inference, so only the Dense weights matter."""
    activations = x
    for kernel, bias in dense_weights[:-1]:
        activations = np.maximum(activations @ kernel + bias, 0)
    kernel, bias = dense_weights[-1]
    return softmax(activations @ kernel + bias)


def not_finite(**values):
    """The names of the values (numbers or arrays) holding a NaN or an infinity."""
    return [name for name, value in values.items() if not np.all(np.isfinite(value))]


def all_weights(dense_weights):
    """Every kernel and bias as one flat array."""
    return np.concatenate([array.ravel() for pair in dense_weights for array in pair])


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
