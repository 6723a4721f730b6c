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

# TensorFlow's CPU allocator frees and reallocates multi-megabyte buffers every
# training step, and glibc hands blocks above 128 KB back to the kernel on free,
# so every step faults them in again: most of a TensorFlow job's kernel time.
# Keeping blocks up to 32 MB in the heap avoids it. Jobs inherit the environment.
os.environ.setdefault("GLIBC_TUNABLES", MALLOC_TUNABLES)


wildcard_constraints:
    name="|".join(IDX_FILES),
    settings=r"[0-9a-f]{12}",
    dropout=r"\d+\.\d+",
    seed=r"\d+",
    digit=r"\d",


# Light steps run on the submitting host, not as cluster jobs; `download` too,
# because cluster compute nodes often have no internet access.
localrules:
    all,
    download,
    describe_settings,
    aggregate,
    plot_curves,
    plot_test_accuracy,
    plot_fscore,
    plot_failures,


rule all:
    default_target: True
    input:
        final_outputs(),


# MNIST: download and verify, preprocess once.
include: "rules/data.smk"
# One model per (dropout, seed): train and evaluate.
include: "rules/models.smk"
# Every model's results: summary tables and figures.
include: "rules/analysis.smk"
