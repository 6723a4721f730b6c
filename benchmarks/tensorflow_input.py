"""How the workflow's TensorFlow input pipeline compares with plain `fit` on arrays.

Trains the same model (p = 0.3, full MNIST, 3 epochs) in fresh processes, A B A B,
with the same thread count: once as the original does (`fit` on arrays with
validation_split, Keras' own shuffling) and once through the workflow's
`train_model` (its tf.data pipeline of per-epoch permutations). Prints each
path's median seconds per epoch after the first (which includes tracing) and
the user and kernel CPU seconds of the whole process.

    python benchmarks/tensorflow_input.py DATASET_DIR [--threads 1] [--repeats 3] [--side-by-side 2]

DATASET_DIR holds the preprocessed arrays (results/data/mnist/KEY of a run). With
--side-by-side N, N processes of the same path run at once, as N jobs would.
"""

import argparse
import json
import statistics
import subprocess
import sys

PROBE = """
import json, resource, sys, time
from mnist_dropout.backend import configure_backend, select_backend
select_backend("tensorflow", {threads})
import keras
from mnist_dropout.dataset import dataset_files, load_dataset
from mnist_dropout.model import build_model
from mnist_dropout.training import train_model
configure_backend({threads}, seed=0)
data = load_dataset(dataset_files({dataset!r}).values(), splits=["train"])
model = build_model(0.3)
if {path!r} == "plain fit on arrays":
    seconds = []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seconds.append(-time.perf_counter()),
        on_epoch_end=lambda epoch, logs: seconds.__setitem__(-1, seconds[-1] + time.perf_counter()),
    )
    y = keras.utils.to_categorical(data["y_train"], 10)
    model.fit(data["x_train"], y, batch_size=128, epochs=3, validation_split=0.1, callbacks=[timer], verbose=0)
else:
    history = train_model(model, data["x_train"], data["y_train"], 128, 3, 0.1, None, seed=0)
    seconds = [row["seconds"] for row in history]
usage = resource.getrusage(resource.RUSAGE_SELF)
print("PROBE", json.dumps({{"seconds": seconds, "user": usage.ru_utime, "system": usage.ru_stime}}))
"""
PATHS = ("plain fit on arrays", "workflow tf.data pipeline")


def probe(path, dataset, threads, side_by_side):
    """Results of `side_by_side` processes training at once on `path`."""
    code = PROBE.format(path=path, dataset=dataset, threads=threads)
    processes = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for _ in range(side_by_side)
    ]
    results = []
    for process in processes:
        output, _ = process.communicate()
        if process.returncode != 0:
            sys.exit(f"probe of {path} failed")
        results.append(json.loads(next(line for line in output.splitlines() if line.startswith("PROBE "))[6:]))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--side-by-side", type=int, default=2)
    args = parser.parse_args()
    measured = {path: [] for path in PATHS}
    for _ in range(args.repeats):
        for path in PATHS:
            measured[path] += probe(path, args.dataset, args.threads, args.side_by_side)
    print(
        f"{args.threads} thread(s) per process, {args.side_by_side} processes side by side, "
        f"{args.repeats} repeats alternating; epochs 2-3 of each process"
    )
    print("| path | seconds per epoch, median (min-max) | user CPU s | kernel CPU s | kernel share |")
    print("|---|---|---|---|---|")
    medians = {}
    for path, results in measured.items():
        epochs = [s for result in results for s in result["seconds"][1:]]
        medians[path] = statistics.median(epochs)
        user = statistics.median(r["user"] for r in results)
        system = statistics.median(r["system"] for r in results)
        print(
            f"| {path} | {medians[path]:.2f} ({min(epochs):.2f}-{max(epochs):.2f}) | {user:.1f} | {system:.1f} "
            f"| {100 * system / (user + system):.0f}% |"
        )
    print(f"\nepoch ratio, workflow / plain fit: {medians[PATHS[1]] / medians[PATHS[0]]:.2f}")


if __name__ == "__main__":
    main()
