"""Where a TensorFlow training job's kernel time goes, phase by phase.

Trains as a workflow job does (the workflow's `train_model`, p = 0.3, full MNIST,
1 thread) in fresh processes and prints, for each phase, the user and kernel CPU
seconds and the minor page faults (each a page of memory the kernel had to map,
most of them zero-filled first): importing TensorFlow and Keras, mapping the
preprocessed dataset, building the model and the input pipeline up to the first
epoch, then each epoch (the first includes tracing). Medians over the repeats.

    python benchmarks/tensorflow_kernel_time.py DATASET_DIR [--epochs 3] [--repeats 3]

DATASET_DIR holds the preprocessed arrays (results/data/mnist/KEY of a run).
"""

import argparse
import json
import statistics
import subprocess
import sys

PROBE = """
import json, resource


def usage():
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime, used.ru_stime, used.ru_minflt


marks = [("start", usage())]
from mnist_dropout.backend import configure_backend, select_backend

select_backend("tensorflow", 1)
import keras
from mnist_dropout import training as workflow_training
from mnist_dropout.model import build_model
from mnist_dropout.dataset import dataset_files, load_dataset

configure_backend(1, seed=0)
marks.append(("import TensorFlow and Keras", usage()))
data = load_dataset(dataset_files({dataset!r}).values(), splits=["train"])
marks.append(("map the dataset", usage()))


class MarkingTimer(workflow_training.EpochTimer):
    def on_epoch_begin(self, epoch, logs=None):
        marks.append(("build the model and pipeline" if epoch == 0 else f"epoch {{epoch}}", usage()))
        super().on_epoch_begin(epoch, logs)

    def on_train_end(self, logs=None):
        marks.append((f"epoch {epochs}", usage()))


workflow_training.EpochTimer = MarkingTimer  # train_model's own timer, marking phases
model = build_model(0.3, steps_per_execution=32)
workflow_training.train_model(model, data["x_train"], data["y_train"], 128, {epochs}, 0.1, None, seed=0)
print("PHASES", json.dumps([(name, [now - before for now, before in zip(used, marks[i][1])])
                            for i, (name, used) in enumerate(marks[1:])]))
"""


def probe(dataset, epochs):
    """[(phase, [user s, kernel s, minor faults])] of one fresh process."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(dataset=dataset, epochs=epochs)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.exit(f"probe failed:\n{result.stderr[-3000:]}")
    return json.loads(next(line for line in result.stdout.splitlines() if line.startswith("PHASES "))[7:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runs = [probe(args.dataset, args.epochs) for _ in range(args.repeats)]
    print(f"TensorFlow, 1 thread, p = 0.3, {args.epochs} epochs; median (min-max) of {args.repeats} processes")
    print("| phase | user CPU s | kernel CPU s | minor page faults |")
    print("|---|---|---|---|")
    for index, (phase, _) in enumerate(runs[0]):
        cells = []
        for column, digits in ((0, 2), (1, 2), (2, 0)):
            values = [run[index][1][column] for run in runs]
            cells.append(f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})")
        print(f"| {phase} | " + " | ".join(cells) + " |")
    totals = [[sum(phase[1][column] for phase in run) for column in range(3)] for run in runs]
    shares = [100 * kernel / (user + kernel) for user, kernel, _ in totals]
    print(
        f"kernel share of the process's CPU time: {statistics.median(shares):.1f}% ({min(shares):.1f}-{max(shares):.1f})"
    )


if __name__ == "__main__":
    main()
