import concurrent.futures
import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import SUBSET
from mnist_dropout.dataset import preprocess
from mnist_dropout.idx import load_idx
from mnist_dropout.model import RuntimeRateDropout, build_model, compile_model, saveable
from mnist_dropout.training import split_validation, train_model
from mnist_dropout.evaluation import ACTIVATIONS, evaluate_model, forward_pass, numpy_steps
from mnist_dropout.jobs import InputError, NotFiniteError


def mlp(dropout, hidden_units=(512, 512), learning_rate=0.001, optimizer="rmsprop", steps_per_execution=1, **kw):
    """The study's model, compiled as a training job compiles it."""
    return compile_model(build_model(dropout, hidden_units, **kw), learning_rate, optimizer, steps_per_execution)


def training(batch_size, epochs, validation_split, early_stopping=None):
    """`train` settings for train_model."""
    return dict(batch_size=batch_size, epochs=epochs, validation_split=validation_split, early_stopping=early_stopping)


def layer_kinds(model):
    return [type(layer).__name__ for layer in model.layers]


def trained_bytes(model):
    return [keras.ops.convert_to_numpy(weight).tobytes() for weight in model.trainable_weights]


def test_model_matches_the_specification():
    model = mlp(0.3)
    assert layer_kinds(model) == ["Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [512, 512, 10]
    assert [layer.rate for layer in model.layers if hasattr(layer, "rate")] == [0.3, 0.3]
    assert model.layers[-1].activation.__name__ == "softmax"
    # 784*512+512 + 512*512+512 + 512*10+10
    assert model.count_params() == 669_706
    assert isinstance(model.optimizer, keras.optimizers.RMSprop)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.001)
    assert model.loss == "categorical_crossentropy"
    adam = mlp(0.3, learning_rate=0.0005, optimizer="adam").optimizer
    assert isinstance(adam, keras.optimizers.Adam) and float(adam.learning_rate) == pytest.approx(0.0005)


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
    model = mlp(0.2, hidden_units=[64, 64])
    history = train_model(model, x, y, training(128, 2, 0.1), seed=1)
    assert [row["epoch"] for row in history] == [1, 2]
    keras_probabilities = model.predict(x, verbose=0)
    numpy_probabilities = forward_pass(x, numpy_steps(model))
    assert np.abs(keras_probabilities - numpy_probabilities).max() < 1e-5
    assert (keras_probabilities.argmax(1) == numpy_probabilities.argmax(1)).all()


def test_the_saved_form_is_the_trained_model_with_keras_dropout(subset):
    x, y = subset
    keras.utils.set_random_seed(2)
    trained = build_model(0.3, hidden_units=[32, 32], dropout_layer=RuntimeRateDropout)
    trained.add(keras.layers.BatchNormalization())
    compile_model(trained)
    train_model(trained, x, y, training(128, 1, 0.1), seed=2)
    saved = saveable(trained)
    assert layer_kinds(saved) == ["Dense", "Dropout", "Dense", "Dropout", "Dense", "BatchNormalization"]
    assert [layer.rate for layer in saved.layers if hasattr(layer, "rate")] == [0.3, 0.3]
    # Every layer but dropout is the trained one, its moving statistics included.
    assert [a is b for a, b in zip(trained.layers, saved.layers)] == [True, False, True, False, True, True]
    assert np.asarray(saved.layers[-1].moving_variance).tobytes() != np.ones(10, np.float32).tobytes()
    # The optimizer and its state: the step count (5 batches of 128 of 540
    # images) and RMSprop's running averages of the 8 trainable weights.
    assert saved.optimizer is trained.optimizer and int(saved.optimizer.iterations) == 5
    assert len(saved.optimizer.variables) == 2 + 8
    np.testing.assert_array_equal(saved.predict(x, verbose=0), trained.predict(x, verbose=0))


@pytest.mark.parametrize(
    "layer, message",
    [
        (keras.layers.Dense(10, activation="gelu"), "layer odd: activation gelu has no NumPy forward pass; use one of"),
        (keras.layers.LayerNormalization(), "layer odd: LayerNormalization has no NumPy forward pass; use Activation"),
    ],
)
def test_a_layer_the_numpy_pass_cannot_compute_is_named(layer, message):
    model = build_model(0.3, hidden_units=[16])
    layer.name = "odd"
    model.add(layer)
    with pytest.raises(InputError, match=f"^{message}"):
        numpy_steps(model)


