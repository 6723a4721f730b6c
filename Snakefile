# The MNIST dropout study: download and verify MNIST, preprocess it once, train
# one MLP per (dropout, seed), evaluate each, aggregate into tables and figures.
import os
import sys

from snakemake.utils import min_version

min_version("9.0")

# The rules and their jobs run this workflow's own library, whatever else is
# installed: its folder first on the path, here and (PYTHONPATH) in every job.
SCRIPTS = os.path.join(workflow.basedir, "scripts")
sys.path.insert(0, SCRIPTS)
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [SCRIPTS, os.environ.get("PYTHONPATH")])))


# Relative to this file, so that `--directory` can put results elsewhere.
configfile: os.path.join(workflow.basedir, "config.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"


check_config(config)
check_results_writable()


wildcard_constraints:
    name="|".join(IDX_FILES),
    settings=r"[0-9a-f]{12}",
    dataset=r"[0-9a-f]{12}",
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
    export_mlflow,


# MNIST: download and verify, preprocess once.
include: "rules/data.smk"
# One model per (dropout, seed): train and evaluate.
include: "rules/models.smk"
# Every model's results: summary tables and figures.
include: "rules/analysis.smk"
# Optional: every kept model in MLflow (results/mlflow/mlflow.db).
include: "rules/tracking.smk"


rule all:
    default_target: True
    input:
        rules.aggregate.output,
        rules.plot_curves.output,
        rules.plot_test_accuracy.output,
        rules.plot_fscore.output,
        expand(rules.plot_failures.output, digit=config["analysis"]["failure_digit"]),
