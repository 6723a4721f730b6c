# The MNIST dropout study: download and verify MNIST, preprocess it once, train
# one MLP per (dropout, seed), evaluate each, aggregate into tables and figures.
import os

from snakemake.utils import min_version, validate

min_version("9.0")


# Relative to this file, so that `--directory` can put results elsewhere.
configfile: os.path.join(workflow.basedir, "config.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"


check_config(config)

MODEL_DIR = "results/models/p{dropout}/seed{seed}"
FIGURES = [
    "fit_loss",
    "train_loss_dropout",
    "val_loss_dropout",
    "val_acc_dropout",
    "test_acc_dropout",
]
TRAIN_THREADS = config["train"]["threads"]
# The evaluate step fails if NumPy's and Keras' test probabilities differ by this.
FORWARD_PASS_TOLERANCE = 1e-4


wildcard_constraints:
    name="|".join(IDX_NAMES),
    dropout=r"\d+\.\d+",
    seed=r"\d+",
    digit=r"\d",


# Light steps run on the submitting host, not as cluster jobs; `download` too,
# because cluster compute nodes often have no internet access.
localrules:
    all,
    download,
    aggregate,
    plot_curves,
    plot_test_accuracy,
    plot_fscore,
    plot_failures,


rule all:
    default_target: True
    input:
        final_outputs(),


rule download:
    output:
        "results/data/raw/{name}",
    log:
        "results/logs/download/{name}.log",
    conda:
        "envs/analysis.yaml"
    params:
        # Not the mirrors: where the bytes come from is not what they are (the
        # checksum pins that), so changing data.mirrors reruns nothing.
        sha256=lambda wildcards: config["data"]["sha256"][wildcards.name],
        attempts=4,
        timeout_seconds=60,
        code=library_code("download.py"),
    script:
        "scripts/download.py"


rule preprocess:
    input:
        train_images="results/data/raw/train-images-idx3-ubyte",
        train_labels="results/data/raw/train-labels-idx1-ubyte",
        test_images="results/data/raw/t10k-images-idx3-ubyte",
        test_labels="results/data/raw/t10k-labels-idx1-ubyte",
    output:
        "results/data/mnist.npz",
    log:
        "results/logs/preprocess.log",
    conda:
        "envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
        cpus_per_task=1,
    params:
        code=library_code("preprocess.py"),
    script:
        "scripts/preprocess.py"


rule train:
    input:
        data="results/data/mnist.npz",
    output:
        model=f"{MODEL_DIR}/model.keras",
        history=f"{MODEL_DIR}/history.csv",
        info=f"{MODEL_DIR}/train_info.json",
    log:
        f"results/logs/train/p{{dropout}}_seed{{seed}}.log",
    benchmark:
        "results/benchmarks/train/p{dropout}_seed{seed}.tsv"
    conda:
        "envs/tensorflow.yaml"
    threads: TRAIN_THREADS
    resources:
        mem_mb=2500,
        runtime=60,
        cpus_per_task=TRAIN_THREADS,
    params:
        train=training_settings(),
        # Used by train_and_evaluate; here too so that switching between the two
        # leaves the params, and so the models, unchanged.
        forward_pass_tolerance=FORWARD_PASS_TOLERANCE,
        code=library_code("train.py"),
    script:
        "scripts/train.py"


rule evaluate:
    input:
        data="results/data/mnist.npz",
        model=f"{MODEL_DIR}/model.keras",
        info=f"{MODEL_DIR}/train_info.json",
    output:
        metrics=f"{MODEL_DIR}/metrics.json",
        predictions=f"{MODEL_DIR}/predictions.npz",
    log:
        "results/logs/evaluate/p{dropout}_seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/p{dropout}_seed{seed}.tsv"
    conda:
        "envs/tensorflow.yaml"
    threads: TRAIN_THREADS
    resources:
        mem_mb=2000,
        runtime=15,
        cpus_per_task=TRAIN_THREADS,
    params:
        backend=config["train"]["backend"],
        forward_pass_tolerance=FORWARD_PASS_TOLERANCE,
        code=library_code("evaluate.py"),
    script:
        "scripts/evaluate.py"


# Optionally each model is evaluated in its training job, which then writes the
# evaluate rule's outputs too: one process start less per model (README "Performance").
if config["train"]["evaluate_in_training_job"]:

    ruleorder: train_and_evaluate > train
    ruleorder: train_and_evaluate > evaluate

    use rule train as train_and_evaluate with:
        output:
            model=f"{MODEL_DIR}/model.keras",
            history=f"{MODEL_DIR}/history.csv",
            info=f"{MODEL_DIR}/train_info.json",
            metrics=f"{MODEL_DIR}/metrics.json",
            predictions=f"{MODEL_DIR}/predictions.npz",


rule aggregate:
    input:
        histories=run_files(f"{MODEL_DIR}/history.csv"),
        metrics=run_files(f"{MODEL_DIR}/metrics.json"),
    output:
        csv=report("results/summary.csv", caption="report/summary.rst", category="Tables"),
        markdown=report("results/summary.md", caption="report/summary.rst", category="Tables"),
    log:
        "results/logs/aggregate.log",
    conda:
        "envs/analysis.yaml"
    params:
        runs=runs(),
        monitor=best_epoch_monitor(),
        code=library_code("aggregate.py"),
    script:
        "scripts/aggregate.py"


rule plot_curves:
    input:
        run_files(f"{MODEL_DIR}/history.csv"),
    output:
        fit_loss=report(
            "results/figures/fit_loss.png",
            caption="report/fit_loss.rst",
            category="Learning curves",
        ),
        train_loss=report(
            "results/figures/train_loss_dropout.png",
            caption="report/train_loss_dropout.rst",
            category="Learning curves",
        ),
        val_loss=report(
            "results/figures/val_loss_dropout.png",
            caption="report/val_loss_dropout.rst",
            category="Learning curves",
        ),
        val_acc=report(
            "results/figures/val_acc_dropout.png",
            caption="report/val_acc_dropout.rst",
            category="Learning curves",
        ),
    log:
        "results/logs/plot_curves.log",
    conda:
        "envs/analysis.yaml"
    params:
        runs=runs(),
        code=library_code("plot_curves.py"),
    script:
        "scripts/plot_curves.py"


rule plot_test_accuracy:
    input:
        "results/summary.csv",
    output:
        report(
            "results/figures/test_acc_dropout.png",
            caption="report/test_acc_dropout.rst",
            category="Test metrics",
        ),
    log:
        "results/logs/plot_test_accuracy.log",
    conda:
        "envs/analysis.yaml"
    params:
        code=library_code("plot_test_accuracy.py"),
    script:
        "scripts/plot_test_accuracy.py"


rule plot_fscore:
    input:
        summary="results/summary.csv",
        metrics=run_files(f"{MODEL_DIR}/metrics.json"),
    output:
        figure=report(
            "results/figures/fscore.png",
            caption="report/fscore.rst",
            category="Test metrics",
        ),
        table="results/analysis/precision_recall.csv",
    log:
        "results/logs/plot_fscore.log",
    conda:
        "envs/analysis.yaml"
    params:
        choice=config["analysis"]["dropout"],
        runs=runs(),
        code=library_code("plot_fscore.py"),
    script:
        "scripts/plot_fscore.py"


rule plot_failures:
    input:
        summary="results/summary.csv",
        predictions=run_files(f"{MODEL_DIR}/predictions.npz"),
        images="results/data/raw/t10k-images-idx3-ubyte",
    output:
        report(
            "results/figures/failure{digit}.png",
            caption="report/failures.rst",
            category="Test metrics",
        ),
    log:
        "results/logs/plot_failures_{digit}.log",
    conda:
        "envs/analysis.yaml"
    params:
        choice=config["analysis"]["dropout"],
        digit=lambda wildcards: int(wildcards.digit),
        runs=runs(),
        code=library_code("plot_failures.py"),
    script:
        "scripts/plot_failures.py"
