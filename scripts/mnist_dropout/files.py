"""Writing the workflow's CSV and JSON files, each whole. Training writes with
this module, so editing it retrains; the readers are apart (kept.py)."""

import csv
import json

from .jobs import atomic_output

# The columns of a model's history.csv, one row per epoch.
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")


def write_csv(path, rows, columns):
    with atomic_output(path) as temporary, open(temporary, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def write_json(path, data):
    with atomic_output(path) as temporary, open(temporary, "w") as stream:
        json.dump(data, stream, indent=2, sort_keys=True)
        stream.write("\n")
