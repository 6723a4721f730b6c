"""What every rule script shares: logging to the rule's log file, one-line errors."""

import contextlib
import os
import secrets
import sys


class InputError(Exception):
    """Bad input the user can fix; reported as one line, without a traceback."""


class NotFiniteError(InputError):
    """A model diverged: NaN or infinite losses, weights or probabilities."""


@contextlib.contextmanager
def log_to(log_path):
    """Send stdout and stderr to `log_path`, at file-descriptor level so that
    TensorFlow's C++ messages land there too; report InputError as one line."""
    sys.stdout.flush()
    sys.stderr.flush()
    descriptor = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    os.close(descriptor)
    try:
        yield
    except InputError as error:
        print(f"ERROR: {error}", file=sys.stderr, flush=True)
        sys.exit(1)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary path beside `path`, renamed to `path` only on success,
    so an interrupted job never leaves a truncated file under the real name.
    The temporary name is unique to this writer: two writers of one output (a
    cluster retry while the first attempt still runs, a run with --nolock)
    never write into or publish each other's file."""
    path = os.fspath(path)
    directory, name = os.path.split(path)
    stem, extension = os.path.splitext(name)
    # Keep the extension: numpy and Keras choose the format by it.
    # Not created here (the writer creates it, with the usual permissions).
    temporary = os.path.join(directory, f".{stem}.{os.getpid()}-{secrets.token_hex(4)}.tmp{extension}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
