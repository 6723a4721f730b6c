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
        # Not the mirrors: where the bytes come from is not what they are (the
        # checksum pins that), so changing data.mirrors reruns nothing. The
        # script reads them from the config.
        sha256=lambda wildcards: config["data"]["sha256"][wildcards.name],
        attempts=4,
        timeout_seconds=60,
        code=library_code("download.py"),
    script:
        "../scripts/download.py"


rule preprocess:
    input:
        **raw_idx_files(),
    output:
        **DATASET,
    log:
        "results/logs/preprocess.log",
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
        cpus_per_task=1,
    params:
        code=library_code("preprocess.py"),
    script:
        "../scripts/preprocess.py"
