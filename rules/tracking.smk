# Every model kept under results/models (not only the config's) as one run of
# an MLflow tracking store, rebuilt on every export: browse it with
# `mlflow ui --backend-store-uri sqlite:///results/mlflow/mlflow.db`. One local
# job (SQLite takes one writer); the config's models are made first, the other
# kept folders rerun the export when their files change (params.kept).


rule export_mlflow:
    input:
        settings=rules.aggregate.input.settings,
        histories=rules.aggregate.input.histories,
        metrics=rules.aggregate.input.metrics,
    output:
        store="results/mlflow/mlflow.db",
        artifacts=directory("results/mlflow/artifacts"),
    log:
        "results/logs/export_mlflow.log",
    conda:
        "../envs/tracking.yaml"
    params:
        current=get_runs(),
        kept=lambda wildcards: get_kept_models_state(),
        code=get_script_code("export_mlflow.py"),
    script:
        "../scripts/export_mlflow.py"
