"""Every model kept under results/: its settings, code version, status, test
accuracy, and whether the current config and code use it; and removing those
they do not.

    python -m mnist_dropout.runs [--configfile my.yaml ...] [--results results] [--prune [--yes]]

Run in the workflow's folder (its config.yaml and scripts/ are the current
config and code), with the --configfile overlays of the run it should compare
with (Snakemake's --config is not read: put such values in an overlay). Prints one Markdown table row per model folder (an
interrupted one included), with the training settings in which the settings
folders differ. --prune lists the model folders the current config and code do
not use and deletes them once confirmed (--yes confirms without asking)."""

import argparse
import hashlib
import json
import re
import shutil
import sys
from pathlib import Path

from .paths import MODEL_DIR, SETTINGS_FILE
from .reading import MODEL_FILE_READERS, DamagedFileError, read_yaml
from .settings import WORKFLOW_DIR, ConfigError, load_config, runs, settings_grid, workflow_code
from .tables import markdown_table, setting_text

STATUSES = {
    "evaluated": ("model.keras", "history.csv", "train_info.json", "metrics.json", "predictions.npz"),
    "trained": ("model.keras", "history.csv", "train_info.json"),
}
# A model folder's path as MODEL_DIR spells it, its fields as named groups.
MODEL_DIR_PATTERN = re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(MODEL_DIR)) + "$")


def _path(results_dir, pattern, **fields):
    """`pattern` (a path under results/, of mnist_dropout.paths) under `results_dir`."""
    return Path(results_dir) / pattern.format(**fields).removeprefix("results/")


def read_or_none(path, read):
    """read(path) (a reader of mnist_dropout.reading), or None if the file is
    missing or damaged."""
    try:
        return read(path)
    except DamagedFileError:
        return None


def read_model_file(model_dir, name):
    """The kept file `name` of a model folder, read and checked; None if it is
    missing or damaged."""
    return read_or_none(model_dir / name, MODEL_FILE_READERS[name])


def damage(model_dir):
    """The DamagedFileError of the first damaged file of `model_dir`, or None."""
    for name, read in MODEL_FILE_READERS.items():
        if (model_dir / name).is_file():
            try:
                read(model_dir / name)
            except DamagedFileError as error:
                return error
    return None


def model_status(model_dir):
    """'evaluated', 'trained' (not yet evaluated), 'incomplete' or 'damaged'
    (a kept file unreadable or cut short: see damage)."""
    if damage(model_dir):
        return "damaged"
    present = {path.name for path in model_dir.iterdir()}
    return next((status for status, names in STATUSES.items() if present.issuperset(names)), "incomplete")


def settings_file(results_dir, fields):
    """The settings.yaml of the settings folder of a model (`fields` as
    model_dirs gives them)."""
    return _path(results_dir, SETTINGS_FILE, **fields)


def model_dirs(results_dir):
    """[(model folder, {settings, dropout, seed})] of every model folder under
    `results_dir`, those of interrupted runs included, in a fixed order."""
    found = []
    for path in Path(results_dir).glob(MODEL_DIR.removeprefix("results/").format(settings="*", dropout="*", seed="*")):
        match = MODEL_DIR_PATTERN.search("results/" + path.relative_to(results_dir).as_posix())
        try:
            fields = {"settings": match["settings"], "dropout": float(match["dropout"]), "seed": int(match["seed"])}
        except (TypeError, ValueError):
            continue  # not a model folder the workflow names
        if path.is_dir():
            found.append((path, fields))
    return sorted(found, key=lambda item: (item[1]["settings"], item[1]["dropout"], item[1]["seed"]))


