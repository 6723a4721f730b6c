"""What made a result: a digest of the code a job runs, counted by what the code
does (comments, docstrings and formatting do not count), the checkout's git
version, and the machine."""

import ast
import hashlib
import json
import platform
import subprocess
import sys
from pathlib import Path

from .jobs import InputError

PACKAGE = __package__
# Instruction-set extensions that decide which kernels XLA and oneDNN compile:
# results are bitwise reproducible only on CPUs with the same ones.
SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "asimd", "sve")


# Nodes whose body may start with a docstring.
DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


class CodeError(InputError):
    """Code whose imports of the package cannot be followed, or that changed
    since the run was planned."""


def _canonical(node):
    """A node as nested lists of its type and non-empty fields, without
    docstrings or positions: the same for code that only differs in comments,
    docstrings or layout, and across Python versions' optional empty fields."""
    if isinstance(node, list):
        return [_canonical(item) for item in node]
    if not isinstance(node, ast.AST):
        return node if isinstance(node, (str, int, float, bool, type(None))) else repr(node)
    fields = []
    for name in node._fields:
        value = getattr(node, name, None)
        if name == "body" and isinstance(node, DOCUMENTED) and value and _is_docstring(value[0]):
            value = value[1:]
        value = _canonical(value)
        if value not in (None, []):
            fields.append([name, value])
    return [type(node).__name__, *fields]


def _is_docstring(statement):
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def source_digest(source):
    """SHA-256 (16 hex digits) of what Python source does."""
    canonical = json.dumps(_canonical(ast.parse(source)), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _module_file(package_dir, parts):
    """The file of module PACKAGE.parts (a package's __init__.py), or None."""
    path = package_dir.joinpath(*parts)
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def imported_files(path, package_dir):
    """The package's files that importing the Python file `path` runs directly:
    every form of import (`import P.m`, `from P import m`, `from P.m import x`,
    relative ones inside the package), each with the package's __init__.py. An
    import that cannot be followed (a bare `import P`, whose attributes could be
    any module; importlib; a relative import above the package) is a CodeError
    naming the file, line and import."""
    path, package_dir = Path(path), Path(package_dir)
    inside = path.parent == package_dir
    tree = ast.parse(path.read_text(), filename=str(path))
    files = set()

    def refuse(node, why):
        raise CodeError(f"{path}:{node.lineno}: `{ast.unparse(node)}`: {why}")

    def add(node, parts):
        """Module PACKAGE.parts: its file, and the __init__.py it runs first."""
        files.add(package_dir / "__init__.py")
        if parts:
            found = _module_file(package_dir, parts)
            if found is None:
                refuse(node, f"no module {'.'.join([PACKAGE, *parts])} in {package_dir}")
            files.add(found)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                head, *parts = alias.name.split(".")
                if head == PACKAGE:
                    if not parts:
                        refuse(node, f"import the modules of {PACKAGE} by name, e.g. `from {PACKAGE} import model`")
                    add(node, parts)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if not inside or node.level > 1:
                    refuse(node, f"a relative import outside the package {package_dir}")
                parts = node.module.split(".") if node.module else []
            elif node.module and node.module.split(".")[0] == PACKAGE:
                parts = node.module.split(".")[1:]
            else:
                continue
            add(node, parts)
            # `from P import m` / `from . import m`: m may be a module.
            for alias in node.names:
                if _module_file(package_dir, [*parts, alias.name]) is not None:
                    add(node, [*parts, alias.name])
        elif isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name in ("__import__", "importlib.import_module", "import_module"):
                refuse(node, "imports by name cannot be followed; use an import statement")
    files.discard(path)
    return files


def code_digest(entry_scripts, package_dir):
    """{"digest": ..., "files": {path: digest}} of the entry scripts and every
    module of the package they run, directly or through each other; paths
    relative to the package's parent folder."""
    package_dir = Path(package_dir)
    seen, pending = set(), [Path(script) for script in entry_scripts]
    while pending:
        path = pending.pop()
        if path not in seen:
            seen.add(path)
            pending += imported_files(path, package_dir)
    files = {path.relative_to(package_dir.parent).as_posix(): source_digest(path.read_text()) for path in sorted(seen)}
    combined = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
    return {"digest": combined, "files": files}


def check_code(expected, entry_scripts, package_dir):
    """Raise a CodeError unless the code of `entry_scripts` (and what they
    import) still has the digest `expected` it was planned with."""
    found = code_digest(entry_scripts, package_dir)["digest"]
    if found != expected:
        raise CodeError(
            f"the code changed since the run was planned (digest {found}, planned {expected}); "
            "rerun snakemake to train with the new code in a folder of its own"
        )


def code_version(directory):
    """The git commit of the checkout holding `directory` (the code), and
    whether that code had uncommitted changes; "not a git checkout"; or why git
    could not tell."""

    def git(*args):
        return subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=30)

    try:
        commit = git("rev-parse", "HEAD")
        if commit.returncode != 0:
            if "not a git repository" in commit.stderr:
                return {"git_commit": "not a git checkout"}
            said = commit.stderr.strip().splitlines()
            return {"git_commit": f"unknown (git: {said[-1] if said else 'failed'})"}
        changes = git("status", "--porcelain", "--untracked-files=no", "--", ".")
    except (OSError, subprocess.SubprocessError) as error:
        return {"git_commit": f"unknown ({error})"}
    return {"git_commit": commit.stdout.strip(), "uncommitted_changes": bool(changes.stdout.strip())}


def cpu():
    """The CPU model and the instruction-set extensions it has of SIMD_FLAGS."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as stream:
            for line in stream:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model in ("", platform.processor(), platform.machine()):
                    model = value.strip()
                elif key.strip() in ("flags", "Features"):
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return {"model": model, "instruction_set": [flag for flag in SIMD_FLAGS if flag in flags]}


def machine():
    """The CPU, the operating system and the Python and NumPy versions."""
    import numpy

    return {
        "cpu": cpu(),
        "system": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
    }
