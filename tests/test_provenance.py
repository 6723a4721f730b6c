"""What made a result: the code digest (what the code does, not how it is
written), the git version, the CPU; and outputs written under names unique to
their writer."""

import ast
import io
import subprocess
import tokenize
from pathlib import Path

import pytest

from conftest import REPO
from mnist_dropout.jobs import atomic_output
from mnist_dropout.provenance import CodeError, check_code, code_digest, code_version, cpu, source_digest

SCRIPTS = REPO / "scripts"
CODE_FILES = sorted([*SCRIPTS.glob("*.py"), *(SCRIPTS / "mnist_dropout").glob("*.py")])


def with_comments_and_docstrings_edited(source):
    """`source` with a comment on every line that can take one and every
    docstring reworded."""
    tree = ast.parse(source)
    lines = source.splitlines()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                lines[value.lineno - 1] = lines[value.lineno - 1].replace('"""', '"""Reworded. ', 1)
    statement_ends = {
        token.start[0]
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.NEWLINE
    }
    return "# a new first comment\n" + "\n".join(
        line + "  # edited" if number in statement_ends else line for number, line in enumerate(lines, 1)
    )


@pytest.mark.parametrize("path", CODE_FILES, ids=lambda path: path.relative_to(SCRIPTS).as_posix())
def test_comments_docstrings_and_layout_do_not_change_the_digest(path):
    source = path.read_text()
    edited = with_comments_and_docstrings_edited(source)
    assert edited != source
    assert source_digest(edited) == source_digest(source)
    # A reformat: the same code laid out by ast.unparse, comments gone.
    assert source_digest(ast.unparse(ast.parse(source))) == source_digest(source)
    # What the code does counts: one changed constant or name is another digest.
    assert source_digest(source + "\nEDITED = 1\n") != source_digest(source)


def test_code_changes_change_the_digest():
    assert source_digest("x = f(a, b)") != source_digest("x = f(b, a)")
    assert source_digest("x = 0.5") != source_digest("x = 0.25")
    assert source_digest("def f():\n    return 1") != source_digest("def g():\n    return 1")
    # A string that is not a docstring is code.
    assert source_digest("x = 1\n'text'") != source_digest("x = 1\n'other'")
    assert source_digest("def f():\n    '''doc'''\n    return 1") == source_digest("def f():\n    return 1")


def test_a_job_refuses_code_changed_since_it_was_planned(tmp_path):
    (tmp_path / "mnist_dropout").mkdir()
    entry, module = tmp_path / "entry.py", tmp_path / "mnist_dropout" / "a.py"
    entry.write_text("from mnist_dropout.a import A\n")
    module.write_text("A = 1\n")
    planned = code_digest([module, entry], tmp_path)
    assert list(planned["files"]) == ["entry.py", "mnist_dropout/a.py"]
    check_code(planned, tmp_path)
    module.write_text("A = 1  # a comment changes nothing\n")
    check_code(planned, tmp_path)
    module.write_text("A = 2\n")
    assert code_digest([entry, module], tmp_path)["digest"] != planned["digest"]
    with pytest.raises(CodeError, match="the code changed since the run was planned"):
        check_code(planned, tmp_path)


def test_code_version_names_the_commit_and_uncommitted_changes_of_the_code(tmp_path):
    code = tmp_path / "scripts"
    code.mkdir()
    assert code_version(code) == {"git_commit": "not a git checkout"}

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (code / "code.py").write_text("x = 1\n")
    (tmp_path / "README.md").write_text("notes\n")
    git("add", "scripts/code.py", "README.md")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "first")
    commit = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert code_version(code) == {"git_commit": commit.strip(), "uncommitted_changes": False}
    # An edit beside the code is not a change of the code.
    (tmp_path / "README.md").write_text("more notes\n")
    assert code_version(code) == {"git_commit": commit.strip(), "uncommitted_changes": False}
    (code / "code.py").write_text("x = 2\n")
    assert code_version(code) == {"git_commit": commit.strip(), "uncommitted_changes": True}


def test_the_digest_of_a_fixed_source_is_the_same_on_every_python():
    # CI runs this on 3.11 and 3.13: settings keys must not depend on the
    # interpreter that plans the run.
    source = 'def f(x, *, y=1.5):\n    """Doc."""\n    return [x ** 2 for x in range(y)] if x else {"a": None}\n'
    assert source_digest(source) == "cc0b9f0f8b6ec444"


def test_cpu_names_the_model_and_its_vector_extensions():
    found = cpu()
    assert found["model"] and isinstance(found["model"], str)
    flags = set(Path("/proc/cpuinfo").read_text().split("flags", 1)[1].split("\n", 1)[0].split())
    assert {"avx2", "avx512f"} & flags == {"avx2", "avx512f"} & set(found["instruction_set"])


def test_two_writers_of_one_output_never_share_a_temporary_file(tmp_path):
    path = tmp_path / "model.keras"
    with atomic_output(path) as first, atomic_output(path) as second:
        assert first != second and first.endswith(".keras") and second.endswith(".keras")
        Path(first).write_text("first writer")
        Path(second).write_text("second writer")
    # Each published its whole file, the last to finish last.
    assert path.read_text() == "first writer"
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]
    with pytest.raises(RuntimeError):
        with atomic_output(path) as failed:
            Path(failed).write_text("half")
            raise RuntimeError("killed")
    assert path.read_text() == "first writer" and [p.name for p in tmp_path.iterdir()] == ["model.keras"]
