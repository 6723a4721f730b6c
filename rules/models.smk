# One model per (settings, dropout, seed), trained and then evaluated on the
# test set in one job, in results/models/SETTINGS/pP/seedS, SETTINGS naming
# everything that can change it (training settings, data, code; one per
# combination of swept values): models of other settings or code are kept, so
# going back to them trains nothing.
#
# The execution settings (mnist_dropout.settings.EXECUTION_SETTINGS) are not
# params; the script reads them from the config. The dataset is ancient: its
# folder, in the settings key, pins its content, whatever its file times.

TRAIN_THREADS = config["train"]["threads"]


rule train_and_evaluate:
    input:
        data=ancient(get_dataset_files()),
    output:
        model=f"{MODEL_DIR}/model.keras",
        history=f"{MODEL_DIR}/history.csv",
        info=f"{MODEL_DIR}/train_info.json",
        metrics=f"{MODEL_DIR}/metrics.json",
        predictions=f"{MODEL_DIR}/predictions.npz",
    log:
        "results/logs/train/{settings}/p{dropout}_seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{settings}/p{dropout}_seed{seed}.tsv"
    conda:
        "../envs/tensorflow.yaml"
    threads: TRAIN_THREADS
    resources:
        mem_mb=2500,
        runtime=75,
        cpus_per_task=TRAIN_THREADS,
    params:
        settings=lambda wildcards: get_settings(wildcards.settings),
    script:
        "../scripts/train_and_evaluate.py"


# What the models of a settings folder were trained with, in readable YAML:
# the training settings, the data and the code files with their digests.
rule describe_settings:
    output:
        report(
            SETTINGS_FILE,
            caption="../report/settings.rst",
            category="Settings",
            labels={"settings": "{settings}", "file": "settings.yaml"},
        ),
    log:
        "results/logs/describe_settings/{settings}.log",
    params:
        settings=lambda wildcards: get_settings(wildcards.settings),
    run:
        study.write_settings(output[0], params.settings, log[0])
