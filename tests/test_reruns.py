"""What reruns: the real workflow through `snakemake` on the shipped MNIST
subset, planned (dry runs) and run again after a config or code change."""

import ast
import base64
import contextlib
import json
import re
import shutil
import subprocess
import zipfile

import pytest
import yaml

from conftest import (
    DROPOUTS,
    REPO,
    copy_workflow,
    SUBSET,
    model_dir,
    planned_jobs,
    png_size,
    read_summary,
    settings_of,
    snakemake,
    write_yaml,
)
from mnist_dropout import runs
from mnist_dropout.config import load_config
from mnist_dropout.paths import figure_paths
from mnist_dropout.kept import read_csv
from mnist_dropout.runs import current_runs, list_runs

pytestmark = pytest.mark.workflow


def test_rerun_without_changes_does_nothing(run):
    workdir, configs = run
    assert planned_jobs(workdir, configs) == {}


DOWNSTREAM = ["aggregate", "plot_curves", "plot_test_accuracy", "plot_fscore", "plot_failures", "all"]


def retrained(models):
    """The jobs after `models` new or changed models: their training and
    evaluation (one job each), then every aggregation and figure once."""
    return {**({"train_and_evaluate": models} if models else {}), **{rule: 1 for rule in DOWNSTREAM}}


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"analysis": {"failure_digit": 3}}, {"plot_failures": 1, "all": 1}),
        ({"train": {"steps_per_execution": 16}}, {}),
        ({"train": {"threads": 2}}, {}),
        ({"analysis": {"dropout": 0.5}}, {"plot_fscore": 1, "plot_failures": 1, "all": 1}),
        ({"dropout": DROPOUTS + [0.2]}, retrained(1)),
        ({"seeds": [0, 1]}, retrained(3)),
        # New training settings: a new settings folder, its models and its description.
        ({"train": {"epochs": 9}}, {"describe_settings": 1, **retrained(3)}),
        ({"train": {"backend": "tensorflow"}}, {"describe_settings": 1, **retrained(3)}),
        ({"train": {"optimizer": "adam"}}, {"describe_settings": 1, **retrained(3)}),
        (
            {"train": {"early_stopping": {"monitor": "val_loss", "patience": 2, "restore_best_weights": True}}},
            {"describe_settings": 1, **retrained(3)},
        ),
        # A sweep of one value each is the config without it: nothing to redo.
        ({"sweep": {"learning_rate": [0.001], "hidden_units": [[512, 512]], "backend": ["jax"]}}, {}),
        ({"sweep": {"batch_size": [128, 64]}}, {"describe_settings": 1, **retrained(3)}),
        # Where the verified bytes come from is not what they are.
        ({"data": {"mirrors": [f"file://{SUBSET}"]}}, {}),
        ({"data": {"mirrors": ["http://127.0.0.1:9/mnist/", str(SUBSET)]}}, {}),
        ({"data": {"mirrors": [str(SUBSET), "https://example.org/mnist/"]}}, {}),
        # A checksum is what the bytes are: that file is fetched again, and what follows rerun.
        (
            {"data": {"sha256": {"t10k-labels-idx1-ubyte": "0" * 64}}},
            {"download": 1, "preprocess": 1, "describe_settings": 1, **retrained(3)},
        ),
    ],
    ids=[
        "failure_digit",
        "steps_per_execution",
        "threads",
        "analysis_dropout",
        "add_dropout",
        "add_seed",
        "epochs",
        "backend",
        "optimizer",
        "restore_best_weights",
        "one_value_sweep",
        "sweep_adds_a_value",
        "mirror_as_file_url",
        "mirror_added_before",
        "mirror_added_after",
        "sha256",
    ],
)
def test_config_change_reruns_exactly_what_it_affects(run, tmp_path, change, expected):
    workdir, configs = run
    assert planned_jobs(workdir, configs + [write_yaml(tmp_path / "change.yaml", change)]) == expected


