"""Claiming CPUs: each training job pinned to CPUs no other job of this user
computes on, waiting while all are held."""

import contextlib
import fcntl
import os
import stat
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from .jobs import InputError

# How often a job waiting for a CPU tries again (jobs take seconds to minutes).
POLL_SECONDS = 0.2

# Open lock files of the CPUs this process claimed: a claim lasts as long as the
# process, and the kernel drops it when the process ends, even if killed.
_claims = []


def private_directory(path):
    """`path` as a directory only this user can use (made 0700). The shared
    temporary folder is everyone's: a symlink or another owner is refused."""
    path = Path(path)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700, parents=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise InputError(
            f"{path}: the CPU lock directory is a symlink, not a directory or not yours; "
            "remove it (or set TMPDIR to a folder of your own) and rerun"
        )
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def _try_claim(allowed, count, lock_dir):
    """`count` CPUs of `allowed` whose locks were free, now held; or None,
    holding none (two jobs waiting for two CPUs never hold one each)."""
    held = {}
    for cpu in allowed:
        descriptor = os.open(lock_dir / f"cpu{cpu}.lock", os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        handle = os.fdopen(descriptor, "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        held[cpu] = handle
        if len(held) == count:
            _claims.extend(held.values())
            return sorted(held)
    for handle in held.values():
        handle.close()
    return None


def claim_cpus(count, lock_dir=None):
    """Pin this process to `count` of the CPUs it may run on (all, if fewer)
    that no other process claimed, one lock file per CPU in `lock_dir`; while
    too few are free, wait. So jobs beyond the CPUs (`--cores` above them, a
    second workflow) queue instead of sharing one, and pinning bounds XLA's
    thread pool. Returns {cpus, cpus_claimed_at (UTC), cpu_wait_seconds} for
    the record, or {} where the OS cannot pin (macOS)."""
    if not hasattr(os, "sched_setaffinity"):
        return {}
    allowed = sorted(os.sched_getaffinity(0))
    count = min(count, len(allowed))
    lock_dir = private_directory(lock_dir or Path(tempfile.gettempdir()) / f"mnist-dropout-cpus-{os.getuid()}")
    start = time.monotonic()
    claimed = _try_claim(allowed, count, lock_dir)
    if claimed is None:
        print(f"Waiting for {count} of CPUs {allowed}: other training jobs hold them (locks in {lock_dir})", flush=True)
    while claimed is None:
        time.sleep(POLL_SECONDS)
        claimed = _try_claim(allowed, count, lock_dir)
    os.sched_setaffinity(0, claimed)
    return {
        "cpus": claimed,
        "cpus_claimed_at": datetime.now(timezone.utc).isoformat(),
        "cpu_wait_seconds": round(time.monotonic() - start, 3),
    }
