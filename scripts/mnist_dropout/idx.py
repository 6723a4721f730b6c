"""MNIST's IDX files: their names, parsing and checks. No TensorFlow: the
plotting rules read the raw test images through this module."""

import gzip
from pathlib import Path

import numpy as np

from .jobs import InputError

# The four IDX files of MNIST, by (split, kind), as every mirror names them.
IDX_NAMES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
IDX_FILES = tuple(IDX_NAMES.values())

# IDX type code 0x08 is unsigned byte, the only type MNIST uses.
_UBYTE = 0x08


class IdxError(InputError):
    """An IDX file is malformed."""


def parse_idx(data, name="IDX data"):
    """Parse the bytes of an unsigned-byte IDX file into an array."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise IdxError(f"{name}: not an IDX file (bad magic number {data[:4].hex()!r})")
    if data[2] != _UBYTE:
        raise IdxError(f"{name}: IDX type code 0x{data[2]:02x} is not unsigned byte (0x08)")
    ndim = data[3]
    header_size = 4 + 4 * ndim
    if ndim == 0 or len(data) < header_size:
        raise IdxError(f"{name}: truncated IDX header ({len(data)} bytes, {ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header_size + int(np.prod(shape))
    if len(data) != expected:
        raise IdxError(
            f"{name}: size {len(data)} bytes does not match its header "
            f"(shape {shape} needs {expected} bytes); the file is truncated or corrupt"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)


def load_idx(path):
    """Read an IDX file (plain or gzip-compressed) from disk."""
    path = Path(path)
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise IdxError(f"{path}: corrupt gzip data ({error})") from error
    return parse_idx(data, name=str(path))


def check_images_labels(images, labels, name):
    """Check that an image array and a label array form an MNIST split."""
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise IdxError(f"{name}: images have shape {images.shape}, expected (N, 28, 28)")
    if labels.ndim != 1:
        raise IdxError(f"{name}: labels have shape {labels.shape}, expected (N,)")
    if len(images) != len(labels):
        raise IdxError(f"{name}: {len(images)} images but {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise IdxError(f"{name}: label {labels.max()} is outside 0-9")
