"""What every rule script shares: logging to the rule's log file, one-line errors."""

import contextlib
import errno
import os
import secrets
import sys


class InputError(Exception):
    """A problem the user can act on, reported as one line without a traceback."""


class NotFiniteError(InputError):
    """A model diverged: NaN or infinite losses, weights or probabilities."""


# Faults of the machine that stop a job's files: what the job could not do, the fix.
WRITE_FAULTS = {
    errno.ENOSPC: ("write", "free space on its filesystem"),
    errno.EDQUOT: ("write", "free space within your disk quota"),
    errno.EROFS: ("write", "make its filesystem writable"),
    errno.EACCES: ("access", "give yourself permission there"),
    errno.EPERM: ("access", "give yourself permission there"),
}


def write_fault(error):
    """The one line for an OSError of WRITE_FAULTS (else None)."""
    if error.errno not in WRITE_FAULTS:
        return None
    verb, fix = WRITE_FAULTS[error.errno]
    return (
        f"cannot {verb} {error.filename or 'an output'}: {error.strerror} ({errno.errorcode[error.errno]}); "
        f"{fix}, then rerun the same command: finished models are kept"
    )


def fail(message, fallback=2):
    """Exit 1 with `message` as one ERROR line on stderr (the job's log); on the
    descriptor `fallback` instead if the log cannot take it (a full disk)."""
    line = f"ERROR: {message}\n"
    try:
        sys.stderr.write(line)
        sys.stderr.flush()
    except OSError:
        os.write(fallback, line.encode())
    sys.exit(1)


@contextlib.contextmanager
def log_to(log_path):
    """Send stdout and stderr to `log_path` (file descriptors: TensorFlow's C++
    messages too); report an InputError or a WRITE_FAULTS error as one line."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        descriptor = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as error:
        fail(write_fault(error) or error)
    job_stderr = os.dup(2)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    os.close(descriptor)
    try:
        yield
    except InputError as error:
        fail(error, job_stderr)
    except OSError as error:
        if write_fault(error) is None:
            raise
        fail(write_fault(error), job_stderr)
    finally:
        # What the log cannot take any more is lost, not turned into a traceback.
        with contextlib.suppress(OSError):
            sys.stdout.flush()
            sys.stderr.flush()


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary path beside `path`, renamed to `path` only on success:
    an interrupted job never leaves a truncated file under the real name. The
    name is unique to this writer (a cluster retry, a run with --nolock)."""
    path = os.fspath(path)
    directory, name = os.path.split(path)
    stem, extension = os.path.splitext(name)
    # Keep the extension: numpy and Keras choose the format by it.
    temporary = os.path.join(directory, f".{stem}.{os.getpid()}-{secrets.token_hex(4)}.tmp{extension}")
    try:
        yield temporary
        os.replace(temporary, path)
    except OSError as error:
        # Name the output, not its temporary file (or no file, as zipfile does).
        if error.errno in WRITE_FAULTS and error.filename in (None, temporary):
            raise OSError(error.errno, error.strerror, path) from None
        raise
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
