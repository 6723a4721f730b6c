"""The README and docs name only things of this repository that exist, and the
package pins of requirements*.txt and envs/*.yaml agree."""

import ast
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import yaml

from conftest import REPO

# Folders and files of the repository a doc may name (results/ and .cache/ are
# what a run makes, not the repository's).
TOP_LEVEL = "Snakefile|config\\.yaml|pyproject\\.toml|requirements[\\w-]*\\.txt|README\\.md"
FOLDERS = "\\.ci|benchmarks|docs|envs|profiles|report|rules|schemas|scripts|tests"
REPO_PATH = re.compile(rf"(?<![\w./-])(?:(?:{FOLDERS})/[\w./-]*|(?:{TOP_LEVEL}))(?![\w/-])")
CONFIG_KEY = re.compile(r"(?:data|train|analysis|sweep)(?:\.\w+)+")
# A command of this repository (its --help lists its options) and its arguments up to a shell separator.
COMMAND = re.compile(r"python3? ((?:benchmarks|tests)/\w+\.py|-m mnist_dropout\.\w+)([^\n;&|`]*)")


def docs(root):
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def code_of(text):
    """The inline code spans and fenced blocks of a Markdown text."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return blocks + re.findall(r"`([^`\n]+)`", prose)


def schema_node(node, schema):
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def config_key_exists(key, schema):
    node = schema
    for part in key.split("."):
        node = schema_node(node, schema)
        options = [node, *node.get("oneOf", []), *node.get("anyOf", [])]
        found = [
            schema_node(option, schema)["properties"][part]
            for option in options
            if part in option.get("properties", {})
        ]
        if not found:
            return False
        node = found[0]
    return True


def module_name_exists(root, dotted):
    """Whether `mnist_dropout.MODULE[.NAME]` names a module of the package and
    a top-level name it defines (read, not imported)."""
    _, module, *names = dotted.split(".")
    path = root / "scripts" / "mnist_dropout" / f"{module}.py"
    if not path.is_file():
        return False
    defined = set()
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", node)]
        defined |= {getattr(target, "id", getattr(target, "name", None)) for target in targets}
    return not names or names[0] in defined


@cache
def options_of(root, command):
    """The --options a repository command's --help lists."""
    argv = [sys.executable, *command.split()] if command.startswith("-m") else [sys.executable, command]
    result = subprocess.run([*argv, "--help"], cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{command} --help failed: {result.stderr}"
    return set(re.findall(r"--[\w-]+", result.stdout))


def stale_names(root):
    """Each name the README and docs under `root` give that `root` lacks, as
    "FILE: NAME (what it is)"."""
    root = Path(root)
    schema = yaml.safe_load((root / "schemas" / "config.schema.yaml").read_text())
    rules = set(
        re.findall(
            r"^rule (\w+):",
            "\n".join(p.read_text() for p in [root / "Snakefile", *root.glob("rules/*.smk")]),
            flags=re.MULTILINE,
        )
    )
    stale = []
    for doc in docs(root):
        text = doc.read_text()
        name = doc.relative_to(root)
        # Settings a recipe's own patch adds (docs/extending.md).
        added = set(re.findall(r"^\+\s*(\w+):", text, flags=re.MULTILINE))
        prose = re.sub(r"`[^`\n]*`", "", re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL))
        for link in re.findall(r"\]\(([^)#\s]+)", prose):
            if not re.match(r"\w+://", link) and not (doc.parent / link).exists():
                stale.append(f"{name}: {link} (link)")
        for module in re.findall(r"mnist_dropout(?:\.\w+)+", text):
            if not module_name_exists(root, module):
                stale.append(f"{name}: {module} (module or attribute)")
        for rule in re.findall(r"\brules? `(\w+)`|`(\w+)` rule", text):
            if (rule[0] or rule[1]) not in rules:
                stale.append(f"{name}: {rule[0] or rule[1]} (rule)")
        for code in code_of(text):
            for path in REPO_PATH.findall(code):
                if not (root / path.rstrip(".")).exists():
                    stale.append(f"{name}: {path} (file)")
            # A key alone in its span (`train.threads`, `train.backend: jax`), or set by an option.
            keys = re.findall(rf"--set ({CONFIG_KEY.pattern})=", code)
            keys += [key for key in [code.split(":")[0].split("=")[0].strip()] if CONFIG_KEY.fullmatch(key)]
            for key in keys:
                if key.rsplit(".", 1)[1] not in added and not config_key_exists(key, schema):
                    stale.append(f"{name}: {key} (config key)")
            for command, arguments in COMMAND.findall(code):
                if (root / command).is_file() or command.startswith("-m"):
                    for option in re.findall(r"(?<![\w-])--[\w-]+", arguments):
                        if option not in options_of(root, command):
                            stale.append(f"{name}: {command} {option} (option)")
                else:
                    stale.append(f"{name}: {command} (command)")
    return sorted(set(stale))


