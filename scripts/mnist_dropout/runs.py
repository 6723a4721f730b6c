"""Every model kept under results/: its settings, status and test accuracy.

    python -m mnist_dropout.runs [RESULTS_DIR]

Prints one Markdown table row per model folder, with the training settings in
which the settings folders differ (all of them when there is only one)."""

import json
import sys
from pathlib import Path

import yaml

STATUSES = {
    "evaluated": ("model.keras", "history.csv", "train_info.json", "metrics.json", "predictions.npz"),
    "trained": ("model.keras", "history.csv", "train_info.json"),
}


def model_status(model_dir):
    """'evaluated', 'trained' (not yet evaluated) or 'incomplete'."""
    present = {path.name for path in model_dir.iterdir()}
    return next((status for status, names in STATUSES.items() if present.issuperset(names)), "incomplete")


def list_runs(results_dir):
    """[{settings, the differing training settings..., dropout, seed, status,
    test_accuracy}] of every model folder under `results_dir`/models."""
    folders = sorted(path.parent for path in Path(results_dir, "models").glob("*/settings.yaml"))
    trained_with = {folder.name: yaml.safe_load((folder / "settings.yaml").read_text())["train"] for folder in folders}
    keys = sorted({key for train in trained_with.values() for key in train})
    varying = [k for k in keys if len({json.dumps(t.get(k)) for t in trained_with.values()}) > 1] or keys
    rows = []
    for folder in folders:
        for model_dir in sorted(folder.glob("p*/seed*"), key=lambda d: (float(d.parent.name[1:]), int(d.name[4:]))):
            status = model_status(model_dir)
            metrics = json.loads((model_dir / "metrics.json").read_text()) if status == "evaluated" else {}
            rows.append(
                {
                    "settings": folder.name,
                    **{key: trained_with[folder.name].get(key) for key in varying},
                    "dropout": float(model_dir.parent.name[1:]),
                    "seed": int(model_dir.name[4:]),
                    "status": status,
                    "test_accuracy": metrics.get("test_accuracy"),
                }
            )
    return rows


def markdown(rows):
    if not rows:
        return "No models under results/models yet."
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [
            f"{value:.4f}" if key == "test_accuracy" and value is not None else value for key, value in row.items()
        ]
        lines.append("| " + " | ".join("" if cell is None else str(cell) for cell in cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(list_runs(sys.argv[1] if len(sys.argv) > 1 else "results")))
