# MNIST: each IDX file downloaded from the first mirror that has it and verified
# by SHA-256, then all four preprocessed once into the arrays the jobs map into memory.


rule download:
    output:
        "results/data/raw/{name}",
    log:
        "results/logs/download/{name}.log",
    conda:
        "../envs/analysis.yaml"
    params:
        # Neither the mirrors nor the code: where and how the bytes come is not
        # what they are (the checksum pins that), so changing data.mirrors or the
        # download code reruns nothing. The script reads the mirrors from the config.
        sha256=lambda wildcards: config["data"]["sha256"][wildcards.name],
        attempts=4,
        timeout_seconds=60,
    script:
        "../scripts/download.py"


# In a folder named by the checksums and the preprocessing code: a change of
# either makes a new dataset, and the models trained on the old one keep it.
rule preprocess:
    input:
        **get_raw_idx_files(),
    output:
        **DATASET,
    log:
        "results/logs/preprocess/{dataset}.log",
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
        cpus_per_task=1,
    script:
        "../scripts/preprocess.py"
