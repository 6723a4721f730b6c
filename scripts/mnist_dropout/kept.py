"""The results the workflow kept, read one way, each file checked: a damaged one
stops its reader with one line naming the file and what to do. Training does
not import this module: editing it trains nothing."""

import csv
import hashlib
import json
import re
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np
import yaml

from .files import HISTORY_COLUMNS
from .jobs import InputError
from .paths import MODEL_DIR, SETTINGS_FILE

# What goes wrong reading a damaged file.
DAMAGE = (OSError, ValueError, KeyError, EOFError, csv.Error, yaml.YAMLError, zipfile.BadZipFile)
SETTINGS_NAME = Path(SETTINGS_FILE).name  # in a model folder's grandparent
# A model folder's path as MODEL_DIR spells it, its fields as named groups.
MODEL_DIR_PATTERN = re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(MODEL_DIR)) + "$")


class DamagedFileError(InputError):
    """A kept file the workflow wrote is unreadable or incomplete."""


def damaged(path, problem):
    """The error for `path`, with the fix: its job run again (Snakemake remakes
    no file that is present, nor one whose products are present)."""
    path = Path(path)
    if path.name in MODEL_FILE_READERS:
        fix = (
            f"to train its model again, rerun snakemake with --forcerun {path} (a model of the current config), "
            f"or delete {path.parent}"
        )
    else:
        fix = f"to make it again, rerun snakemake with --forcerun {path}"
    return DamagedFileError(f"{path}: unreadable, or not what the workflow wrote ({problem}); {fix}")


def checked(path, read):
    """read(path), a damaged file raised as DamagedFileError."""
    try:
        return read(path)
    except DAMAGE as error:
        raise damaged(path, str(error) or type(error).__name__) from None


