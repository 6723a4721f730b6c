"""What made a result: a digest of the code a job runs (of what it does, not of
its comments, docstrings or layout), the checkout's git version, the machine."""

import ast
import contextlib
import hashlib
import json
import platform
import subprocess
import sys
from pathlib import Path

from .jobs import InputError

# Instruction-set extensions that decide which kernels XLA and oneDNN compile:
# results are bitwise reproducible only on CPUs with the same ones.
SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "asimd", "sve")
# Nodes whose body may start with a docstring.
DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


class CodeError(InputError):
    """Code that changed since the run was planned."""


def _canonical(node):
    """A node as nested lists of its type and non-empty fields, without
    docstrings or positions (the same across Python versions' empty fields)."""
    if isinstance(node, list):
        return [_canonical(item) for item in node]
    if not isinstance(node, ast.AST):
        return node if isinstance(node, (str, int, float, bool, type(None))) else repr(node)
    fields = []
    for name in node._fields:
        value = getattr(node, name, None)
        if name == "body" and isinstance(node, DOCUMENTED) and ast.get_docstring(node) is not None:
            value = value[1:]
        value = _canonical(value)
        if value not in (None, []):
            fields.append([name, value])
    return [type(node).__name__, *fields]


def source_digest(source):
    """SHA-256 (16 hex digits) of what Python source does."""
    canonical = json.dumps(_canonical(ast.parse(source)), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def code_digest(files, scripts_dir):
    """{"digest": ..., "files": {path: digest}} of `files`, paths relative to
    `scripts_dir` (the rule scripts' folder)."""
    scripts_dir = Path(scripts_dir)
    digests = {Path(path).relative_to(scripts_dir).as_posix(): source_digest(Path(path).read_text()) for path in files}
    files = dict(sorted(digests.items()))
    combined = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
    return {"digest": combined, "files": files}


def check_code(planned, scripts_dir):
    """Raise a CodeError unless the files of `planned` (a code_digest) still
    have the digest they were planned with."""
    found = code_digest([Path(scripts_dir) / name for name in planned["files"]], scripts_dir)["digest"]
    if found != planned["digest"]:
        raise CodeError(
            f"the code changed since the run was planned (digest {found}, planned {planned['digest']}); "
            "rerun snakemake to train with the new code in a folder of its own"
        )


def code_version(directory):
    """The git commit of the checkout holding `directory` and whether that code
    had uncommitted changes; "not a git checkout"; or why git could not tell."""

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
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as stream:
        for line in stream:
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("", platform.processor(), platform.machine()):
                model = value.strip()
            elif key.strip() in ("flags", "Features"):
                flags = set(value.split())
                break
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
