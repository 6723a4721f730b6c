"""Reading and writing the workflow's CSV and JSON files, each written whole
(a temporary name, then renamed). Kept apart from the summary's logic (tables.py):
editing that redraws the tables and figures, this retrains the models that write
with it."""

import csv
import json

from .jobs import atomic_output


def write_csv(path, rows, columns):
    with atomic_output(path) as temporary, open(temporary, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


# Columns that stay text even when they look like numbers (a settings key can
# be all digits, or read as a float like "1234e5678901").
TEXT_COLUMNS = ("settings",)


def read_csv(path):
    """Rows as dicts, numeric fields converted to int or float."""
    with open(path, newline="") as stream:
        return [
            {key: value if key in TEXT_COLUMNS else _number(value) for key, value in row.items()}
            for row in csv.DictReader(stream)
        ]


def _number(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def write_json(path, data):
    with atomic_output(path) as temporary, open(temporary, "w") as stream:
        json.dump(data, stream, indent=2, sort_keys=True)
        stream.write("\n")


def read_json(path):
    with open(path) as stream:
        return json.load(stream)
