"""Every model kept under results/: its settings, code version, status, test
accuracy, and whether the current config and code use it; --prune deletes
those they do not, once confirmed (--yes: without asking).

    python -m mnist_dropout.runs [--configfile my.yaml ...] [--results results] [--prune [--yes]]

Run it in the workflow's folder, with the --configfile overlays of the run to
compare with (Snakemake's --config is not read)."""

import argparse
import shutil
import sys
from pathlib import Path

from .config import ConfigError, load_config
from .kept import model_dirs, model_record
from .paths import SETTINGS_FILE
from .settings import WORKFLOW_DIR, runs, settings_grid, workflow_code
from .tables import differing_settings, markdown_table, setting_text


def list_runs(results_dir, current=None):
    """[{record, settings, the differing training settings..., dropout, seed,
    code, status, test_accuracy, current}] of every model folder under
    `results_dir`; `current`: the (settings, dropout, seed) in use."""
    records = [model_record(*folder) for folder in model_dirs(results_dir)]
    trained_with = {record["settings"]: record["train"] for record in records if record["train"]}
    shown = differing_settings(trained_with) or sorted({name for train in trained_with.values() for name in train})
    return [
        {
            "record": record,
            "settings": record["settings"],
            **{name: trained_with.get(record["settings"], {}).get(name) for name in shown},
            "dropout": record["dropout"],
            "seed": record["seed"],
            "code": record["code"],
            "status": record["status"],
            "test_accuracy": record["metrics.json"].get("test_accuracy"),
            "current": None if current is None else (record["settings"], record["dropout"], record["seed"]) in current,
        }
        for record in records
    ]


def current_runs(config, workflow=WORKFLOW_DIR):
    """{(settings, dropout, seed)} of the models the config and the code of the
    workflow folder `workflow` use."""
    return set(runs(config, settings_grid(config, workflow_code(Path(workflow) / "scripts"))))


def markdown(rows):
    if not rows:
        return "No models under results/models yet."
    columns = [column for column in rows[0] if column != "record"]

    def cell(key, value):
        if value is None:
            return ""
        if key == "test_accuracy":
            return f"{value:.4f}"
        if key == "current":
            return "yes" if value else "no"
        return setting_text(value)

    return markdown_table(columns, [[cell(key, row[key]) for key in columns] for row in rows])


def prune(unused, confirm):
    """Delete the folders of the rows `unused` (and emptied settings folders) once `confirm()` agrees."""
    if not unused or not confirm(unused):
        return []
    deleted = []
    for row in unused:
        model_dir = row["record"]["path"]
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
    # Each once (a damaged settings.yaml is all its models'), named as snakemake names them.
    for damage in dict.fromkeys(str(row["record"]["damage"]) for row in rows if row["record"]["damage"]):
        print(damage.replace(f"{Path(args.results)}/", "results/"))
    if args.prune:
        unused = [row for row in rows if not row["current"]]
        print(
            "\n".join(["", "Not used by the current config and code:", markdown(unused)]) if unused else "\nAll in use."
        )
        deleted = prune(unused, (lambda _rows: True) if args.yes else _ask)
        print(f"Deleted {len(deleted)} model folders." if deleted else "Nothing deleted.")


if __name__ == "__main__":
    main()
