# Every model's results: the summary tables, then the figures. None of these
# steps imports TensorFlow or JAX, so a plot-only change redraws in seconds.
# With a sweep, the summary and the per-p figures cover every combination; the
# precision, recall and failures are those of the analysed settings (train:).


rule aggregate:
    input:
        analysed_settings=SETTINGS_FILE.format(settings=get_analysed_settings()),
        settings=[SETTINGS_FILE.format(settings=key) for key in get_settings_grid()],
        histories=get_run_files(f"{MODEL_DIR}/history.csv"),
        metrics=get_run_files(f"{MODEL_DIR}/metrics.json"),
    output:
        csv=report("results/summary.csv", caption="../report/summary.rst", category="Tables"),
        markdown=report("results/summary.md", caption="../report/summary.rst", category="Tables"),
    log:
        "results/logs/aggregate.log",
    conda:
        "../envs/analysis.yaml"
    params:
        runs=get_runs(),
        swept=get_swept_values(),
        analysed=get_analysed_settings(),
        early_stopping=get_early_stopping(),
        code=get_script_code("aggregate.py"),
    script:
        "../scripts/aggregate.py"


rule plot_curves:
    input:
        get_run_files(f"{MODEL_DIR}/history.csv"),
    output:
        fit_loss=report(
            "results/figures/fit_loss.png",
            caption="../report/fit_loss.rst",
            category="Learning curves",
        ),
        train_loss=report(
            "results/figures/train_loss_dropout.png",
            caption="../report/train_loss_dropout.rst",
            category="Learning curves",
        ),
        val_loss=report(
            "results/figures/val_loss_dropout.png",
            caption="../report/val_loss_dropout.rst",
            category="Learning curves",
        ),
        val_acc=report(
            "results/figures/val_acc_dropout.png",
            caption="../report/val_acc_dropout.rst",
            category="Learning curves",
        ),
    log:
        "results/logs/plot_curves.log",
    conda:
        "../envs/analysis.yaml"
    params:
        runs=get_runs(),
        swept=get_swept_values(),
        analysed=get_analysed_settings(),
        code=get_script_code("plot_curves.py"),
    script:
        "../scripts/plot_curves.py"


rule plot_test_accuracy:
    input:
        rules.aggregate.output.csv,
    output:
        report(
            "results/figures/test_acc_dropout.png",
            caption="../report/test_acc_dropout.rst",
            category="Test metrics",
        ),
    log:
        "results/logs/plot_test_accuracy.log",
    conda:
        "../envs/analysis.yaml"
    params:
        swept=get_swept_values(),
        code=get_script_code("plot_test_accuracy.py"),
    script:
        "../scripts/plot_test_accuracy.py"


rule plot_fscore:
    input:
        summary=rules.aggregate.output.csv,
        metrics=get_run_files(f"{MODEL_DIR}/metrics.json", get_analysed_runs()),
    output:
        figure=report(
            "results/figures/fscore.png",
            caption="../report/fscore.rst",
            category="Test metrics",
        ),
        table="results/analysis/precision_recall.csv",
    log:
        "results/logs/plot_fscore.log",
    conda:
        "../envs/analysis.yaml"
    params:
        choice=config["analysis"]["dropout"],
        analysed=get_analysed_settings(),
        swept=get_swept_values()[get_analysed_settings()],
        runs=get_analysed_runs(),
        code=get_script_code("plot_fscore.py"),
    script:
        "../scripts/plot_fscore.py"


rule plot_failures:
    input:
        summary=rules.aggregate.output.csv,
        predictions=get_run_files(f"{MODEL_DIR}/predictions.npz", get_analysed_runs()),
        images=get_raw_idx_files()["test_images"],
    output:
        report(
            "results/figures/failure{digit}.png",
            caption="../report/failures.rst",
            category="Test metrics",
        ),
    log:
        "results/logs/plot_failures_{digit}.log",
    conda:
        "../envs/analysis.yaml"
    params:
        choice=config["analysis"]["dropout"],
        digit=lambda wildcards: int(wildcards.digit),
        analysed=get_analysed_settings(),
        swept=get_swept_values()[get_analysed_settings()],
        runs=get_analysed_runs(),
        code=get_script_code("plot_failures.py"),
    script:
        "../scripts/plot_failures.py"
