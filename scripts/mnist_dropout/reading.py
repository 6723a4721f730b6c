"""Reading the results the workflow kept, each file checked: one that is
unreadable or not what the workflow wrote (a copy cut short, a full disk while
another program wrote, an editor) stops its reader with one line naming the
file and what to do. Training does not import this module: editing it redraws
the tables and figures and trains nothing."""

import csv
import json
import zipfile
from pathlib import Path

import numpy as np
import yaml

from .files import HISTORY_COLUMNS
from .jobs import InputError

# Columns that stay text even when they look like numbers (a settings key can
# be all digits, or read as a float like "1234e5678901").
TEXT_COLUMNS = ("settings",)
# What goes wrong reading a damaged file, by the reader that meets it.
DAMAGE = (OSError, ValueError, KeyError, EOFError, csv.Error, yaml.YAMLError, zipfile.BadZipFile)


class DamagedFileError(InputError):
    """A kept file the workflow wrote is unreadable or incomplete."""


def damaged(path, problem):
    """The error for `path`, with the fix: the job that wrote it run again
    (Snakemake does not remake a file that is present, nor one deleted while
    what is made from it is present)."""
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
    except DamagedFileError:
        raise
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
        rows.append({key: value if key in TEXT_COLUMNS else _number(value) for key, value in row.items()})
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


def read_arrays(path, keys):
    """{key: array} of the .npz file `path`, loaded whole."""

    def read(path):
        with np.load(path, allow_pickle=False) as arrays:
            return {key: arrays[key] for key in _keys_of(arrays, keys)}

    return checked(path, read)


def _keras_archive(path):
    # A .keras file is a zip of the model's config and weights; its table of
    # contents is read, not the weights.
    with zipfile.ZipFile(path) as archive:
        return _keys_of(set(archive.namelist()), ("config.json", "model.weights.h5"))


# How each kept file of a model is read and checked, with the keys every later
# reader relies on.
MODEL_FILE_READERS = {
    "model.keras": lambda path: checked(path, _keras_archive),
    "history.csv": lambda path: read_csv(path, HISTORY_COLUMNS),
    "train_info.json": lambda path: read_json(path, ("train", "environment")),
    "metrics.json": lambda path: read_json(path, ("test_loss", "test_accuracy", "precision", "recall", "f1")),
    "predictions.npz": lambda path: read_arrays(path, ("y_true", "y_pred")),
}
