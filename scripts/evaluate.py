"""Rule `evaluate`: test metrics of one model, checked against a NumPy forward pass."""

import numpy as np

from backend import select_backend
from metrics import confusion_matrix, forward_pass, precision_recall_f1
from mnist import load_dataset
from results import read_json, write_json
from script_io import InputError, atomic_output, log_to

with log_to(snakemake.log[0]):
    cpus = select_backend(snakemake.params.backend, snakemake.threads)
    import keras

    from model import NUM_CLASSES, configure_backend, dense_weights

    configure_backend(snakemake.threads, seed=0, cpus=cpus)
    data = load_dataset(snakemake.input.data, splits=["test"])
    try:
        # safe_mode (the default) refuses to deserialise arbitrary code.
        model = keras.saving.load_model(snakemake.input.model, safe_mode=True)
    except Exception as error:
        raise InputError(
            f"{snakemake.input.model}: cannot load the model ({error}); delete it and rerun to retrain"
        ) from error
    x_test, y_test = data["x_test"], data["y_test"]
    # model.evaluate's defaults, as the original calls it.
    test_loss, test_accuracy = model.evaluate(x_test, keras.utils.to_categorical(y_test, NUM_CLASSES), verbose=2)
    probabilities = model.predict(x_test, verbose=0)
    numpy_probabilities = forward_pass(x_test, dense_weights(model))
    max_abs_difference = float(np.abs(probabilities - numpy_probabilities).max())
    tolerance = snakemake.params.forward_pass_tolerance
    print(f"NumPy forward pass vs Keras: max |difference| = {max_abs_difference:.3g}")
    if max_abs_difference >= tolerance:
        raise RuntimeError(f"NumPy forward pass differs from Keras by {max_abs_difference:.3g} >= {tolerance}")
    predicted = probabilities.argmax(axis=1)
    matrix = confusion_matrix(y_test, predicted)
    precision, recall, f1 = precision_recall_f1(matrix)
    with atomic_output(snakemake.output.predictions) as temporary:
        np.savez_compressed(temporary, y_true=y_test, y_pred=predicted, probabilities=probabilities)
    write_json(
        snakemake.output.metrics,
        {
            "test_loss": float(test_loss),
            "test_accuracy": float(test_accuracy),
            "numpy_forward_max_abs_difference": max_abs_difference,
            "precision": precision.tolist(),
            "recall": recall.tolist(),
            "f1": f1.tolist(),
            "confusion_matrix": matrix.tolist(),
            # What the model was trained with: TF version, threads, oneDNN, seed.
            "training_environment": read_json(snakemake.input.info)["environment"],
        },
    )
