import numpy as np
import pytest

from mnist_dropout.figures import failure_indices
from mnist_dropout.evaluation import confusion_matrix, forward_pass, precision_recall_f1, softmax


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    matrix = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], num_classes=3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_precision_recall_f1_against_hand_computed_values():
    matrix = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    precision, recall, f1 = precision_recall_f1(matrix)
    # class 0: TP 1, predicted 2, actual 2; class 1: TP 1, predicted 2, actual 1; class 2: TP 2, predicted 2, actual 3
    np.testing.assert_allclose(precision, [1 / 2, 1 / 2, 1])
    np.testing.assert_allclose(recall, [1 / 2, 1, 2 / 3])
    np.testing.assert_allclose(f1, [1 / 2, 2 / 3, 0.8])


def test_a_class_never_predicted_gets_zero_precision():
    precision, recall, f1 = precision_recall_f1(np.array([[2, 0], [1, 0]]))
    assert precision.tolist() == [2 / 3, 0.0] and recall.tolist() == [1.0, 0.0] and f1[1] == 0


def test_failure_indices_takes_both_kinds_of_mistake_in_order():
    y_true = np.array([8, 8, 3, 8, 1, 2, 8])
    y_pred = np.array([8, 3, 8, 8, 1, 8, 0])
    assert failure_indices(y_true, y_pred, 8).tolist() == [1, 2, 5, 6]
    assert failure_indices(y_true, y_pred, 8, limit=2).tolist() == [1, 2]
    assert failure_indices(y_true, y_pred, 1).tolist() == []


def test_softmax_is_stable_for_large_logits():
    probabilities = softmax(np.array([[1000.0, 1000.0, -1000.0]]))
    np.testing.assert_allclose(probabilities, [[0.5, 0.5, 0.0]])


def test_forward_pass_by_hand():
    steps = [
        ("Dense", {"kernel": np.array([[1.0, -1.0]]), "bias": np.zeros(2), "activation": "relu"}),  # relu([x, -x])
        ("BatchNormalization", {"moving_mean": np.ones(2), "moving_variance": np.full(2, 4.0), "epsilon": 0.0}),
        ("Dense", {"kernel": np.array([[2.0, 0.0], [0.0, 2.0]]), "activation": "softmax"}),
    ]
    # (relu([2, -2]) - 1) / 2 * 2 = [1, -1]
    probabilities = forward_pass(np.array([[2.0]]), steps)
    expected = np.exp([1.0, -1.0]) / np.exp([1.0, -1.0]).sum()
    np.testing.assert_allclose(probabilities, [expected])
    assert probabilities.sum() == pytest.approx(1.0)
