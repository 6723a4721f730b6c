"""Side-by-side benchmark: the original's sequential loop against the workflow,
or (--baseline) another checkout's workflow against this one.

Both train the same 9 models (p = 0 ... 0.8) on full MNIST for a fixed number of
epochs with early stopping off, on this machine, alternating A B A B so that
drift in the machine's speed hits both. Prints medians (min-max) and ratios.
The workflow runs the shipped config.yaml; --set changes a setting of it.
With --full-experiment each repeat also runs the full default experiment (20
epochs with early stopping, as shipped) against the original's loop with its
early stopping: the time a user waits.

    python benchmarks/benchmark.py --mirror /path/to/mnist [--epochs 5] [--repeats 3]
        [--cores N] [--full-experiment] [--set train.backend=tensorflow ...]

With --baseline CHECKOUT each repeat runs the full default experiment with the
workflow of CHECKOUT (say, a `git worktree` of an older commit), then with this
one, each from an empty folder (no compiled XLA programs kept), --set applied to
both; it prints their wall times, the training jobs' seconds outside their
epochs (Snakemake's benchmark of the job, less the epochs of its history.csv,
less its wait for a CPU), the epochs' seconds and the test accuracies:

    python benchmarks/benchmark.py --mirror /path/to/mnist --baseline ../old --repeats 5

Work: every epoch each run actually trained (from its history), at FLOPs per
epoch = per training sample 2 x parameters forward, 2 x parameters for the
weight gradients and 2 x (parameters - the first layer's weights) for the
activation gradients (none flow into the input), plus 2 x parameters per
validation sample, for the Dense layers of the configured hidden_units
(182 GFLOP for 784-512-512-10; evaluation and start-up not counted).
The achieved rate is that work over the wall time the run took.
Peak fp32, measured at the start of the run on the cores given, the higher of:
a microbenchmark of the CPU's widest fused multiply-add (AVX-512 or AVX2 FMA,
compiled here with gcc -O3 -march=native, one process per core, 16 independent
accumulators) and a large float32 matrix product in XLA (JAX), the library the
jobs use. The fraction of peak is the achieved rate over it; a rate above the
peak stops the benchmark (the peak measurement would be wrong), so it never
prints more than 100%.
"""

import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from snakemake.utils import update_config

REPO = Path(__file__).resolve().parents[1]
MNIST_TRAINING_IMAGES = 60_000


def flops_per_epoch(config):
    """The work of one epoch of the MLP of `config` (its train: settings)."""
    widths = [784, *config["train"]["hidden_units"], 10]
    parameters = sum(inputs * outputs + outputs for inputs, outputs in zip(widths, widths[1:]))
    validation = int(MNIST_TRAINING_IMAGES * config["train"]["validation_split"])
    training = MNIST_TRAINING_IMAGES - validation
    return (6 * parameters - 2 * widths[0] * widths[1]) * training + 2 * parameters * validation


# Each process runs ITERATIONS x 16 independent FMAs on full vector registers.
FMA_KERNEL = r"""
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define SUM(v) _mm512_reduce_add_ps(v)
#elif defined(__FMA__)
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
static float SUM(__m256 v) { float f[8]; _mm256_storeu_ps(f, v); return f[0] + f[7]; }
#else
#error "no fused multiply-add"
#endif
int main(int argc, char **argv) {
    long iterations = atol(argv[1]);
    vec acc[16];
    vec m = SET1(0.999999f), c = SET1(1e-6f);
    for (int i = 0; i < 16; i++) acc[i] = SET1((float)i);
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long k = 0; k < iterations; k++)
        for (int i = 0; i < 16; i++) acc[i] = FMA(acc[i], m, c);
    clock_gettime(CLOCK_MONOTONIC, &end);
    float total = 0;
    for (int i = 0; i < 16; i++) total += SUM(acc[i]);
    double seconds = (end.tv_sec - start.tv_sec) + 1e-9 * (end.tv_nsec - start.tv_nsec);
    printf("%.6e %d %f\n", iterations * 16.0 * LANES * 2 / seconds, LANES * 32, total);
    return 0;
}
"""
XLA_MATMUL = """
import time, jax, jax.numpy as jnp
size = 4096
a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
product = jax.jit(lambda x: x @ x)
product(a).block_until_ready()
best = float("inf")
for _ in range(5):
    start = time.perf_counter()
    product(a).block_until_ready()
    best = min(best, time.perf_counter() - start)
print(2 * size**3 / best)
"""


