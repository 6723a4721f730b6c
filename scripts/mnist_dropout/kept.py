"""The model folders kept under results/: where they are, what state their
files are in (each read through mnist_dropout.reading) and what they were
trained with. Read by the rules, the runs listing and the MLflow export."""

import hashlib
import re
from pathlib import Path

from .paths import MODEL_DIR, SETTINGS_FILE
from .reading import MODEL_FILE_READERS, DamagedFileError, read_yaml

STATUSES = {
    "evaluated": ("model.keras", "history.csv", "train_info.json", "metrics.json", "predictions.npz"),
    "trained": ("model.keras", "history.csv", "train_info.json"),
}
# A model folder's path as MODEL_DIR spells it, its fields as named groups.
MODEL_DIR_PATTERN = re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(MODEL_DIR)) + "$")


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
    return Path(results_dir) / SETTINGS_FILE.format(**fields).removeprefix("results/")


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


def training_settings(results_dir, folders):
    """{settings key: training settings} of the model folders `folders` (as
    model_dirs gives them): from settings.yaml, else from a model's train_info.json."""
    trained_with = {}
    for model_dir, fields in folders:
        described = read_or_none(settings_file(results_dir, fields), read_yaml)
        info = read_model_file(model_dir, "train_info.json")
        train = (described or {}).get("train") or (info or {}).get("train")
        if train is not None:
            trained_with.setdefault(fields["settings"], train)
    return trained_with
