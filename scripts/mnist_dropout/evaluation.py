"""Test metrics of a trained model, checked against a NumPy forward pass.
Imports Keras: call backend.select_backend first."""

import keras
import numpy as np

from .jobs import InputError, NotFiniteError, atomic_output
from .metrics import NUM_CLASSES, all_weights, confusion_matrix, forward_pass, not_finite, precision_recall_f1
from .model import dense_weights
from .files import write_json


def evaluate_model(model, name, x_test, y_test, tolerance, training_environment, metrics_path, predictions_path):
    """Write `metrics_path` (JSON) and `predictions_path` (.npz) for `model`
    (called `name` in errors); a diverged model writes nothing."""
    # model.evaluate's defaults, as the original calls it.
    test_loss, test_accuracy = model.evaluate(x_test, keras.utils.to_categorical(y_test, NUM_CLASSES), verbose=2)
    probabilities = model.predict(x_test, verbose=0)
    weights = dense_weights(model)
    diverged = not_finite(**{"test loss": test_loss, "weights": all_weights(weights), "probabilities": probabilities})
    if diverged:
        raise NotFiniteError(f"{name}: {', '.join(diverged)} not finite (NaN or infinite): the model diverged")
    numpy_probabilities = forward_pass(x_test, weights)
    max_abs_difference = float(np.abs(probabilities - numpy_probabilities).max())
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