def kept_models_state(results_dir, excluded=()):
    """A digest of the names, sizes and modification times of the files of every
    model folder under `results_dir` but those of `excluded` ((settings,
    dropout, seed)), and of their settings.yaml: it changes when such a folder
    or its files do, without reading them."""
    digest = hashlib.sha256()
    for model_dir, fields in model_dirs(results_dir):
        if (fields["settings"], fields["dropout"], fields["seed"]) in excluded:
            continue
        digest.update(f"{model_dir.relative_to(results_dir)}\n".encode())
        for path in sorted([*model_dir.iterdir(), settings_file(results_dir, fields)]):
            if path.is_file():
                stat = path.stat()
                digest.update(f"{path.relative_to(results_dir)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def code_version_text(environment):
    """ "COMMIT" (12 digits), with "+ changes" if the checkout had uncommitted ones."""
    code = (environment or {}).get("code")
    if not code:
        return "unknown"
    commit = code["git_commit"]
    if commit == "not a git checkout":
        return commit
    return commit[:12] + (" + changes" if code.get("uncommitted_changes") else "")


def read_settings(results_dir, fields):
    """A model's settings.yaml (settings_file), or None if it is missing or unreadable."""
    return read_or_none(settings_file(results_dir, fields), read_yaml)


def training_settings(results_dir, folders):
    """{settings key: training settings} of the model folders `folders` (as
    model_dirs gives them): from settings.yaml, else from a model's train_info.json."""
    trained_with = {}
    for model_dir, fields in folders:
        described = read_settings(results_dir, fields)
        info = read_model_file(model_dir, "train_info.json")
        train = (described or {}).get("train") or (info or {}).get("train")
        if train is not None:
            trained_with.setdefault(fields["settings"], train)
    return trained_with


def list_runs(results_dir, current=None):
    """[{settings, the differing training settings..., dropout, seed, code,
    status, test_accuracy, current}] of every model folder under `results_dir`;
    `current` is the set of (settings, dropout, seed) the config and code use."""
    folders = model_dirs(results_dir)
    trained_with = training_settings(results_dir, folders)
    keys = sorted({key for train in trained_with.values() for key in train})
    varying = [k for k in keys if len({json.dumps(t.get(k)) for t in trained_with.values()}) > 1] or keys
    rows = []
    for model_dir, fields in folders:
        status = model_status(model_dir)
        info = read_model_file(model_dir, "train_info.json") or {}
        metrics = read_model_file(model_dir, "metrics.json") or {}
        train = trained_with.get(fields["settings"], {})
        rows.append(
            {
                "path": model_dir,
                "settings": fields["settings"],
                **{key: train.get(key) for key in varying},
                "dropout": fields["dropout"],
                "seed": fields["seed"],
                "code": code_version_text(info.get("environment")),
                "status": status,
                "test_accuracy": metrics.get("test_accuracy"),
                "current": (
                    None if current is None else (fields["settings"], fields["dropout"], fields["seed"]) in current
                ),
            }
        )
    return rows


def current_runs(config, workflow=WORKFLOW_DIR):
    """{(settings, dropout, seed)} of the models the config and the code of the
    workflow folder `workflow` use."""
    return set(runs(config, settings_grid(config, workflow_code(Path(workflow) / "scripts"))))


def markdown(rows):
    if not rows:
        return "No models under results/models yet."
    columns = [column for column in rows[0] if column != "path"]

    def cell(key, value):
        if value is None:
            return ""
        if key == "test_accuracy":
            return f"{value:.4f}"
        if key == "current":
            return "yes" if value else "no"
        return setting_text(value)

    return markdown_table(columns, [[cell(key, row[key]) for key in columns] for row in rows])


def prune(results_dir, rows, confirm):
    """Delete the model folders of `rows` not current once `confirm()` agrees,
    then each settings folder left without models; returns what was deleted."""
    unused = [row for row in rows if not row["current"]]
    if not unused or not confirm(unused):
        return []
    deleted = []
    for row in unused:
        model_dir = row["path"]
        shutil.rmtree(model_dir)
        deleted.append(model_dir)
        for folder in (model_dir.parent, model_dir.parent.parent):
            remaining = {path.name for path in folder.iterdir()} if folder.exists() else set()
            if remaining <= {Path(SETTINGS_FILE).name}:
                shutil.rmtree(folder, ignore_errors=True)
    return deleted


def _ask(unused):
    print(f"\nDelete these {len(unused)} model folders, which the current config and code do not use? [y/N] ", end="")
    return sys.stdin.isatty() and input().strip().lower() in ("y", "yes")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", nargs="*", default=[], help="config overlays of the run to compare with")
    parser.add_argument("--results", default="results", help="the results folder (default: results)")
    parser.add_argument("--prune", action="store_true", help="delete the models not in use, once confirmed")
    parser.add_argument("--yes", action="store_true", help="with --prune: delete without asking")
    args = parser.parse_args(argv)
    # The workflow folder run in, else this package's own.
    workflow = Path.cwd() if (Path.cwd() / "Snakefile").is_file() else WORKFLOW_DIR
    try:
        config = load_config(args.configfile, workflow / "config.yaml")
    except ConfigError as error:
        sys.exit(str(error))
    rows = list_runs(args.results, current_runs(config, workflow))
    print(markdown(rows))
    for row in rows:
        if row["status"] == "damaged":
            print(damage(row["path"]))
    if args.prune:
        unused = [row for row in rows if not row["current"]]
        print(
            "\n".join(["", "Not used by the current config and code:", markdown(unused)]) if unused else "\nAll in use."
        )
        deleted = prune(args.results, rows, (lambda _rows: True) if args.yes else _ask)
        print(f"Deleted {len(deleted)} model folders." if deleted else "Nothing deleted.")


if __name__ == "__main__":
    main()
