"""A sweep against its configs one after another: 2 learning rates x 2 hidden
sizes x 3 dropout values on full MNIST, a fixed number of epochs.

The grid is one `snakemake` run with a `sweep:` section; the baseline runs the
four configs it covers one after another, each a `snakemake` run in the same
directory (so MNIST is downloaded and preprocessed once in both). Both start from
an empty directory, alternating A B A B. Prints medians (min-max), the ratio, and
the grid's test accuracies; --keep DIR copies the grid's summary.md and
test_acc_dropout.png there.

    python benchmarks/grid.py --mirror /path/to/mnist [--epochs 3] [--repeats 2] [--keep docs/grid]
"""

import argparse
import csv
import itertools
import os
import shutil
import statistics
import tempfile
from pathlib import Path

import yaml

from benchmark import snakemake, spread

SWEEP = {"learning_rate": [0.001, 0.0005], "hidden_units": [[512, 512], [1024, 1024]]}
DROPOUT = [0.0, 0.3, 0.6]


def overlay(workdir, name, config):
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def base_config(mirror, epochs):
    return {
        "data": {"mirrors": [str(mirror)]},
        "dropout": DROPOUT,
        "train": {"epochs": epochs, "early_stopping": None},
    }


def grid(mirror, epochs, cores, workdir):
    config = {**base_config(mirror, epochs), "sweep": SWEEP}
    return snakemake(workdir, cores, [overlay(workdir, "grid", config)])["wall"]


def one_after_another(mirror, epochs, cores, workdir):
    wall = 0.0
    for index, values in enumerate(itertools.product(*SWEEP.values())):
        config = base_config(mirror, epochs)
        config["train"].update(zip(SWEEP, values))
        wall += snakemake(workdir, cores, [overlay(workdir, f"config{index}", config)])["wall"]
    return wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, required=True, help="directory with the four MNIST IDX .gz files")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--keep", type=Path, help="copy the grid's summary.md and test_acc_dropout.png here")
    args = parser.parse_args()
    mirror = args.mirror.resolve()
    walls = {"one after another": [], "grid": []}
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as sequential_dir, tempfile.TemporaryDirectory() as grid_dir:
            walls["one after another"].append(one_after_another(mirror, args.epochs, args.cores, Path(sequential_dir)))
            walls["grid"].append(grid(mirror, args.epochs, args.cores, Path(grid_dir)))
            results = Path(grid_dir) / "results"
            summary = list(csv.DictReader(open(results / "summary.csv")))
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                for path in (results / "summary.md", results / "figures" / "test_acc_dropout.png"):
                    shutil.copy(path, args.keep / path.name)
        print(
            f"repeat {repeat + 1}/{args.repeats}: one after another {walls['one after another'][-1]:.1f} s, "
            f"grid {walls['grid'][-1]:.1f} s",
            flush=True,
        )
    print(
        f"\n{len(summary)} models (2 learning rates x 2 hidden sizes x {len(DROPOUT)} dropout values), "
        f"{args.epochs} epochs, early stopping off, full MNIST, {args.cores} cores, {args.repeats} repeats alternating"
    )
    print("| measure | one after another | grid | ratio |\n|---|---|---|---|")
    ratio = statistics.median(walls["grid"]) / statistics.median(walls["one after another"])
    print(f"| wall seconds | {spread(walls['one after another'], 1)} | {spread(walls['grid'], 1)} | {ratio:.2f} |")
    print(
        "\nTest accuracy of the last grid run:\n\n| learning_rate | hidden_units | "
        + " | ".join(f"p = {p:g}" for p in DROPOUT)
        + " |\n|---|---|"
        + "---|" * len(DROPOUT)
    )
    for (rate, units), rows in itertools.groupby(summary, key=lambda r: (r["learning_rate"], r["hidden_units"])):
        print(f"| {rate} | {units} | " + " | ".join(f"{float(r['test_accuracy']):.4f}" for r in rows) + " |")


if __name__ == "__main__":
    main()