def test_downloading_again_retrains_nothing(run, tmp_path):
    source, configs = run
    workdir = tmp_path / "copy"
    shutil.copytree(source, workdir)
    raw = sorted((workdir / "results" / "data" / "raw").iterdir())
    for path in raw:
        path.unlink()
    # Nothing needs them until something reads them again.
    assert planned_jobs(workdir, configs) == {}
    snakemake(workdir, "--cores", "1", *(path.relative_to(workdir) for path in raw), configs=configs)
    # The same bytes, newer: the dataset is rebuilt in its folder; the models,
    # trained on that folder's content, are not (nor the failure figure:
    # Snakemake sees the test images' checksum unchanged).
    assert planned_jobs(workdir, configs) == {"preprocess": 1}


def test_settings_revisited_train_nothing_and_give_the_same_results(run, two_settings, tmp_path):
    source, configs = run
    first = settings_of(source)
    assert planned_jobs(source, two_settings[2]) == {"describe_settings": 1, **retrained(3)}
    # The run's folder after that plan ran (the fixture two_settings).
    workdir = tmp_path / "copy"
    shutil.copytree(two_settings[0], workdir)
    second = settings_of(workdir)
    assert second != first
    # Both sets of models are kept, each folder with what it was trained with.
    described = yaml.safe_load((workdir / "results" / "models" / second / "settings.yaml").read_text())
    assert described["train"]["learning_rate"] == 0.0005 and "threads" not in described["train"]
    assert len(list((workdir / "results" / "models").glob("*/p*/seed0/model.keras"))) == 2 * len(DROPOUTS)
    assert f"## Trained with settings {second}" in (workdir / "results" / "summary.md").read_text()
    # Back to the first settings: no training, and the same tables and figures, byte for byte.
    assert planned_jobs(workdir, configs) == retrained(0)
    snakemake(workdir, "--cores", "2", configs=configs)
    for path in ["results/summary.csv", "results/summary.md", *figure_paths(8)]:
        assert (workdir / path).read_bytes() == (source / path).read_bytes(), path
    # Listing what is kept: both settings, with the setting in which they differ,
    # the code version, and which the current config and code use; a folder left
    # by a job killed before writing anything, and one of a settings folder
    # interrupted before its settings.yaml, listed too.
    (model_dir(workdir, 0.5) / "metrics.json").unlink()
    models = workdir / "results" / "models"
    (models / second / "p0.7" / "seed0").mkdir(parents=True)
    shutil.copytree(models / first / "p0.0" / "seed0", models / "0123456789ab" / "p0.0" / "seed0")
    kept = list_runs(workdir / "results", current_runs(load_config(configs)))
    expected = [
        (key, rate, p, status, key == first)
        for key, rate, ps in (
            ("0123456789ab", 0.001, [0.0]),
            (first, 0.001, DROPOUTS),
            (second, 0.0005, DROPOUTS + [0.7]),
        )
        for p in ps
        for status in ["incomplete" if p == 0.7 else "trained" if (key, p) == (first, 0.5) else "evaluated"]
    ]
    assert [(r["settings"], r["learning_rate"], r["dropout"], r["status"], r["current"]) for r in kept] == sorted(
        expected
    )
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert {row["code"].split()[0] for row in kept if row["status"] != "incomplete"} == {commit[:12]}
    accuracies = {float(row["dropout"]): float(row["test_accuracy"]) for row in read_summary(source)}
    assert {row["dropout"]: row["test_accuracy"] for row in kept if row["settings"] == first} == {
        **accuracies,
        0.5: None,
    }
    # Pruning deletes nothing unless confirmed, then exactly the models not in use.
    before = sorted(models.rglob("*"))
    runs.main(["--results", str(workdir / "results"), "--configfile", *map(str, configs), "--prune"])
    assert sorted(models.rglob("*")) == before
    runs.main(["--results", str(workdir / "results"), "--configfile", *map(str, configs), "--prune", "--yes"])
    assert sorted(path.name for path in models.iterdir()) == [first]
    assert [path for path in before if first in path.parts] == sorted(models.rglob("*"))


