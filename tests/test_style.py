"""The workflow passes Snakemake's linter, is snakefmt- and black-formatted;
the README's test command is the one CI runs."""

import re
import subprocess
import sys

from conftest import REPO


def test_snakemake_lint_finds_nothing():
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_snakefmt_leaves_the_workflow_unchanged():
    result = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "Snakefile", "rules"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_python_is_black_formatted():
    result = subprocess.run(
        [sys.executable, "-m", "black", "--check", "scripts", "tests", "benchmarks", ".ci"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    commands = re.findall(r"```sh\n(.+?)\n```", readme)
    assert len(commands) >= 2
    test_command = [c for c in commands if "pytest" in c][0]
    assert test_command in (REPO / ".ci" / "run").read_text()
