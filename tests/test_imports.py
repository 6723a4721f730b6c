"""What each kind of job imports, as the README says: the tables and figures
never TensorFlow, JAX or Keras (they redraw in seconds); training never MLflow;
and each rule script exactly the modules of this package its code digest
covers (settings.SCRIPT_MODULES), besides those it leaves out (NOT_KEYED)."""

import concurrent.futures
import json
import subprocess
import sys

from conftest import REPO
from mnist_dropout.settings import NOT_KEYED, SCRIPT_MODULES, TRAINING_SCRIPT

SCRIPTS = REPO / "scripts"
ANALYSIS_SCRIPTS = ["aggregate.py", "plot_curves.py", "plot_test_accuracy.py", "plot_fscore.py", "plot_failures.py"]

# Chooses the backend as a training job does (argv[2], or none), runs every
# import statement of the scripts given, at any depth, in a fresh process, then
# prints the modules it loaded: the watched ones of argv[1], and this package's.
IMPORTS = """
import ast, json, sys
if sys.argv[2]:
    from mnist_dropout.backend import select_backend
    select_backend(sys.argv[2])
for path in sys.argv[3:]:
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            exec(compile(ast.Module([node], []), path, "exec"), {})
loaded = {name.split(".")[0] for name in sys.modules} & set(sys.argv[1].split(","))
package = {name.split(".")[1] for name in sys.modules if name.startswith("mnist_dropout.")}
print(json.dumps([sorted(loaded), sorted(package)]))
"""


def loaded(watched, backend, *scripts):
    """([the watched modules loaded], [the package's modules loaded]) by `scripts`."""
    command = [sys.executable, "-c", IMPORTS, watched, backend, *map(str, scripts)]
    result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=SCRIPTS, timeout=120)
    return json.loads(result.stdout.splitlines()[-1])


def test_tables_and_figures_import_no_deep_learning_library(tmp_path):
    assert loaded("tensorflow,jax,keras", "", *ANALYSIS_SCRIPTS)[0] == []
    # The check sees such an import where there is one.
    (tmp_path / "uses_keras.py").write_text("from mnist_dropout.figures import plot_failures\nimport keras\n")
    assert loaded("tensorflow,jax,keras", "", tmp_path / "uses_keras.py")[0] != []


def test_each_script_imports_exactly_the_modules_its_digest_covers(tmp_path):
    def imports(script):
        return loaded("mlflow,keras", "jax" if script == TRAINING_SCRIPT else "", script)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        found = dict(zip(SCRIPT_MODULES, pool.map(imports, SCRIPT_MODULES)))
    for script, (_, package) in found.items():
        assert set(package) - set(NOT_KEYED) == set(SCRIPT_MODULES[script]), script
    assert found[TRAINING_SCRIPT][0] == ["keras"]  # training never imports MLflow
    # The check sees an undeclared module where there is one.
    (tmp_path / "extra.py").write_text("from mnist_dropout.idx import load_idx\nfrom mnist_dropout import tables\n")
    assert set(loaded("", "", tmp_path / "extra.py")[1]) == {"idx", "jobs", "tables"}