def test_a_grid_trains_exactly_its_new_cells(run, two_settings, tmp_path):
    source, configs = run
    first = settings_of(source)
    rates = {"learning_rate": [0.001, 0.0005]}
    with_rates = configs + [write_yaml(tmp_path / "rates.yaml", {"sweep": rates})]
    assert planned_jobs(source, with_rates) == {"describe_settings": 1, **retrained(3)}
    # Its models are those of train.learning_rate: 0.0005 (two_settings): sweeping trains nothing more.
    workdir = tmp_path / "copy"
    shutil.copytree(two_settings[0], workdir)
    models = {path: path.stat().st_mtime_ns for path in (workdir / "results" / "models").rglob("model.keras")}
    assert planned_jobs(workdir, with_rates) == retrained(0)
    snakemake(workdir, "--cores", "2", configs=with_rates)
    # The analysed model is the best p of train:'s settings, not of the sweep.
    assert (workdir / "results" / "analysis" / "precision_recall.csv").read_bytes() == (
        source / "results" / "analysis" / "precision_recall.csv"
    ).read_bytes()
    # A second setting, at one p: only the cells with the new width are trained.
    sweep = {**rates, "hidden_units": [[512, 512], [64, 64]]}
    grid = configs + [write_yaml(tmp_path / "grid.yaml", {"dropout": [0.3], "sweep": sweep})]
    assert planned_jobs(workdir, grid) == {"describe_settings": 2, **retrained(2)}
    snakemake(workdir, "--cores", "2", configs=grid)
    assert {path: path.stat().st_mtime_ns for path in models} == models
    rows = read_summary(workdir)
    # Combinations in the order of the sweep as written (safe_dump sorts it: hidden_units first).
    assert [(row["hidden_units"], row["learning_rate"], float(row["dropout"])) for row in rows] == [
        (units, rate, 0.3) for units in ("[512, 512]", "[64, 64]") for rate in ("0.001", "0.0005")
    ]
    for row in rows:
        described = yaml.safe_load((workdir / "results" / "models" / row["settings"] / "settings.yaml").read_text())
        assert [described["train"]["learning_rate"], described["train"]["hidden_units"]] == [
            float(row["learning_rate"]),
            json.loads(row["hidden_units"]),
        ]
        assert 0.6 < float(row["test_accuracy"]) <= 1
    # train: names the analysed combination: the first run's, with the same metrics.
    assert {k: v for k, v in rows[0].items() if k not in sweep} == read_summary(source)[DROPOUTS.index(0.3)]
    analysed = json.loads((model_dir(source, 0.3) / "metrics.json").read_text())
    table = read_csv(workdir / "results" / "analysis" / "precision_recall.csv")
    assert [[row[name] for name in ("precision", "recall", "f1")] for row in table] == [
        list(values) for values in zip(analysed["precision"], analysed["recall"], analysed["f1"])
    ]
    assert f"settings {first}, p = 0.3" in (workdir / "results" / "logs" / "plot_failures_8.log").read_text()
    assert len({row["settings"] for row in rows}) == 4 and len(list_runs(workdir / "results")) == 8
    # The key figure: one line per combination, each with its accuracies.
    assert png_size(workdir / "results" / "figures" / "test_acc_dropout.png") == (1080, 660)
    # The report holds the settings of every run shown.
    report = tmp_path / "report.html"
    snakemake(workdir, "--report", str(report), configs=grid)
    html = report.read_text()
    for key in {row["settings"] for row in rows}:
        described = (workdir / "results" / "models" / key / "settings.yaml").read_bytes()
        assert base64.b64encode(described).decode() in html, key
    # Without the sweep: nothing trains, and the tables and figures are the first run's.
    assert planned_jobs(workdir, configs) == retrained(0)
    snakemake(workdir, "--cores", "2", configs=configs)
    for path in ["results/summary.csv", "results/summary.md", *figure_paths(8)]:
        assert (workdir / path).read_bytes() == (source / path).read_bytes(), path


