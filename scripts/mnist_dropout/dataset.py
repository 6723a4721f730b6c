"""The preprocessed dataset: MNIST as the original feeds it to Keras."""

import os
from pathlib import Path

import numpy as np

from .jobs import InputError, atomic_output


def preprocess(images, labels):
    """Flatten to 784-vectors scaled to [0, 1] as float32, as the original does."""
    features = images.reshape(len(images), -1).astype(np.float32) / 255
    return features, labels.astype(np.uint8)


# One uncompressed .npy file per array, which jobs map into memory: no copy per
# job, the pages shared through the page cache.
DATASET_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def dataset_files(directory):
    """{array name: path} of the preprocessed dataset in `directory`."""
    return {name: os.path.join(directory, f"{name}.npy") for name in DATASET_ARRAYS}


def save_dataset(directory, x_train, y_train, x_test, y_test):
    """Write the four arrays to `directory` (made if absent); returns their paths."""
    os.makedirs(directory, exist_ok=True)
    paths = dataset_files(directory)
    for path, array in zip(paths.values(), (x_train, y_train, x_test, y_test)):
        with atomic_output(path) as temporary, open(temporary, "wb") as file:
            np.save(file, array, allow_pickle=False)
    return list(paths.values())


def load_dataset(paths, splits=("train", "test")):
    """The arrays of `splits` from the dataset's files `paths` (only those are
    opened), mapped copy-on-write; a damaged file is an InputError naming it."""
    by_name = {Path(path).stem: path for path in paths}
    arrays = {}
    for name in (f"{kind}_{split}" for split in splits for kind in "xy"):
        try:
            # A plain ndarray view of the mapping: NumPy's memmap subclass would
            # carry over into every slice and batch.
            arrays[name] = np.asarray(np.load(by_name[name], mmap_mode="c", allow_pickle=False))
        except (OSError, ValueError, EOFError) as error:
            raise InputError(
                f"{by_name[name]}: damaged or not a preprocessed MNIST array ({error}); "
                "delete it and rerun so the preprocess rule rebuilds it"
            ) from error
    for split in splits:
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 2 or x.shape[1] != 784 or len(x) != len(y):
            raise InputError(
                f"{by_name[f'x_{split}']}: x_{split} has shape {x.shape} and y_{split} {y.shape}, "
                "expected (N, 784) and (N,); delete it and rerun"
            )
    return arrays
