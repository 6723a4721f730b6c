"""docs/extending.md's recipes, applied as a user applies them (`git apply`) to
a scratch copy of the workflow, then run: another network, trained, saved,
evaluated and loaded with plain Keras on both backends; a new training setting,
validated and swept."""

import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import CONFIGS, REPO, SUBSET, copy_workflow, dataset_files, planned_jobs, snakemake, write_yaml

pytestmark = pytest.mark.workflow

RECIPES = REPO / "docs" / "extending.md"


def patched_workflow(folder, number):
    """A scratch copy of the workflow with the `number`th diff of extending.md applied."""
    patches = re.findall(r"^```diff\n(.*?)^```$", RECIPES.read_text(), flags=re.DOTALL | re.MULTILINE)
    copy_workflow(folder)
    subprocess.run(["git", "apply", "--verbose", "-"], input=patches[number], cwd=folder, check=True, text=True)
    return folder


def with_the_runs_dataset(run, workdir):
    """`workdir` holding the shared run's downloaded and preprocessed subset."""
    shutil.copytree(run[0] / "results" / "data", workdir / "results" / "data")
    return workdir


@pytest.fixture(scope="module")
def tanh_batch_norm(run, tmp_path_factory):
    """The network recipe's workflow and a run of it on the subset: p = 0.3,
    seed 0, 3 epochs, on JAX and on TensorFlow (a sweep of the backend)."""
    workflow = patched_workflow(tmp_path_factory.mktemp("tanh-batch-norm"), 0)
    workdir = with_the_runs_dataset(run, tmp_path_factory.mktemp("run"))
    overlay = {
        "data": {"mirrors": [str(SUBSET)]},
        "dropout": [0.3],
        "train": {"epochs": 3},
        "sweep": {"backend": ["jax", "tensorflow"]},
    }
    configs = [CONFIGS / "subset_sha256.yaml", write_yaml(workdir / "overlay.yaml", overlay)]
    snakemake(workdir, "--cores", "2", configs=configs, workflow=workflow)
    return workflow, workdir


# Trains the model of `folder` again, as its job did (a CPU of its own, the
# backend, the seed, the same data and settings), with the scratch copy's code;
# prints the moving statistics of each BatchNormalization layer it trained.
RETRAIN = """
import json, sys, types
from pathlib import Path
import yaml
from mnist_dropout.backend import start_job
from mnist_dropout.dataset import load_dataset
folder, data, out = Path(sys.argv[1]), sys.argv[2:6], Path(sys.argv[6])
settings = yaml.safe_load((folder.parents[1] / "settings.yaml").read_text())
start_job(settings, sys.argv[7], 1, 0)
from mnist_dropout.training import train_and_evaluate
names = {"model": "model.keras", "history": "history.csv", "info": "train_info.json"}
names.update(metrics="metrics.json", predictions="predictions.npz")
output = types.SimpleNamespace(**{key: out / name for key, name in names.items()})
model = train_and_evaluate(load_dataset(data), "0.3", 0, settings["train"], 32, {}, output)
print("STATE", json.dumps([[w.name, w.numpy().tobytes().hex()] for w in model.weights if "moving" in w.name]))
"""

# Loads `model.keras` files with plain Keras, in a process that cannot import
# this package: prints each one's layers, moving statistics and the largest
# difference of its predictions from its job's stored probabilities.
PLAIN_KERAS = """
import importlib.util, json, sys
sys.path[:] = [path for path in sys.path if not path.startswith({repo!r}) or path.startswith(sys.prefix)]
assert importlib.util.find_spec("mnist_dropout") is None
import keras, numpy as np
x_test = np.load({x_test!r})
for folder in {folders!r}:
    model = keras.saving.load_model(folder + "/model.keras")
    with np.load(folder + "/predictions.npz") as stored:
        difference = float(np.abs(model.predict(x_test, verbose=0) - stored["probabilities"]).max())
    state = [[w.name, np.asarray(w.numpy()).tobytes().hex()] for w in model.weights if "moving" in w.name]
    activations = [getattr(getattr(layer, "activation", None), "__name__", None) for layer in model.layers]
    layers = [[type(layer).__name__, activation] for layer, activation in zip(model.layers, activations)]
    print("LOADED", json.dumps([folder, layers, state, difference]))
"""


