# The summary tables, then the figures drawn from them and the kept files,
# without TensorFlow or JAX: a plot-only change redraws in seconds. Precision,
# recall and failures are those of the analysed settings (train:).


rule aggregate:
    input:
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
        analysed=get_analysed_settings(),
        code=get_script_code("aggregate.py"),
    script:
        "../scripts/aggregate.py"


rule plot_curves:
    input:
        settings=rules.aggregate.input.settings,
        histories=rules.aggregate.input.histories,
    output:
        fit_loss=figure("fit_loss", "Learning curves"),
        train_loss=figure("train_loss_dropout", "Learning curves"),
        val_loss=figure("val_loss_dropout", "Learning curves"),
        val_acc=figure("val_acc_dropout", "Learning curves"),
    log:
        "results/logs/plot_curves.log",
    conda:
        "../envs/analysis.yaml"
    params:
        analysed=get_analysed_settings(),
        code=get_script_code("plot_curves.py"),
    script:
        "../scripts/plot_curves.py"


rule plot_test_accuracy:
    input:
        summary=rules.aggregate.output.csv,
        settings=rules.aggregate.input.settings,
    output:
        figure("test_acc_dropout", "Test metrics"),
    log:
        "results/logs/plot_test_accuracy.log",
    conda:
        "../envs/analysis.yaml"
    params:
        code=get_script_code("plot_test_accuracy.py"),
    script:
        "../scripts/plot_test_accuracy.py"


rule plot_fscore:
    input:
        summary=rules.aggregate.output.csv,
        settings=rules.aggregate.input.settings,
        metrics=get_run_files(f"{MODEL_DIR}/metrics.json", get_analysed_settings()),
    output:
        figure=figure("fscore", "Test metrics"),
        table="results/analysis/precision_recall.csv",
    log:
        "results/logs/plot_fscore.log",
    conda:
        "../envs/analysis.yaml"
    params:
        choice=config["analysis"]["dropout"],
        analysed=get_analysed_settings(),
        code=get_script_code("plot_fscore.py"),
    script:
        "../scripts/plot_fscore.py"


rule plot_failures:
    input:
        summary=rules.aggregate.output.csv,
        settings=rules.aggregate.input.settings,
        predictions=get_run_files(f"{MODEL_DIR}/predictions.npz", get_analysed_settings()),
        images=get_raw_idx_files()["test_images"],
    output:
        figure("failure{digit}", "Test metrics"),
    log:
        "results/logs/plot_failures_{digit}.log",
    conda:
        "../envs/analysis.yaml"
    params:
        choice=config["analysis"]["dropout"],
        digit=lambda wildcards: int(wildcards.digit),
        analysed=get_analysed_settings(),
        code=get_script_code("plot_failures.py"),
    script:
        "../scripts/plot_failures.py"