def test_the_docs_name_only_what_exists(tmp_path):
    assert stale_names(REPO) == []
    # Each kind of stale name is found: a copy with one of each.
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for name in tracked.split():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, tmp_path / name)
    stale = [
        "[gone](gone.md)",
        "`mnist_dropout.reading`",
        "`mnist_dropout.kept.read_everything`",
        "rule `train_model`",
        "`scripts/nothing.py`",
        "`train.learning_rat`",
        "`python benchmarks/benchmark.py --set train.treads=2`",
        "`python -m mnist_dropout.runs --purge`",
    ]
    with open(tmp_path / "docs" / "usage.md", "a") as doc:
        doc.write("\n" + "\n\n".join(stale) + "\n")
    assert stale_names(tmp_path) == [
        "docs/usage.md: -m mnist_dropout.runs --purge (option)",
        "docs/usage.md: gone.md (link)",
        "docs/usage.md: mnist_dropout.kept.read_everything (module or attribute)",
        "docs/usage.md: mnist_dropout.reading (module or attribute)",
        "docs/usage.md: scripts/nothing.py (file)",
        "docs/usage.md: train.learning_rat (config key)",
        "docs/usage.md: train.treads (config key)",
        "docs/usage.md: train_model (rule)",
    ]


def pins(root):
    """{(file, package): version} of the `name==version` pins of
    requirements*.txt and envs/*.yaml (pip and conda entries)."""
    found = {}
    for path in sorted(Path(root).glob("requirements*.txt")):
        for name, version in re.findall(r"^([\w.-]+)==([^\s#]+)", path.read_text(), flags=re.MULTILINE):
            found[(path.name, name.lower())] = version
    for path in sorted(Path(root).glob("envs/*.yaml")):
        dependencies = yaml.safe_load(path.read_text())["dependencies"]
        entries = [entry for item in dependencies for entry in (item["pip"] if isinstance(item, dict) else [item])]
        for entry in entries:
            match = re.fullmatch(r"([\w.-]+)\s*==?\s*([^\s=]+)", entry)
            if match:
                found[(f"envs/{path.name}", match[1].lower())] = match[2]
    return found


def pin_disagreements(root):
    """ "PACKAGE: FILE VERSION, FILE VERSION" for each package pinned to two versions."""
    versions = {}
    for (path, name), version in pins(root).items():
        versions.setdefault(name, {})[path] = version
    return [
        f"{name}: " + ", ".join(f"{path} {version}" for path, version in by_file.items())
        for name, by_file in sorted(versions.items())
        if len(set(by_file.values())) > 1
    ]


def test_each_package_has_one_pinned_version(tmp_path):
    assert pin_disagreements(REPO) == []
    assert {name for _, name in pins(REPO)} >= {"tensorflow", "keras", "jax", "numpy", "mlflow", "snakemake", "python"}
    # A copy with one pin changed is caught.
    for name in ("envs", "requirements.txt", "requirements-tracking.txt", "requirements-dev.txt"):
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy)(REPO / name, tmp_path / name)
    environment = tmp_path / "envs" / "analysis.yaml"
    environment.write_text(environment.read_text().replace("numpy==", "numpy==1.0.0  # "))
    (disagreement,) = pin_disagreements(tmp_path)
    assert disagreement.startswith("numpy: ") and "envs/analysis.yaml 1.0.0" in disagreement