def test_failure_digit_change_redraws_without_training(run, tmp_path):
    source, configs = run
    workdir = tmp_path / "copy"
    shutil.copytree(source, workdir)
    models = sorted((workdir / "results" / "models").rglob("*"))
    before = {path: path.stat().st_mtime_ns for path in models}
    change = write_yaml(tmp_path / "digit.yaml", {"analysis": {"failure_digit": 3}})
    result = snakemake(workdir, "--cores", "2", configs=configs + [change])
    assert sorted(set(re.findall(r"localrule (\w+):|^rule (\w+):", result.stderr, flags=re.MULTILINE))) == [
        ("all", ""),
        ("plot_failures", ""),
    ]
    assert png_size(workdir / "results" / "figures" / "failure3.png")[0] >= 600
    assert {path: path.stat().st_mtime_ns for path in models} == before


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory):
    """A second checkout of the workflow (conftest.copy_workflow), to edit."""
    return copy_workflow(tmp_path_factory.mktemp("code"))


@contextlib.contextmanager
def edited(path, old, new):
    """`path` with `old` replaced by `new` (appended if `old` is empty), restored after."""
    original = path.read_text()
    assert old in original
    path.write_text(original.replace(old, new, 1) if old else original + new)
    try:
        yield
    finally:
        path.write_text(original)


def test_comment_docstring_and_layout_edits_of_every_module_plan_no_job(run, workflow_copy):
    workdir, configs = run
    assert planned_jobs(workdir, configs, workflow=workflow_copy) == {}
    scripts = workflow_copy / "scripts"
    originals = {path: path.read_text() for path in [*scripts.glob("*.py"), *scripts.glob("mnist_dropout/*.py")]}
    try:
        for path, source in originals.items():
            # Reformatted (ast.unparse lays it out anew, dropping comments),
            # docstrings reworded, a comment added.
            tree = ast.parse(source)
            for node in ast.walk(tree):
                body = getattr(node, "body", None)
                if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
                    if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                        body[0].value.value = "Reworded. " + body[0].value.value
            path.write_text("# edited\n" + ast.unparse(tree) + "\n")
        assert planned_jobs(workdir, configs, workflow=workflow_copy) == {}
    finally:
        for path, source in originals.items():
            path.write_text(source)


# What an edit of what the code does reruns. A model's folder is named by the
# code that trains and evaluates it, and the dataset's by the preprocessing code:
# such edits train new models into new folders.
NEW_MODELS = {"describe_settings": 1, **retrained(3)}
CODE_CHANGES = {
    "mnist_dropout/figures.py": {rule: 1 for rule in DOWNSTREAM if rule != "aggregate"},
    "mnist_dropout/tables.py": retrained(0),
    "plot_fscore.py": {"plot_fscore": 1, "all": 1},
    "mnist_dropout/model.py": NEW_MODELS,
    "mnist_dropout/files.py": NEW_MODELS,
    "mnist_dropout/evaluation.py": NEW_MODELS,
    "train_and_evaluate.py": NEW_MODELS,
    "mnist_dropout/dataset.py": {"preprocess": 1, **NEW_MODELS},
    "mnist_dropout/idx.py": {"preprocess": 1, **NEW_MODELS},
    # The checksums pin what is downloaded: its code changes nothing.
    "mnist_dropout/mirrors.py": {},
    "download.py": {},
    "mnist_dropout/runs.py": {},
    # Reads the kept files for the tables, figures, listing and export: editing it redraws, trains nothing.
    "mnist_dropout/kept.py": retrained(0),
    # The MLflow export is no part of the default target.
    "mnist_dropout/tracking.py": {},
    "export_mlflow.py": {},
}