def run_measured(command, **kwargs):
    """Wall seconds, CPU seconds (user+sys of the process and its children) and
    peak RSS in MB of the largest process, via wait4 on the child."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"command failed: {' '.join(map(str, command))}\n{output[-3000:]}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "max_rss_mb": usage.ru_maxrss / 1024,
        "output": output,
    }


def baseline(mirror, epochs, workdir, early_stopping=False):
    out = workdir / "baseline.json"
    command = [sys.executable, REPO / "benchmarks" / "original_sweep.py", mirror, str(epochs), out]
    measured = run_measured(command + (["--early-stopping"] if early_stopping else []))
    result = json.loads(out.read_text())
    return {**measured, "epoch_seconds": result["epoch_seconds"], "accuracy": list(result["test_accuracy"].values())}


def nested(dotted, value):
    data = yaml.safe_load(value)
    for key in reversed(dotted.split(".")):
        data = {key: data}
    return data


def settings_overlay(settings):
    """The config that `--set KEY=VALUE` settings give."""
    config = {}
    for setting in settings:
        update_config(config, nested(*setting.split("=", 1)))
    return config


def snakemake(workdir, cores, configs, repo=REPO):
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        repo / "Snakefile",
        "--directory",
        workdir,
        "--cores",
        str(cores),
        "--configfile",
        *configs,
    ]
    return run_measured(command)


def training_jobs(workdir):
    """[(Snakemake's benchmark of the job, its history rows, its train_info)]
    of every training job of the run in `workdir`."""
    jobs = []
    for tsv in (workdir / "results" / "benchmarks" / "train").rglob("*.tsv"):
        dropout, seed = tsv.stem.removeprefix("p").split("_seed")
        model = workdir / "results" / "models" / tsv.parent.name / f"p{dropout}" / f"seed{seed}"
        benchmark = list(csv.DictReader(open(tsv), delimiter="\t"))[0]
        history = list(csv.DictReader(open(model / "history.csv")))
        jobs.append((benchmark, history, json.loads((model / "train_info.json").read_text())))
    return jobs


def workflow(mirror, epochs, cores, settings, workdir, repo=REPO):
    """The workflow of `repo` from an empty directory; `epochs` None runs the
    shipped training settings (early stopping included), else that many, without it."""
    config = {"data": {"mirrors": [str(mirror)]}}
    if epochs is not None:
        config["train"] = {"epochs": epochs, "early_stopping": None}
    update_config(config, settings_overlay(settings))
    overlay = workdir / "benchmark.yaml"
    overlay.write_text(yaml.safe_dump(config))
    measured = snakemake(workdir, cores, [overlay], repo)
    jobs = training_jobs(workdir)
    epoch_seconds = [float(row["seconds"]) for _, history, _ in jobs for row in history]
    outside = [
        float(benchmark["s"])
        - sum(float(row["seconds"]) for row in history)
        - info["environment"].get("cpu_wait_seconds", 0)
        for benchmark, history, info in jobs
    ]
    train_rss = [float(benchmark["max_rss"]) for benchmark, _, _ in jobs]
    summary = list(csv.DictReader(open(workdir / "results" / "summary.csv")))
    infos = [info for _, _, info in jobs]
    threads = infos[0]
    # A plot-only change: a new failure digit. No training may run.
    plot_overlay = workdir / "plot_only.yaml"
    plot_overlay.write_text(yaml.safe_dump({"analysis": {"failure_digit": 3}}))
    replot = snakemake(workdir, cores, [overlay, plot_overlay])
    return {
        **measured,
        "epoch_seconds": epoch_seconds,
        "outside_epochs": outside,
        "train_rss_mb": train_rss,
        "accuracy": [float(row["test_accuracy"]) for row in summary],
        "train_kernel_share": sum(i["cpu_seconds"]["system"] for i in infos)
        / sum(i["cpu_seconds"]["system"] + i["cpu_seconds"]["user"] for i in infos),
        "threads": threads["environment"]["threads"],
        "backend": threads["environment"]["backend"],
        "replot_wall": replot["wall"],
        "replot_train_jobs": len(
            re.findall(r"^\s*(?:local)?rule train_and_evaluate:", replot["output"], flags=re.MULTILINE)
        ),
    }


def cpu_name():
    return re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text()).group(1).strip()


def fma_peak(cores, iterations=200_000_000):
    """(FLOP/s, vector bits) of the widest FMA on `cores` processes at once, or
    (None, why) where it cannot be compiled."""
    with tempfile.TemporaryDirectory() as folder:
        source, binary = Path(folder, "fma.c"), Path(folder, "fma")
        source.write_text(FMA_KERNEL)
        try:
            built = subprocess.run(
                ["gcc", "-O3", "-march=native", "-o", binary, source], capture_output=True, text=True
            )
        except OSError as error:
            return None, f"no gcc ({error})"
        if built.returncode != 0:
            return None, (built.stderr.strip().splitlines() or ["gcc failed"])[-1]
        cpus = sorted(os.sched_getaffinity(0))[:cores]
        processes = [
            subprocess.Popen(["taskset", "-c", str(cpu), binary, str(iterations)], stdout=subprocess.PIPE, text=True)
            for cpu in cpus
        ]
        results = [process.communicate()[0].split() for process in processes]
        if any(process.returncode != 0 or len(result) != 3 for process, result in zip(processes, results)):
            return None, "the FMA kernel failed"
    return sum(float(rate) for rate, _, _ in results), int(results[0][1])


def xla_matmul_peak(cores):
    """FLOP/s of a 4096 x 4096 float32 matrix product in XLA on `cores` cores, best of five."""
    cpus = ",".join(map(str, sorted(os.sched_getaffinity(0))[:cores]))
    command = ["taskset", "-c", cpus, sys.executable, "-c", XLA_MATMUL]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(result.stdout.split()[-1])


def fraction_of_peak(flops, seconds, peak):
    """The achieved rate `flops` / `seconds` as a fraction of `peak`; a rate
    above the peak means the peak was measured wrong, and stops the benchmark."""
    rate = flops / seconds
    if rate > peak:
        raise ValueError(
            f"achieved {rate / 1e9:.1f} GFLOP/s above the measured peak {peak / 1e9:.1f}: the peak is wrong"
        )
    return rate / peak


def spread(values, digits=2):
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def compare_checkouts(baseline, mirror, repeats, cores, settings):
    """The full default experiment with the workflow of `baseline`, then of
    this checkout, `repeats` times; prints the table."""
    runs = {"baseline": [], "this checkout": []}
    for repeat in range(repeats):
        for name, repo in (("baseline", baseline), ("this checkout", REPO)):
            with tempfile.TemporaryDirectory() as workdir:
                runs[name].append(workflow(mirror, None, cores, settings, Path(workdir), repo))
        print(
            f"repeat {repeat + 1}/{repeats}: baseline {runs['baseline'][-1]['wall']:.1f} s, "
            f"this checkout {runs['this checkout'][-1]['wall']:.1f} s",
            flush=True,
        )
    rows = {
        "full default experiment wall seconds": lambda r: r["wall"],
        "training job seconds outside its epochs (median of the run's jobs)": lambda r: statistics.median(
            r["outside_epochs"]
        ),
        "epochs' seconds, all jobs": lambda r: sum(r["epoch_seconds"]),
        "epochs trained": lambda r: len(r["epoch_seconds"]),
        "mean test accuracy": lambda r: statistics.mean(r["accuracy"]),
    }
    print(
        f"\nCPU: {cpu_name()}, {cores} cores given to snakemake; baseline: {baseline}; {repeats} repeats alternating; "
        f"settings: {' '.join(settings) or 'defaults'}"
    )
    print("| measure | baseline | this checkout | ratio |\n|---|---|---|---|")
    for measure, key in rows.items():
        values = {name: [key(run) for run in runs[name]] for name in runs}
        digits = 4 if "accuracy" in measure else 2
        ratio = statistics.median(values["this checkout"]) / statistics.median(values["baseline"])
        print(
            f"| {measure} | {spread(values['baseline'], digits)} | {spread(values['this checkout'], digits)} "
            f"| {ratio:.{digits}f} |"
        )
    same = all(run["accuracy"] == runs["baseline"][0]["accuracy"] for name in runs for run in runs[name])
    print(f"\ntest accuracies of every model the same in every run: {same}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, required=True, help="directory with the four MNIST IDX .gz files")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--full-experiment", action="store_true", help="also time the full default experiment against the original's"
    )
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="workflow config for the timed run, e.g. train.threads=1 (repeatable)",
    )
    parser.add_argument("--baseline", type=Path, help="another checkout, whose workflow this one is timed against")
    args = parser.parse_args()
    mirror = args.mirror.resolve()
    if args.baseline:
        return compare_checkouts(args.baseline.resolve(), mirror, args.repeats, args.cores, args.set)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(config, settings_overlay(args.set))
    flops = flops_per_epoch(config)
    fma, fma_bits = fma_peak(args.cores)
    matmul = xla_matmul_peak(args.cores)
    peak = max(fma or 0, matmul)
    peak_source = (
        f"{fma_bits}-bit FMA microbenchmark" if fma and fma >= matmul else "XLA float32 matrix product on every core"
    )
    fma_text = f"{fma / 1e9:.0f} GFLOP/s ({fma_bits}-bit)" if fma else f"not measured: {fma_bits}"

    runs = {"baseline": [], "workflow": []}
    full = {"baseline": [], "workflow": []}
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as base_dir, tempfile.TemporaryDirectory() as flow_dir:
            runs["baseline"].append(baseline(mirror, args.epochs, Path(base_dir)))
            runs["workflow"].append(workflow(mirror, args.epochs, args.cores, args.set, Path(flow_dir)))
        print(
            f"repeat {repeat + 1}/{args.repeats}: baseline {runs['baseline'][-1]['wall']:.1f} s, "
            f"workflow {runs['workflow'][-1]['wall']:.1f} s",
            flush=True,
        )
        if args.full_experiment:
            with tempfile.TemporaryDirectory() as base_dir, tempfile.TemporaryDirectory() as flow_dir:
                full["baseline"].append(baseline(mirror, 20, Path(base_dir), early_stopping=True))
                full["workflow"].append(workflow(mirror, None, args.cores, args.set, Path(flow_dir)))
            print(
                f"repeat {repeat + 1}/{args.repeats}, full experiment: baseline {full['baseline'][-1]['wall']:.1f} s, "
                f"workflow {full['workflow'][-1]['wall']:.1f} s",
                flush=True,
            )

    def per_run(name, key):
        return [key(run) for run in runs[name]]

    epoch = {name: per_run(name, lambda r: statistics.median(r["epoch_seconds"])) for name in runs}
    concurrent = args.cores // runs["workflow"][0]["threads"]
    wall = {name: per_run(name, lambda r: r["wall"]) for name in runs}
    # The wall time of the whole run per epoch trained, over every model: what
    # an epoch costs the machine, start-up and all.
    per_model_epoch = {name: per_run(name, lambda r: r["wall"] / len(r["epoch_seconds"])) for name in runs}
    utilisation = {name: per_run(name, lambda r: 100 * r["cpu"] / (r["wall"] * args.cores)) for name in runs}
    rss_job = [max(r["train_rss_mb"]) for r in runs["workflow"]]
    print(
        f"\nCPU: {cpu_name()}, {os.cpu_count()} cores, {args.cores} given to snakemake; peak fp32 "
        f"{peak / 1e9:.0f} GFLOP/s on {args.cores} cores, from the {peak_source} (FMA {fma_text}, "
        f"XLA matrix product {matmul / 1e9:.0f} GFLOP/s); "
        f"{args.epochs} epochs x 9 models, early stopping off, {args.repeats} repeats alternating; "
        f"workflow: {runs['workflow'][0]['backend']} backend, {runs['workflow'][0]['threads']} threads per job, "
        f"{concurrent} jobs at once; "
        f"settings: {' '.join(args.set) or 'defaults'}"
    )
    rows = [
        (
            "seconds per epoch (one model)",
            spread(epoch["baseline"]),
            spread(epoch["workflow"]),
            statistics.median(epoch["workflow"]) / statistics.median(epoch["baseline"]),
        ),
        (
            "wall seconds per model-epoch (the run's wall time / epochs trained)",
            spread(per_model_epoch["baseline"]),
            spread(per_model_epoch["workflow"]),
            statistics.median(per_model_epoch["workflow"]) / statistics.median(per_model_epoch["baseline"]),
        ),
        (
            "whole sweep wall seconds",
            spread(wall["baseline"]),
            spread(wall["workflow"]),
            statistics.median(wall["workflow"]) / statistics.median(wall["baseline"]),
        ),
        ("CPU utilisation %", spread(utilisation["baseline"]), spread(utilisation["workflow"]), None),
        (
            "fraction of fp32 peak over the whole run %",
            *(
                spread(
                    per_run(
                        name,
                        lambda r: 100 * fraction_of_peak(flops * len(r["epoch_seconds"]), r["wall"], peak),
                    )
                )
                for name in ("baseline", "workflow")
            ),
            None,
        ),
        (
            "peak RSS MB (baseline process / train job)",
            spread(per_run("baseline", lambda r: r["max_rss_mb"])),
            spread(rss_job),
            None,
        ),
        (
            "kernel share of training jobs' CPU time %",
            "",
            spread(per_run("workflow", lambda r: 100 * r["train_kernel_share"])),
            None,
        ),
        (
            "mean test accuracy",
            spread(per_run("baseline", lambda r: statistics.mean(r["accuracy"])), 4),
            spread(per_run("workflow", lambda r: statistics.mean(r["accuracy"])), 4),
            None,
        ),
    ]
    if args.full_experiment:
        full_wall = {name: [r["wall"] for r in full[name]] for name in full}
        rows += [
            (
                "full default experiment (20 epochs, early stopping) wall seconds",
                spread(full_wall["baseline"]),
                spread(full_wall["workflow"]),
                statistics.median(full_wall["workflow"]) / statistics.median(full_wall["baseline"]),
            ),
            (
                "full default experiment: wall seconds per model-epoch",
                *(
                    spread([r["wall"] / len(r["epoch_seconds"]) for r in full[name]])
                    for name in ("baseline", "workflow")
                ),
                statistics.median([r["wall"] / len(r["epoch_seconds"]) for r in full["workflow"]])
                / statistics.median([r["wall"] / len(r["epoch_seconds"]) for r in full["baseline"]]),
            ),
            (
                "full default experiment: fraction of fp32 peak %",
                *(
                    spread(
                        [100 * fraction_of_peak(flops * len(r["epoch_seconds"]), r["wall"], peak) for r in full[name]]
                    )
                    for name in ("baseline", "workflow")
                ),
                None,
            ),
            (
                "full default experiment: kernel share of training jobs' CPU time %",
                "",
                spread([100 * r["train_kernel_share"] for r in full["workflow"]]),
                None,
            ),
            (
                "full default experiment mean test accuracy",
                spread([statistics.mean(r["accuracy"]) for r in full["baseline"]], 4),
                spread([statistics.mean(r["accuracy"]) for r in full["workflow"]], 4),
                None,
            ),
        ]
    print("| measure | baseline | workflow | ratio |\n|---|---|---|---|")
    for name, a, b, ratio in rows:
        print(f"| {name} | {a} | {b} | {'' if ratio is None else f'{ratio:.2f}'} |")
    replot = per_run("workflow", lambda r: r["replot_wall"])
    jobs = per_run("workflow", lambda r: r["replot_train_jobs"])
    print(f"\nfigures after a plot-only change: {spread(replot)} s, training jobs run: {max(jobs)}")
    print(
        f"total RSS at --cores {args.cores}: about {concurrent} x {statistics.median(rss_job):.0f} MB "
        f"= {concurrent * statistics.median(rss_job) / 1024:.2f} GB of training jobs"
    )


if __name__ == "__main__":
    main()
