"""Choosing the Keras backend and bounding its threads, before Keras is imported."""

import fcntl
import os
import sys
import tempfile
from pathlib import Path

BACKENDS = ("tensorflow", "jax")
# Compiled XLA programs, shared by the jobs of a working directory: weight
# initialisers and evaluation steps are the same for every dropout value, and a
# rerun with other seeds reuses the training steps.
JAX_COMPILATION_CACHE = Path(".cache") / "jax"
OPTIONAL_KERAS_IMPORTS = ("tensorflow", "matplotlib", "pandas")

# Open lock files of the CPUs this process claimed: a claim lasts as long as the
# process, and the kernel drops it when the process ends, even if killed.
_claims = []


def default_lock_dir():
    return Path(tempfile.gettempdir()) / f"mnist-dropout-cpus-{os.getuid()}"


def claim_cpus(count, lock_dir=None):
    """Pin this process to `count` of the CPUs it may run on, preferring CPUs no
    other process holds a claim on (one lock file per CPU in `lock_dir`).

    Needed for JAX: XLA:CPU sizes its thread pool from the CPUs the process may
    run on and has no thread-count setting, so without pinning every job would
    use every core and jobs side by side would oversubscribe the machine.
    Returns the CPUs, or None where the OS cannot pin (macOS)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if count >= len(allowed):
        # Already bounded, e.g. by a Slurm allocation of exactly `count` CPUs.
        return allowed
    lock_dir = Path(lock_dir or default_lock_dir())
    lock_dir.mkdir(parents=True, exist_ok=True)
    claimed = []
    for cpu in allowed:
        if len(claimed) == count:
            break
        handle = open(lock_dir / f"cpu{cpu}.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _claims.append(handle)
        claimed.append(cpu)
    # More jobs than CPUs (e.g. two workflows on one machine): share CPUs rather than fail.
    claimed += [cpu for cpu in allowed if cpu not in claimed][: count - len(claimed)]
    os.sched_setaffinity(0, claimed)
    return sorted(claimed)


def select_backend(name, threads):
    """Make `name` the Keras backend of this process, using at most `threads`
    CPU threads. Must run before the first `import keras`."""
    if name not in BACKENDS:
        raise ValueError(f"unknown Keras backend {name!r}; expected one of {', '.join(BACKENDS)}")
    os.environ["KERAS_BACKEND"] = name
    if name == "jax":
        # Keras imports these whenever they are installed, for what a JAX training
        # or evaluation job never uses (seeding tf.random, tf.io.gfile, image
        # galleries, DataFrame inputs) and copes with their absence; refusing the
        # imports saves about 3 s and 0.4 GB per job.
        for module in OPTIONAL_KERAS_IMPORTS:
            sys.modules.setdefault(module, None)
        os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(JAX_COMPILATION_CACHE.resolve()))
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        return claim_cpus(threads)
    # TensorFlow takes its thread counts in configure_backend.
    return None