@pytest.mark.parametrize("module", CODE_CHANGES)
def test_editing_what_code_does_reruns_exactly_the_jobs_that_run_it(run, workflow_copy, module):
    workdir, configs = run
    with edited(workflow_copy / "scripts" / module, "", "\nEDITED_BY_THE_TEST = True\n"):
        assert planned_jobs(workdir, configs, workflow=workflow_copy) == CODE_CHANGES[module]


# Code in no key (settings.NOT_KEYED): fault lines, CPU claims, provenance records.
@pytest.mark.parametrize(
    "module, old, new",
    [
        ("mnist_dropout/jobs.py", '"free space on its filesystem"', '"make room on its filesystem"'),
        ("mnist_dropout/cpus.py", "POLL_SECONDS = 0.2", "POLL_SECONDS = 0.5"),
        ("mnist_dropout/provenance.py", '"the code changed since', '"the code was edited since'),
    ],
)
def test_rewording_faults_cpu_polling_or_provenance_plans_no_job(run, workflow_copy, module, old, new):
    workdir, configs = run
    with edited(workflow_copy / "scripts" / module, old, new):
        assert planned_jobs(workdir, configs, workflow=workflow_copy) == {}


def test_a_code_edit_trains_into_a_new_folder_with_the_checkouts_own_code(run, workflow_copy, tmp_path):
    source, configs = run
    workdir = tmp_path / "copy"
    shutil.copytree(source, workdir)
    first = settings_of(workdir)
    models = workdir / "results" / "models"
    kept = {path: path.read_bytes() for path in models.rglob("*") if path.is_file()}
    name = "keras.Sequential([keras.Input(shape=(input_dim,))]"
    one_model = configs + [write_yaml(tmp_path / "one_model.yaml", {"dropout": [0.3]})]
    with edited(workflow_copy / "scripts" / "mnist_dropout" / "model.py", name, name + ', name="edited_mlp"'):
        assert planned_jobs(workdir, one_model, workflow=workflow_copy) == {"describe_settings": 1, **retrained(1)}
        snakemake(workdir, "--cores", "2", configs=one_model, workflow=workflow_copy)
    second = settings_of(workdir)
    assert second != first
    # The old models keep their bytes; the new one was made by this checkout's
    # code, though the environment's package is the first checkout's.
    assert {path: path.read_bytes() for path in kept} == kept
    for folder, made_here in ((model_dir(workdir, 0.3), True), (model_dir(source, 0.3), False)):
        with zipfile.ZipFile(folder / "model.keras") as archive:
            assert ("edited_mlp" in archive.read("config.json").decode()) == made_here, folder
        code = json.loads((folder / "train_info.json").read_text())["environment"]["code"]
        # The digest of the code that ran is the one its settings folder is named by.
        planned = yaml.safe_load((folder.parent.parent / "settings.yaml").read_text())["code"]["digest"]
        assert code["digest"] == planned
        if made_here:
            assert code == {"digest": planned, "git_commit": "not a git checkout"}
        else:
            assert re.fullmatch(r"[0-9a-f]{40}", code["git_commit"]) and isinstance(code["uncommitted_changes"], bool)
    described = {key: yaml.safe_load((models / key / "settings.yaml").read_text()) for key in (first, second)}
    assert described[first]["train"] == described[second]["train"]
    differing = {
        name
        for name, digest in described[first]["code"]["files"].items()
        if digest != described[second]["code"]["files"][name]
    }
    assert differing == {"mnist_dropout/model.py"}
    # The edit undone: the first models again, no training.
    assert planned_jobs(workdir, configs, workflow=workflow_copy) == retrained(0)
    snakemake(workdir, "--cores", "2", configs=configs, workflow=workflow_copy)
    assert settings_of(workdir) == first
    for path in ["results/summary.csv", *figure_paths(8)]:
        assert (workdir / path).read_bytes() == (source / path).read_bytes(), path