def python(code, *args, env=None, cwd=None):
    result = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [
        json.loads(line.split(" ", 1)[1])
        for line in result.stdout.splitlines()
        if line.startswith(("STATE ", "LOADED "))
    ]


def test_the_network_recipe_trains_saves_and_loads_every_layers_state(tanh_batch_norm, tmp_path):
    workflow, workdir = tanh_batch_norm
    folders = sorted(str(path.parent) for path in (workdir / "results" / "models").glob("*/p0.3/seed0/model.keras"))
    assert len(folders) == 2  # one per backend
    data = [str(path) for path in dataset_files(workdir).values()]

    def retrain(folder):
        out = tmp_path / folder.split("/")[-3]
        out.mkdir()
        scratch = {**os.environ, "PYTHONPATH": str(workflow / "scripts")}  # the recipe's code, not this checkout's
        return python(RETRAIN, folder, *data, out, workflow / "scripts", env=scratch, cwd=workdir)[0]

    def load(backend):
        environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        code = PLAIN_KERAS.format(repo=str(REPO), x_test=data[2], folders=folders)
        return python(code, env={**environment, "KERAS_BACKEND": backend}, cwd=tmp_path)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        trained = list(pool.map(retrain, folders))
        loaded = dict(zip(["jax", "tensorflow"], pool.map(load, ["jax", "tensorflow"])))
    for backend, models in loaded.items():
        for (folder, layers, state, difference), trained_state in zip(models, trained, strict=True):
            assert layers == [["Dense", "tanh"], ["BatchNormalization", None], ["Dropout", None]] * 2 + [
                ["Dense", "softmax"]
            ]
            # Two layers' moving means and variances, as trained, bit for bit.
            assert len(state) == 4 and state == trained_state, (backend, folder)
            assert difference <= 1e-5, (backend, folder)
    # The NumPy check followed the new layers.
    for folder in folders:
        metrics = json.loads(open(folder + "/metrics.json").read())
        assert metrics["numpy_forward_max_abs_difference"] < 1e-5 and metrics["test_accuracy"] > 0.6


def test_an_activation_the_numpy_pass_cannot_compute_stops_before_training(run, tmp_path):
    workflow = copy_workflow(tmp_path / "workflow")
    model = workflow / "scripts" / "mnist_dropout" / "model.py"
    model.write_text(model.read_text().replace('activation="relu"', 'activation="gelu"', 1))
    overlay = write_yaml(tmp_path / "one.yaml", {"dropout": [0.3], "train": {"epochs": 1}})
    workdir = with_the_runs_dataset(run, tmp_path / "run")
    result = snakemake(workdir, "--cores", "1", configs=[*run[1], overlay], workflow=workflow, check=False)
    assert result.returncode != 0
    (log,) = (tmp_path / "run" / "results" / "logs" / "train").glob("*/p0.3_seed0.log")
    errors = [line for line in log.read_text().splitlines() if line.startswith("ERROR")]
    assert errors == [
        "ERROR: layer dense: activation gelu has no NumPy forward pass; use one of linear, relu, tanh, sigmoid, "
        "softmax, elu, selu, softplus, or add it to mnist_dropout.evaluation.ACTIVATIONS"
    ]
    assert "Epoch 1" not in log.read_text()
    assert not list((tmp_path / "run" / "results" / "models").glob("*/p0.3/seed0/*"))


def test_the_setting_recipe_adds_a_setting_the_schema_checks_and_a_sweep_trains(run, tmp_path):
    workdir, configs = run
    workflow = patched_workflow(tmp_path / "workflow", 1)
    sweep = write_yaml(tmp_path / "sweep.yaml", {"sweep": {"activation": ["relu", "tanh"]}})
    planned = planned_jobs(workdir, [*configs, sweep], workflow=workflow)
    assert planned["train_and_evaluate"] == 2 * 3 and planned["describe_settings"] == 2
    wrong = write_yaml(tmp_path / "wrong.yaml", {"train": {"activation": "swish"}})
    result = snakemake(workdir, "--dry-run", configs=[*configs, wrong], workflow=workflow, check=False)
    assert result.returncode != 0 and "train.activation" in result.stdout + result.stderr