def test_the_numpy_pass_follows_every_supported_activation_and_batch_normalization(subset):
    x, y = subset
    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.Input(shape=(784,))])
    for activation in ACTIVATIONS:
        model.add(keras.layers.Dense(32, activation=activation))
        model.add(keras.layers.BatchNormalization())
    model.add(keras.layers.Activation("tanh"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    compile_model(model)
    train_model(model, x, y, training(128, 1, 0.1), seed=4)
    steps = numpy_steps(model)
    assert [name for name, _ in steps][-4:] == ["Dense", "BatchNormalization", "Activation", "Dense"]
    assert [arguments["activation"] for name, arguments in steps if name == "Dense"] == [*ACTIVATIONS, "softmax"]
    assert np.abs(model.predict(x, verbose=0) - forward_pass(x, steps)).max() < 1e-5


def test_a_diverged_model_is_refused_and_nothing_written(subset, tmp_path):
    x, y = subset
    model = mlp(0.0, hidden_units=[16])
    weights = model.get_weights()
    weights[0][:] = np.nan
    model.set_weights(weights)
    metrics, predictions = tmp_path / "metrics.json", tmp_path / "predictions.npz"
    # TensorFlow's relu turns NaN into 0, so its loss and probabilities can look
    # fine: the weights themselves are checked.
    with pytest.raises(NotFiniteError, match=r"^model p0.0 seed 0: (.*, )?weights(, .*)? not finite .*diverged$"):
        evaluate_model(model, "model p0.0 seed 0", x[:50], y[:50], {}, metrics, predictions)
    assert not list(tmp_path.iterdir())


def test_a_forward_pass_mismatch_fails_naming_the_model_and_nothing_written(subset, tmp_path):
    x, y = subset
    model = mlp(0.3, hidden_units=[16])
    metrics, predictions = tmp_path / "metrics.json", tmp_path / "predictions.npz"
    # No difference is below a tolerance of 0: the check's failure branch.
    with pytest.raises(
        InputError,
        match=r"^model p0.3 seed 0: Keras' .* differ from a NumPy forward pass .* by [0-9.e-]+ >= 0.0; nothing",
    ):
        evaluate_model(model, "model p0.3 seed 0", x[:50], y[:50], {}, metrics, predictions, tolerance=0.0)
    assert not list(tmp_path.iterdir())
    evaluate_model(model, "model p0.3 seed 0", x[:50], y[:50], {}, metrics, predictions)
    assert json.loads(metrics.read_text())["numpy_forward_max_abs_difference"] < 1e-4


def test_early_stopping_stops_when_validation_loss_stops_improving(subset):
    x, y = subset
    keras.utils.set_random_seed(0)
    model = mlp(0.0, hidden_units=[256, 256], learning_rate=0.01)
    history = train_model(model, x, y, training(32, 30, 0.1, {"monitor": "val_loss", "patience": 2}), seed=0)
    losses = [row["val_loss"] for row in history]
    best = int(np.argmin(losses))
    # Stops exactly `patience` epochs after the best one, well before 30.
    assert len(history) == best + 3 < 30


@pytest.mark.parametrize("restore", [False, True])
def test_restore_best_weights_tests_the_best_epochs_weights(subset, restore):
    x, y = subset
    keras.utils.set_random_seed(0)
    model = mlp(0.0, hidden_units=[256, 256], learning_rate=0.01)
    early_stopping = {"monitor": "val_loss", "patience": 2, "restore_best_weights": restore}
    history = train_model(model, x, y, training(32, 30, 0.1, early_stopping), seed=0)
    losses = [row["val_loss"] for row in history]
    assert len(history) == int(np.argmin(losses)) + 3  # stopped 2 epochs past the best
    _, (x_val, y_val) = split_validation(x, keras.utils.to_categorical(y, 10), 0.1)
    loss = model.evaluate(x_val, y_val, batch_size=32, verbose=0)[0]
    # The saved model is the best epoch's with it on, the last epoch's without.
    assert loss == pytest.approx(min(losses) if restore else losses[-1], rel=1e-5)
    assert loss != pytest.approx(losses[-1] if restore else min(losses), rel=1e-5)


def test_steps_per_execution_computes_the_same_bits(subset):
    x, y = subset
    weights = []
    for steps in (1, 8):
        keras.utils.set_random_seed(3)
        model = mlp(0.3, hidden_units=[64, 64], steps_per_execution=steps)
        history = train_model(model, x, y, training(32, 2, 0.1), seed=3)
        weights.append((trained_bytes(model), [r["val_loss"] for r in history]))
    assert weights[0] == weights[1]


def run_on_subset(script, backend, cwd=None, **fields):
    """Run `script` (a template) in a fresh process on `backend` with the subset's
    training files and other template `fields`; its stdout."""
    code = script.format(
        backend=backend,
        **fields,
        images=str(SUBSET / "train-images-idx3-ubyte.gz"),
        labels=str(SUBSET / "train-labels-idx1-ubyte.gz"),
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=cwd)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


TRAIN_TWICE = """
import hashlib, sys
from mnist_dropout.backend import configure_backend, select_backend
from mnist_dropout.cpus import claim_cpus
claim_cpus(1)
select_backend({backend!r})
from mnist_dropout.dataset import preprocess
from mnist_dropout.idx import load_idx
from mnist_dropout.model import RuntimeRateDropout, build_model, compile_model
from mnist_dropout.training import train_model
import keras
configure_backend(threads=1, seed=7)
x, y = preprocess(load_idx({images!r}), load_idx({labels!r}))
model = compile_model(build_model(0.5, hidden_units=[128, 128], dropout_layer=RuntimeRateDropout))
settings = dict(batch_size=128, epochs=3, validation_split=0.1, early_stopping=dict(monitor="val_loss", patience=2))
history = train_model(model, x[:1000], y[:1000], settings, seed=7)
digest = hashlib.sha256()
for weight in model.trainable_weights:
    digest.update(keras.ops.convert_to_numpy(weight).tobytes())
digest.update(repr([(r["loss"], r["val_loss"], r["accuracy"], r["val_accuracy"]) for r in history]).encode())
print("DIGEST", digest.hexdigest())
print("LOADED", sorted(name for name in ("jax", "matplotlib", "pandas", "tensorflow") if sys.modules.get(name)))
"""


@pytest.mark.workflow
def test_training_is_bitwise_reproducible_across_processes(tmp_path):
    def train_twice(backend):
        # The second JAX process loads the compiled steps the first left in the
        # working directory's cache: the same bits either way.
        folder = tmp_path / backend
        folder.mkdir()
        outputs = []
        for _ in range(2):
            stdout = run_on_subset(TRAIN_TWICE, backend, cwd=folder)
            outputs.append([line for line in stdout.splitlines() if line.startswith(("DIGEST", "LOADED"))])
        return outputs

    # The backends side by side, each process on a CPU of its own (claim_cpus).
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        trained = dict(zip(["tensorflow", "jax"], pool.map(train_twice, ["tensorflow", "jax"])))
    for backend, outputs in trained.items():
        assert outputs[0] == outputs[1], backend
        # A job pays for importing its backend only: not the other, nor what Keras
        # would import for plotting or DataFrames.
        assert outputs[0][1] == f"LOADED ['{backend}']"
    assert any((tmp_path / "jax" / ".cache" / "jax").iterdir())


# What a seed fixes across dropout values, which makes the summary's comparisons
# paired: the initial weights (all layers for every p > 0; the first layer's for
# p = 0, whose missing dropout layers draw no seeds) and the batch order.
INITIAL_WEIGHTS = """
import hashlib, json
from mnist_dropout.backend import configure_backend, select_backend
from mnist_dropout.cpus import claim_cpus
claim_cpus(1)
select_backend({backend!r})
import keras
import numpy as np
from mnist_dropout.training import EpochShuffledBatches
from mnist_dropout.model import build_model
configure_backend(threads=1, seed=0)
found = {{}}
for seed in (0, 1):
    for p in (0.0, 0.3, 0.5):
        keras.utils.set_random_seed(seed)
        kernels = [hashlib.sha256(np.asarray(w).tobytes()).hexdigest() for w in build_model(p).trainable_weights[::2]]
        order = EpochShuffledBatches(list(range(1000)), list(range(1000)), 128, seed).epoch_order(3)
        found[f"{{seed}} {{p}}"] = [kernels, hashlib.sha256(order.tobytes()).hexdigest()]
print("FOUND", json.dumps(found))
"""


@pytest.mark.workflow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_a_seed_fixes_initial_weights_and_batch_order_across_dropout_values(backend, tmp_path):
    stdout = run_on_subset(INITIAL_WEIGHTS, backend, cwd=tmp_path)
    found = json.loads(next(line for line in stdout.splitlines() if line.startswith("FOUND "))[6:])
    for seed in (0, 1):
        (zero, order0), (p3, order3), (p5, order5) = (found[f"{seed} {p}"] for p in (0.0, 0.3, 0.5))
        assert p3 == p5 and order0 == order3 == order5
        assert zero[0] == p3[0] and zero[1:] != p3[1:]
    assert found["0 0.3"] != found["1 0.3"]


# On JAX, models use RuntimeRateDropout: trained with it and with Keras' own
# Dropout, for several p, in one fresh process; then saved and loaded.
JAX_DROPOUT = """
import hashlib, os, sys
from mnist_dropout.backend import configure_backend, select_backend
from mnist_dropout.cpus import claim_cpus
claim_cpus(1)
select_backend("jax")
import keras
from mnist_dropout.dataset import preprocess
from mnist_dropout.idx import load_idx
from mnist_dropout.model import RuntimeRateDropout, build_model, compile_model
from mnist_dropout.training import train_model
x, y = preprocess(load_idx({images!r}), load_idx({labels!r}))
for p in (0.1, 0.3, 0.7, 0.123456789):
    digests = []
    for layer in (RuntimeRateDropout, keras.layers.Dropout):
        configure_backend(threads=1, seed=11)
        model = compile_model(build_model(p, hidden_units=[64, 64], dropout_layer=layer))
        assert [type(l) for l in model.layers].count(layer) == 2
        settings = dict(batch_size=128, epochs=2, validation_split=0.1, early_stopping=None)
        history = train_model(model, x[:1000], y[:1000], settings, seed=11)
        digest = hashlib.sha256(repr([r["loss"] for r in history]).encode())
        for weight in model.trainable_weights:
            digest.update(keras.ops.convert_to_numpy(weight).tobytes())
        digests.append(digest.hexdigest())
    print("P", p, digests[0] == digests[1])
# As earlier versions saved models: with this package imported, they load.
model = compile_model(build_model(0.3, hidden_units=[64, 64], dropout_layer=RuntimeRateDropout))
model.save("model.keras")
loaded = keras.saving.load_model("model.keras")
print("LOADED", [type(l).__name__ for l in loaded.layers], float(keras.ops.convert_to_numpy(loaded.layers[1].keep_probability)))
"""


@pytest.mark.workflow
def test_jax_dropout_layer_computes_the_bits_of_keras_dropout(tmp_path):
    lines = run_on_subset(JAX_DROPOUT, "jax", cwd=tmp_path).splitlines()
    assert [line for line in lines if line.startswith("P ")] == [f"P {p} True" for p in (0.1, 0.3, 0.7, 0.123456789)]
    kinds = ["Dense", "RuntimeRateDropout", "Dense", "RuntimeRateDropout", "Dense"]
    loaded = [line for line in lines if line.startswith("LOADED ")]
    assert loaded == [f"LOADED {kinds} {float(np.float32(0.7))}"]


TRAIN_ONE = """
from mnist_dropout.backend import configure_backend, select_backend
from mnist_dropout.cpus import claim_cpus
claim_cpus(1)
select_backend("jax")
from mnist_dropout.dataset import preprocess
from mnist_dropout.idx import load_idx
from mnist_dropout.model import RuntimeRateDropout, build_model, compile_model
from mnist_dropout.training import train_model
configure_backend(threads=1, seed=0)
x, y = preprocess(load_idx({images!r}), load_idx({labels!r}))
model = compile_model(build_model({dropout}, hidden_units=[64, 64], dropout_layer=RuntimeRateDropout))
train_model(model, x[:500], y[:500], dict(batch_size=128, epochs=1, validation_split=0.1, early_stopping=None), seed=0)
"""


@pytest.mark.workflow
def test_one_compiled_jax_training_step_serves_every_dropout_value(tmp_path):
    cache = tmp_path / ".cache" / "jax"
    entries = []
    for p in (0.1, 0.5, 0.8):
        run_on_subset(TRAIN_ONE, "jax", cwd=tmp_path, dropout=p)
        entries.append(sorted(path.name for path in cache.iterdir()))
    # The first model fills the cache; the others compile nothing new.
    assert entries[0] and entries[1] == entries[0] and entries[2] == entries[0]


# Records the rows of every batch the training step received: column 0 of the
# inputs is overwritten with the row's index, and the step reports it from
# inside the compiled function (tf.py_function on TensorFlow, a JAX callback).
SERVED_BATCHES = """
import json, sys
import numpy as np
from mnist_dropout.backend import configure_backend, select_backend
from mnist_dropout.cpus import claim_cpus
claim_cpus(1)
select_backend({backend!r})
from mnist_dropout.dataset import load_dataset, preprocess, save_dataset
from mnist_dropout.idx import load_idx
from mnist_dropout.model import build_model, compile_model
from mnist_dropout.training import train_model

served = []


def record(rows):
    served.append(np.asarray(rows).astype(int).tolist())


configure_backend(threads=1, seed=5)
x, y = preprocess(load_idx({images!r}), load_idx({labels!r}))
x, y = x[:1000].copy(), y[:1000]
x[:, 0] = np.arange(1000)
# Through the preprocessed dataset's files, mapped as jobs map them.
x = load_dataset(save_dataset(".", x, y, x[:1], y[:1]), splits=["train"])["x_train"]
model = compile_model(build_model(0.0, hidden_units=[32]), steps_per_execution={steps_per_execution})
step = model.train_step
if {backend!r} == "tensorflow":
    import tensorflow as tf

    def recorded_step(data):
        tf.py_function(record, [data[0][:, 0]], [])
        return step(data)

else:
    import jax

    def recorded_step(state, data):
        jax.debug.callback(record, data[0][:, 0], ordered=True)
        return step(state, data)

model.train_step = recorded_step
history = train_model(model, x, y, dict(batch_size=128, epochs=3, validation_split=0.1, early_stopping=None), seed=5)
print("SERVED", json.dumps(served))
print("VAL_LOSS", json.dumps([row["val_loss"] for row in history]))
"""


@pytest.fixture(scope="module")
def served_batches(tmp_path_factory):
    """{(backend, steps_per_execution): ([rows of each batch the training step
    received, in order], validation loss per epoch)}."""
    runs = [("tensorflow", 1), ("tensorflow", 3), ("jax", 1), ("jax", 3)]
    folders = [tmp_path_factory.mktemp("served") for _ in runs]

    def serve(run, folder):
        backend, steps = run
        return run_on_subset(SERVED_BATCHES, backend, cwd=folder, steps_per_execution=steps)

    # Two processes at a time, each on a CPU of its own (claim_cpus).
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        outputs = list(pool.map(serve, runs, folders))
    served = {}
    for run, stdout in zip(runs, outputs):
        lines = dict(line.split(" ", 1) for line in stdout.splitlines() if line.startswith(("SERVED ", "VAL_LOSS ")))
        served[run] = json.loads(lines["SERVED"]), json.loads(lines["VAL_LOSS"])
    return served


@pytest.mark.workflow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_fit_reshuffles_the_training_split_every_epoch(served_batches, backend):
    batches, _ = served_batches[backend, 1]
    # 900 training rows (the last 100 of 1000 held out) in batches of 128: 7 full
    # and one of 4 per epoch, for 3 epochs.
    assert [len(rows) for rows in batches] == ([128] * 7 + [4]) * 3
    orders = []
    for epoch in range(3):
        order = [row for rows in batches[8 * epoch : 8 * (epoch + 1)] for row in rows]
        assert sorted(order) == list(range(900))  # every training row once, no validation row
        # drawn from (seed, epoch) alone, never a stale order read ahead
        assert order == np.random.default_rng([5, epoch]).permutation(900).tolist()
        orders.append(order)
    assert orders[0] != orders[1] and orders[1] != orders[2] and orders[0] != orders[2]


@pytest.mark.workflow
def test_both_backends_train_on_the_same_batches(served_batches):
    assert served_batches["tensorflow", 1][0] == served_batches["jax", 1][0]


@pytest.mark.workflow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_steps_per_execution_changes_neither_batches_nor_results(served_batches, backend):
    assert served_batches[backend, 3] == served_batches[backend, 1]


def test_validation_split_holds_out_the_last_rows_as_keras_does():
    x, y = np.arange(1000).reshape(-1, 1), np.arange(1000)
    (x_train, y_train), (x_val, y_val) = split_validation(x, y, 0.1)
    keras_train, keras_validation = keras.src.trainers.data_adapters.array_slicing.train_validation_split(
        (x, y), validation_split=0.1
    )
    assert (x_train == keras_train[0]).all() and (y_val == keras_validation[1]).all()
    assert y_train.tolist() == list(range(900)) and y_val.tolist() == list(range(900, 1000))
