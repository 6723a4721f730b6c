"""A training job's start-up, `start_job`: its CPUs, then the Keras backend,
chosen before Keras is imported and configured after."""

import importlib.abc
import os
import sys
from pathlib import Path

from .cpus import claim_cpus
from .provenance import check_code, code_version, machine

# Compiled XLA programs, shared by the jobs of a working directory: evaluation
# steps serve every dropout value, training steps every seed.
JAX_COMPILATION_CACHE = Path(".cache") / "jax"
# Imported by Keras and TensorFlow whenever installed, for what no job uses, and
# coped without; refused, a JAX job starts 3.8 s sooner (scikit-learn 0.8 s of
# it) and takes 0.4 GB less, a TensorFlow job starts 0.6 s sooner.
UNUSED_IMPORTS = {
    "jax": ("tensorflow", "matplotlib", "pandas", "sklearn"),
    "tensorflow": ("jax", "matplotlib", "pandas", "sklearn"),
}


class RefusedImports(importlib.abc.MetaPathFinder):
    """Refuses the UNUSED_IMPORTS of a backend's jobs, saying why."""

    def __init__(self, backend):
        self.backend, self.refused = backend, UNUSED_IMPORTS[backend]

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.refused:
            raise ModuleNotFoundError(
                f"{name} is not imported in {self.backend} training jobs (mnist_dropout.backend.UNUSED_IMPORTS)",
                name=name,
            )
        return None


def select_backend(name):
    """Make `name` the Keras backend of this process, before `import keras`."""
    os.environ["KERAS_BACKEND"] = name
    sys.meta_path.insert(0, RefusedImports(name))
    if name == "jax":
        os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(JAX_COMPILATION_CACHE.resolve()))
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


def configure_backend(threads, seed):
    """Seed every generator and, on TensorFlow, bound its thread pools and make
    ops deterministic: the same threads give the same bits (JAX's threads are
    the CPUs it is pinned to). Returns what a result depends on, for the record."""
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
        # TensorFloat-32 (10-bit mantissas on GPUs) would fail the NumPy check.
        tf.config.experimental.enable_tensor_float_32_execution(False)
        environment.update(
            tensor_float_32=tf.config.experimental.tensor_float_32_execution_enabled(),
            tensorflow=tf.__version__,
            intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads(),
            inter_op_threads=tf.config.threading.get_inter_op_parallelism_threads(),
            onednn_opts=os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
            gpus=len(tf.config.list_physical_devices("GPU")),
        )
    else:
        import jax

        # Full float32 matrix products on GPUs too (JAX would use TensorFloat-32).
        jax.config.update("jax_default_matmul_precision", "highest")
        environment.update(
            jax=jax.__version__,
            devices=str(jax.devices()),
            matmul_precision=jax.config.jax_default_matmul_precision,
        )
    keras.utils.set_random_seed(seed)
    environment["seed"] = seed
    return environment


def start_job(settings, scripts_dir, threads, seed):
    """Make this process a training job of model `settings`, in this order: the
    code that runs is the code planned; claim `threads` CPUs (they also bound
    XLA's thread pool); choose the backend; configure and seed it. Returns what
    the job's results depend on, for the record."""
    check_code(settings["code"], scripts_dir)
    cpus = claim_cpus(threads)
    select_backend(settings["train"]["backend"])
    return {
        **configure_backend(threads, seed),
        **cpus,
        "code": {"digest": settings["code"]["digest"], **code_version(scripts_dir)},
    }