def _number(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _csv_rows(path, columns):
    text = Path(path).read_text()
    if not text.endswith("\n"):
        raise ValueError("its last line is cut short")
    reader = csv.DictReader(text.splitlines())
    missing = [column for column in columns if column not in (reader.fieldnames or ())]
    if missing:
        raise ValueError(f"no column {', '.join(missing)}")
    rows = []
    for row in reader:
        if None in row or None in row.values():
            raise ValueError(f"line {reader.line_num} does not have {len(reader.fieldnames)} fields")
        # A settings key stays text, even one that looks like a number ("1234e5678901").
        rows.append({key: value if key == "settings" else _number(value) for key, value in row.items()})
    if not rows:
        raise ValueError("no rows")
    return rows


def read_csv(path, columns=()):
    """Rows as dicts, numeric fields converted to int or float; the file must
    end in a newline and every row have every column, `columns` among them."""
    return checked(path, lambda path: _csv_rows(path, columns))


def _keys_of(data, keys):
    if not isinstance(data, (dict, set, np.lib.npyio.NpzFile)):
        raise ValueError(f"a {type(data).__name__}, not a mapping")
    missing = [key for key in keys if key not in data]
    if missing:
        raise KeyError(f"no {', '.join(missing)}")
    return data


def read_json(path, keys=()):
    """A JSON object holding `keys`."""
    return checked(path, lambda path: _keys_of(json.loads(Path(path).read_text()), keys))


def read_yaml(path, keys=()):
    """A YAML mapping holding `keys`."""
    return checked(path, lambda path: _keys_of(yaml.safe_load(Path(path).read_text()) or {}, keys))


def _predictions(path):
    with np.load(path, allow_pickle=False) as arrays:
        return {key: arrays[key] for key in _keys_of(arrays, ("y_true", "y_pred"))}


def _keras_archive(path):
    # A zip of the model's config and weights: its table of contents is read.
    with zipfile.ZipFile(path) as archive:
        return _keys_of(set(archive.namelist()), ("config.json", "model.weights.h5"))


# How each kept file of a model is read, with the keys its readers rely on.
MODEL_FILE_READERS = {
    "model.keras": lambda path: checked(path, _keras_archive),
    "history.csv": lambda path: read_csv(path, HISTORY_COLUMNS),
    "train_info.json": lambda path: read_json(path, ("train", "environment")),
    "metrics.json": lambda path: read_json(path, ("test_loss", "test_accuracy", "precision", "recall", "f1")),
    "predictions.npz": lambda path: checked(path, _predictions),
}
STATUSES = {
    "evaluated": ("model.keras", "history.csv", "train_info.json", "metrics.json", "predictions.npz"),
    "trained": ("model.keras", "history.csv", "train_info.json"),
}


def read_settings(path):
    """A settings folder's settings.yaml."""
    return read_yaml(path, ("train", "data", "code"))


def model_fields(model_dir):
    """{settings, dropout, seed} of a model folder's path; None for other paths."""
    match = MODEL_DIR_PATTERN.search(Path(model_dir).as_posix())
    try:
        return {"settings": match["settings"], "dropout": float(match["dropout"]), "seed": int(match["seed"])}
    except (TypeError, ValueError):
        return None


def by_model(paths):
    """{settings: {dropout: {seed: path}}} of model files, dropout and seed ascending."""
    grouped = {}
    for path in paths:
        fields = model_fields(Path(path).parent)
        grouped.setdefault(fields["settings"], {}).setdefault(fields["dropout"], {})[fields["seed"]] = path
    return {key: {p: dict(sorted(seeds.items())) for p, seeds in sorted(by_p.items())} for key, by_p in grouped.items()}


def model_dirs(results_dir):
    """Sorted [(folder, {settings, dropout, seed})] of every model folder, interrupted ones too."""
    pattern = MODEL_DIR.removeprefix("results/").format(settings="*", dropout="*", seed="*")
    found = [
        (path, model_fields("results/" + path.relative_to(results_dir).as_posix()))
        for path in Path(results_dir).glob(pattern)
    ]
    found = [(path, fields) for path, fields in found if fields and path.is_dir()]
    return sorted(found, key=lambda item: (item[1]["settings"], item[1]["dropout"], item[1]["seed"]))


def kept_models_state(results_dir, excluded=()):
    """A digest of the names, sizes and times of the files of the model folders
    but the (settings, dropout, seed) `excluded`, and of their settings.yaml."""
    digest = hashlib.sha256()
    for model_dir, fields in model_dirs(results_dir):
        if tuple(fields.values()) in excluded:
            continue
        digest.update(f"{model_dir.relative_to(results_dir)}\n".encode())
        for path in sorted([*model_dir.iterdir(), model_dir.parent.parent / SETTINGS_NAME]):
            if path.is_file():
                stat = path.stat()
                digest.update(f"{path.relative_to(results_dir)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def code_version_text(environment):
    """ "COMMIT" (12 digits), with "+ changes" if the checkout had uncommitted ones."""
    code = environment.get("code")
    if not code:
        return "unknown"
    commit = code["git_commit"]
    if commit == "not a git checkout":
        return commit
    return commit[:12] + (" + changes" if code.get("uncommitted_changes") else "")


def model_record(model_dir, fields):
    """What the runs listing and the MLflow export know of a model folder: its
    `fields`, `paths` and contents of its files and settings.yaml (absent: {}
    or []), `damage` (the error of its first damaged file, or None), `status`
    ('evaluated', 'trained', 'incomplete' or 'damaged'), `train` (its training
    settings), `code` (its code version) and `times` (training's start and end,
    seconds since the epoch, if its job recorded them)."""
    readers = {**MODEL_FILE_READERS, SETTINGS_NAME: read_settings}
    paths = {name: model_dir / name for name in MODEL_FILE_READERS}
    paths[SETTINGS_NAME] = model_dir.parent.parent / SETTINGS_NAME
    record = {"path": model_dir, "paths": paths, **fields, "damage": None, "times": None}
    for name, path in paths.items():
        record[name] = [] if name == "history.csv" else {}
        try:
            record[name] = readers[name](path) if path.is_file() else record[name]
        except DamagedFileError as error:
            record["damage"] = record["damage"] or error
    info = record["train_info.json"]
    record["train"] = record[SETTINGS_NAME].get("train") or info.get("train") or {}
    record["code"] = code_version_text(info.get("environment", {}))
    try:
        times = info.get("times")
        record["times"] = times and [datetime.fromisoformat(times[key]).timestamp() for key in ("started", "ended")]
    except (KeyError, TypeError, ValueError) as error:
        record["damage"] = record["damage"] or damaged(paths["train_info.json"], f"times: {error}")
    present = {path.name for path in model_dir.iterdir()}
    statuses = (status for status, names in STATUSES.items() if present.issuperset(names))
    record["status"] = "damaged" if record["damage"] else next(statuses, "incomplete")
    return record


def training_settings(settings_files):
    """{settings key: training settings} of settings.yaml files (as the rules
    list them)."""
    return {Path(path).parent.name: read_settings(path)["train"] for path in settings_files}
