import hashlib
import subprocess
import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from conftest import REPO, SUBSET  # noqa: E402
from metrics import forward_pass  # noqa: E402
from mnist import load_idx, preprocess  # noqa: E402
from model import build_model, dense_weights, train_model  # noqa: E402


def layer_kinds(model):
    return [type(layer).__name__ for layer in model.layers]


def test_model_matches_the_specification():
    model = build_model(0.3)
    assert layer_kinds(model) == ["Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [512, 512, 10]
    assert [layer.rate for layer in model.layers if hasattr(layer, "rate")] == [0.3, 0.3]
    assert model.layers[-1].activation.__name__ == "softmax"
    # 784*512+512 + 512*512+512 + 512*10+10
    assert model.count_params() == 669_706
    assert isinstance(model.optimizer, keras.optimizers.RMSprop)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.001)
    assert model.loss == "categorical_crossentropy"


def test_no_dropout_layers_at_p_zero_and_custom_hidden_units():
    assert layer_kinds(build_model(0.0)) == ["Dense", "Dense", "Dense"]
    assert build_model(0.0, hidden_units=[32]).count_params() == 784 * 32 + 32 + 32 * 10 + 10


@pytest.fixture(scope="module")
def subset():
    x, y = preprocess(load_idx(SUBSET / "train-images-idx3-ubyte.gz"), load_idx(SUBSET / "train-labels-idx1-ubyte.gz"))
    return x[:600], y[:600]


def test_numpy_forward_pass_agrees_with_keras(subset):
    x, y = subset
    keras.utils.set_random_seed(1)
    model = build_model(0.2, hidden_units=[64, 64])
    history = train_model(model, x, y, batch_size=128, epochs=2, validation_split=0.1, early_stopping=None)
    assert [row["epoch"] for row in history] == [1, 2]
    keras_probabilities = model.predict(x, verbose=0)
    numpy_probabilities = forward_pass(x, dense_weights(model))
    assert np.abs(keras_probabilities - numpy_probabilities).max() < 1e-5
    assert (keras_probabilities.argmax(1) == numpy_probabilities.argmax(1)).all()


def test_early_stopping_stops_when_validation_loss_stops_improving(subset):
    x, y = subset
    keras.utils.set_random_seed(0)
    model = build_model(0.0, hidden_units=[256, 256], learning_rate=0.01)
    history = train_model(
        model,
        x,
        y,
        batch_size=32,
        epochs=30,
        validation_split=0.1,
        early_stopping={"monitor": "val_loss", "patience": 2},
    )
    losses = [row["val_loss"] for row in history]
    best = int(np.argmin(losses))
    # Stops exactly `patience` epochs after the best one, well before 30.
    assert len(history) == best + 3 < 30


def test_steps_per_execution_computes_the_same_bits(subset):
    x, y = subset
    weights = []
    for steps in (1, 8):
        keras.utils.set_random_seed(3)
        model = build_model(0.3, hidden_units=[64, 64], steps_per_execution=steps)
        history = train_model(model, x, y, batch_size=32, epochs=2, validation_split=0.1, early_stopping=None)
        weights.append(([w.tobytes() for pair in dense_weights(model) for w in pair], [r["val_loss"] for r in history]))
    assert weights[0] == weights[1]


TRAIN_TWICE = """
import hashlib, sys
sys.path.insert(0, {scripts!r})
from backend import select_backend
cpus = select_backend({backend!r}, threads=1)
from mnist import load_idx, preprocess
from model import build_model, configure_backend, dense_weights, train_model
configure_backend(threads=1, seed=7, cpus=cpus)
x, y = preprocess(load_idx({images!r}), load_idx({labels!r}))
model = build_model(0.5, hidden_units=[128, 128])
history = train_model(model, x[:1000], y[:1000], 128, 3, 0.1, {{"monitor": "val_loss", "patience": 2}})
digest = hashlib.sha256()
for kernel, bias in dense_weights(model):
    digest.update(kernel.tobytes()); digest.update(bias.tobytes())
digest.update(repr([(r["loss"], r["val_loss"], r["accuracy"], r["val_accuracy"]) for r in history]).encode())
print("DIGEST", digest.hexdigest())
print("TENSORFLOW LOADED", "tensorflow" in sys.modules and sys.modules["tensorflow"] is not None)
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_training_is_bitwise_reproducible_across_processes(backend, tmp_path):
    code = TRAIN_TWICE.format(
        scripts=str(REPO / "scripts"),
        backend=backend,
        images=str(SUBSET / "train-images-idx3-ubyte.gz"),
        labels=str(SUBSET / "train-labels-idx1-ubyte.gz"),
    )
    outputs = []
    # The second JAX process loads the compiled steps the first left in the
    # working directory's cache: the same bits either way.
    for _ in range(2):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        outputs.append([line for line in result.stdout.splitlines() if line.startswith(("DIGEST", "TENSORFLOW"))])
    assert outputs[0] == outputs[1]
    # A JAX job never pays for importing TensorFlow.
    assert outputs[0][1] == f"TENSORFLOW LOADED {backend == 'tensorflow'}"
    if backend == "jax":
        assert any((tmp_path / ".cache" / "jax").iterdir())
