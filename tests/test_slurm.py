"""The workflow on a real single-node Slurm cluster started on 127.0.0.1, through
snakemake-executor-plugin-slurm and `profiles/slurm`, with real accounting."""

import re

import pytest

from conftest import REPO, read_summary, snakemake, write_yaml
from slurm_cluster import SlurmCluster, missing_binaries

MISSING = missing_binaries()
pytestmark = [
    pytest.mark.workflow,
    pytest.mark.skipif(
        bool(MISSING),
        reason=f"Slurm is not installed here (missing {', '.join(MISSING)}); .ci/run installs it with apt-get",
    ),
]
# Two of the shared run's models: one wave of jobs on a node of 2 or more CPUs
# (the plugin checks a wave's jobs about 10 s apart).
SLURM_DROPOUTS = [0.0, 0.5]
# Each model is trained and evaluated in one job.
SLURM_RULES = {"preprocess": 1, "train_and_evaluate": len(SLURM_DROPOUTS)}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with SlurmCluster(tmp_path_factory.mktemp("slurm")) as running:
        yield running


@pytest.fixture(scope="module")
def slurm_run(cluster, run, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slurm-run")
    _, configs = run
    configs = configs + [write_yaml(workdir / "dropout.yaml", {"dropout": SLURM_DROPOUTS})]
    result = snakemake(
        workdir,
        "--profile",
        str(REPO / "profiles" / "slurm"),
        # Snakemake asks Slurm about its jobs every second, not every 10 (a test cluster).
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--seconds-between-status-checks",
        "1",
        "--jobs",
        "4",
        configs=configs,
        timeout=1200,
    )
    return workdir, result


def test_results_match_the_local_run(slurm_run, run):
    workdir, _ = slurm_run
    local, _ = run
    # Same seeds and thread counts: the cluster computes the same bits as a local run.
    rows = read_summary(workdir)
    assert rows == [row for row in read_summary(local) if float(row["dropout"]) in SLURM_DROPOUTS]
    assert len(rows) == 2 and all(float(row["test_accuracy"]) >= 0.80 for row in rows)
    for name in ("fit_loss", "val_acc_dropout", "fscore", "failure8"):
        assert (workdir / "results" / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_heavy_rules_ran_as_slurm_jobs_and_light_ones_locally(slurm_run, cluster):
    workdir, result = slurm_run
    accounted = cluster.run("sacct", "-n", "-X", "-P", "-o", "JobID,State,Comment,Account", "-S", "now-1hour")
    jobs = [line.split("|") for line in accounted.splitlines() if line]
    by_rule = {}
    for job_id, state, comment, account in jobs:
        rule = re.match(r"rule_([a-z_]+?)(_wildcards_|$)", comment)
        if rule:
            assert state == "COMPLETED", (job_id, comment, state)
            assert account  # accounted to a real association
            by_rule.setdefault(rule.group(1), []).append(job_id)
    assert {rule: len(ids) for rule, ids in by_rule.items()} == SLURM_RULES
    # Each training job's Slurm log carries its job id, as the plugin names it.
    logs = sorted((workdir / ".snakemake" / "slurm_logs" / "rule_train_and_evaluate").rglob("*.log"))
    assert sorted(log.stem for log in logs) == sorted(by_rule["train_and_evaluate"])
    # ...and says which model the job trained.
    trained = sorted(re.search(r"wildcards: .*dropout=(\S+?),", log.read_text(errors="replace"))[1] for log in logs)
    assert trained == [str(p) for p in SLURM_DROPOUTS]
    # Downloads, aggregation and plots are localrules on the submitting host.
    assert "localrule download" in result.stderr and "localrule plot_curves" in result.stderr
    assert "rule train_and_evaluate:" in result.stderr and "localrule train_and_evaluate" not in result.stderr
    print("Slurm job ids:", {rule: ids for rule, ids in by_rule.items()})
