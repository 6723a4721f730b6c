"""Choosing the Keras backend and bounding its threads: `select_backend` before
Keras is imported, `configure_backend` after."""

import fcntl
import importlib.abc
import os
import stat
import sys
import tempfile
from pathlib import Path

from .jobs import InputError
from .provenance import machine

BACKENDS = ("tensorflow", "jax")
# Compiled XLA programs, shared by the jobs of a working directory: weight
# initialisers and evaluation steps are the same for every dropout value, and a
# rerun with other seeds reuses the training steps.
JAX_COMPILATION_CACHE = Path(".cache") / "jax"
# Imported by Keras (and TensorFlow) whenever installed, for what no training or
# evaluation job uses (on JAX: seeding tf.random, tf.io.gfile; on TensorFlow:
# TFLite's JAX converter; image galleries, DataFrame inputs), and coped without;
# refused, they cost a JAX job 3 s and 0.4 GB less, a TensorFlow job 0.6 s.
UNUSED_IMPORTS = {"jax": ("tensorflow", "matplotlib", "pandas"), "tensorflow": ("jax", "matplotlib", "pandas")}


class RefusedImports(importlib.abc.MetaPathFinder):
    """Refuses the UNUSED_IMPORTS of a backend's jobs with an ImportError that
    says why (Keras and TensorFlow import them only if they can)."""

    def __init__(self, backend):
        self.backend, self.refused = backend, UNUSED_IMPORTS[backend]

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.refused:
            raise ModuleNotFoundError(
                f"{name} is not imported in {self.backend} training jobs (mnist_dropout.backend.UNUSED_IMPORTS)",
                name=name,
            )
        return None


# Open lock files of the CPUs this process claimed: a claim lasts as long as the
# process, and the kernel drops it when the process ends, even if killed.
_claims = []


def default_lock_dir():
    return Path(tempfile.gettempdir()) / f"mnist-dropout-cpus-{os.getuid()}"


def private_directory(path):
    """`path` as a directory only this user can use, created with mode 0700 if
    absent. The shared temporary folder is writable by everyone, so another user
    could have prepared the name: a symlink or another owner is refused. One of
    ours that others may read (as earlier versions made it) is made private."""
    path = Path(path)
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise InputError(
            f"{path}: the CPU lock directory is a symlink, not a directory or not yours; "
            "remove it (or set TMPDIR to a folder of your own) and rerun"
        )
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


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
    lock_dir = private_directory(lock_dir or default_lock_dir())
    claimed = []
    for cpu in allowed:
        if len(claimed) == count:
            break
        descriptor = os.open(lock_dir / f"cpu{cpu}.lock", os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        handle = os.fdopen(descriptor, "w")
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
    sys.meta_path.insert(0, RefusedImports(name))
    if name == "jax":
        os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(JAX_COMPILATION_CACHE.resolve()))
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        return claim_cpus(threads)
    # TensorFlow takes its thread counts in configure_backend.
    return None


def configure_backend(threads, seed, cpus=None):
    """Seed every generator and, on TensorFlow, bound its thread pools and make
    ops deterministic, so a rerun with the same threads gives identical bytes.
    (JAX on CPU is deterministic for a given thread count; its threads are bounded
    by pinning to `cpus`, see claim_cpus.) Must run before the backend
    executes anything. Returns what a result depends on, for the record."""
    import keras

    environment = {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "threads": threads,
        "machine": machine(),
    }
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        # Several jobs may share one GPU; allocate its memory as needed.
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
        tf.config.experimental.enable_op_determinism()
        # On GPUs with TensorFloat-32, float32 matrix products would otherwise run
        # with 10-bit mantissas: neither the NumPy forward-pass check nor the
        # results of a CPU run would hold.
        tf.config.experimental.enable_tensor_float_32_execution(False)
        environment.update(
            tensor_float_32=tf.config.experimental.tensor_float_32_execution_enabled(),
            tensorflow=tf.__version__,
            intra_op_threads=threads,
            inter_op_threads=threads,
            onednn_opts=os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
            gpus=len(tf.config.list_physical_devices("GPU")),
        )
    else:
        import jax

        # Full float32 matrix products on GPUs too (JAX would use TensorFloat-32).
        jax.config.update("jax_default_matmul_precision", "highest")
        environment.update(
            jax=jax.__version__,
            cpus=cpus,
            devices=str(jax.devices()),
            matmul_precision=jax.config.jax_default_matmul_precision,
        )
    keras.utils.set_random_seed(seed)
    environment["seed"] = seed
    return environment
