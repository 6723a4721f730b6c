"""What each kind of job imports, as the README says: the tables and figures
never TensorFlow, JAX or Keras (they redraw in seconds); training never MLflow."""

import json
import subprocess
import sys

from conftest import REPO
from mnist_dropout.provenance import code_digest

SCRIPTS = REPO / "scripts"
ANALYSIS_SCRIPTS = ["aggregate.py", "plot_curves.py", "plot_test_accuracy.py", "plot_fscore.py", "plot_failures.py"]

# Runs the import statements at the top of each script given, in a fresh
# process, then prints which of the modules named in argv[1] it loaded.
TOP_LEVEL_IMPORTS = """
import ast, json, sys
watched = sys.argv[1].split(",")
for path in sys.argv[2:]:
    for node in ast.parse(open(path).read()).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            exec(compile(ast.Module([node], []), path, "exec"), {})
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules} & set(watched))))
"""

# Chooses the backend as a training job does, imports every module of the
# package the job runs, then prints which of the modules in argv[1] it loaded.
TRAINING_IMPORTS = """
import importlib, json, sys
from mnist_dropout.backend import select_backend
select_backend(sys.argv[2])
for name in sys.argv[3:]:
    importlib.import_module(name)
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules} & set(sys.argv[1].split(",")))))
"""


def loaded(code, *args):
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, cwd=SCRIPTS, timeout=120
    )
    return json.loads(result.stdout.splitlines()[-1])


def test_tables_and_figures_import_no_deep_learning_library(tmp_path):
    assert loaded(TOP_LEVEL_IMPORTS, "tensorflow,jax,keras", *ANALYSIS_SCRIPTS) == []
    # The check sees such an import where there is one.
    (tmp_path / "uses_keras.py").write_text("from mnist_dropout.figures import plot_failures\nimport keras\n")
    assert loaded(TOP_LEVEL_IMPORTS, "tensorflow,jax,keras", str(tmp_path / "uses_keras.py")) != []


def test_training_imports_no_mlflow():
    files = code_digest([SCRIPTS / "train_and_evaluate.py"], SCRIPTS / "mnist_dropout")["files"]
    modules = [name.removesuffix(".py").replace("/", ".") for name in files if name.startswith("mnist_dropout/")]
    assert "mnist_dropout.training" in modules and "mnist_dropout.evaluation" in modules
    assert loaded(TRAINING_IMPORTS, "mlflow,keras", "jax", *modules) == ["keras"]
