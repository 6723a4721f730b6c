import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from conftest import REPO, SUBSET  # noqa: E402
from metrics import forward_pass  # noqa: E402
from mnist import load_idx, preprocess  # noqa: E402
from model import build_model, dense_weights, split_validation, train_model  # noqa: E402


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
    history = train_model(model, x, y, batch_size=128, epochs=2, validation_split=0.1, early_stopping=None, seed=1)
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
        seed=0,
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
        history = train_model(model, x, y, batch_size=32, epochs=2, validation_split=0.1, early_stopping=None, seed=3)
        weights.append(([w.tobytes() for pair in dense_weights(model) for w in pair], [r["val_loss"] for r in history]))
    assert weights[0] == weights[1]


def run_on_subset(script, backend, cwd=None):
    """Run `script` (a template) in a fresh process on `backend` with the subset's
    training files; its stdout."""
    code = script.format(
        scripts=str(REPO / "scripts"),
        backend=backend,
        images=str(SUBSET / "train-images-idx3-ubyte.gz"),
        labels=str(SUBSET / "train-labels-idx1-ubyte.gz"),
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=cwd)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


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
history = train_model(model, x[:1000], y[:1000], 128, 3, 0.1, {{"monitor": "val_loss", "patience": 2}}, seed=7)
digest = hashlib.sha256()
for kernel, bias in dense_weights(model):
    digest.update(kernel.tobytes()); digest.update(bias.tobytes())
digest.update(repr([(r["loss"], r["val_loss"], r["accuracy"], r["val_accuracy"]) for r in history]).encode())
print("DIGEST", digest.hexdigest())
print("TENSORFLOW LOADED", "tensorflow" in sys.modules and sys.modules["tensorflow"] is not None)
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_training_is_bitwise_reproducible_across_processes(backend, tmp_path):
    outputs = []
    # The second JAX process loads the compiled steps the first left in the
    # working directory's cache: the same bits either way.
    for _ in range(2):
        stdout = run_on_subset(TRAIN_TWICE, backend, cwd=tmp_path)
        outputs.append([line for line in stdout.splitlines() if line.startswith(("DIGEST", "TENSORFLOW"))])
    assert outputs[0] == outputs[1]
    # A JAX job never pays for importing TensorFlow.
    assert outputs[0][1] == f"TENSORFLOW LOADED {backend == 'tensorflow'}"
    if backend == "jax":
        assert any((tmp_path / ".cache" / "jax").iterdir())


SERVED_BATCHES = """
import json, sys
sys.path.insert(0, {scripts!r})
from backend import select_backend
cpus = select_backend({backend!r}, threads=1)
from mnist import load_idx, preprocess
import model as model_module
from model import EpochShuffledBatches, build_model, configure_backend, train_model

served = []


class RecordedBatches(EpochShuffledBatches):
    def __getitem__(self, index):
        if self.epoch is not None:  # Keras reads batches ahead, before epoch 0, to learn shapes
            served.append((self.epoch, index, self.batch_rows(index).tolist()))
        return super().__getitem__(index)


model_module.EpochShuffledBatches = RecordedBatches
configure_backend(threads=1, seed=5, cpus=cpus)
x, y = preprocess(load_idx({images!r}), load_idx({labels!r}))
model = build_model(0.0, hidden_units=[32])
train_model(model, x[:1000], y[:1000], 128, 3, 0.1, None, seed=5)
print("SERVED", json.dumps(served))
"""


@pytest.fixture(scope="module")
def served_batches():
    """(epoch, index, rows) of every training batch `fit` consumed, per backend."""
    served = {}
    for backend in ("tensorflow", "jax"):
        stdout = run_on_subset(SERVED_BATCHES, backend)
        line = next(line for line in stdout.splitlines() if line.startswith("SERVED "))
        served[backend] = json.loads(line.removeprefix("SERVED "))
    return served


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_fit_reshuffles_the_training_split_every_epoch(served_batches, backend):
    served = served_batches[backend]
    # 900 training rows (the last 100 of 1000 held out) in batches of 128: 7 full and one of 4.
    orders = []
    for epoch in range(3):
        batches = [(index, rows) for e, index, rows in served if e == epoch]
        assert [index for index, _ in batches] == list(range(8))
        assert [len(rows) for _, rows in batches] == [128] * 7 + [4]
        order = [row for _, rows in batches for row in rows]
        assert sorted(order) == list(range(900))  # every training row once, no validation row
        # drawn from (seed, epoch) alone, never a stale order read ahead
        assert order == np.random.default_rng([5, epoch]).permutation(900).tolist()
        orders.append(order)
    assert orders[0] != orders[1] and orders[1] != orders[2] and orders[0] != orders[2]


def test_both_backends_train_on_the_same_batches(served_batches):
    assert served_batches["tensorflow"] == served_batches["jax"]


def test_validation_split_holds_out_the_last_rows_as_keras_does():
    x, y = np.arange(1000).reshape(-1, 1), np.arange(1000)
    (x_train, y_train), (x_val, y_val) = split_validation(x, y, 0.1)
    keras_train, keras_validation = keras.src.trainers.data_adapters.array_slicing.train_validation_split(
        (x, y), validation_split=0.1
    )
    assert (x_train == keras_train[0]).all() and (y_val == keras_validation[1]).all()
    assert y_train.tolist() == list(range(900)) and y_val.tolist() == list(range(900, 1000))
