"""MNIST IDX files: parsing, checksums and downloading from mirrors.

No TensorFlow here: the plotting rules read the raw test images through this
module and must stay fast.
"""

import gzip
import hashlib
import http.client
import io
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

from .jobs import InputError, atomic_output

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

# The largest MNIST file is 47 MB decompressed and 9.9 MB gzipped.
MAX_DOWNLOAD_BYTES = 64 * 2**20
MAX_DECOMPRESSED_BYTES = 64 * 2**20
ALLOWED_SCHEMES = ("http", "https", "file")
# Transient HTTP statuses worth retrying; other 4xx/5xx move on to the next mirror.
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}


class IdxError(InputError):
    """An IDX file is malformed."""


class DownloadError(InputError):
    """No mirror delivered a verified copy of a file."""


class _Transient(Exception):
    """A failure that may go away if the same source is tried again."""


class _Permanent(Exception):
    """A failure that retrying the same source will not fix."""


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


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def source_location(mirror, filename):
    """The URL or path of `filename` on `mirror`; rejects unsupported schemes."""
    scheme = urllib.parse.urlsplit(mirror).scheme.lower()
    # A one-letter "scheme" is a Windows drive letter, i.e. a path.
    if len(scheme) > 1 and "://" in mirror:
        if scheme not in ALLOWED_SCHEMES:
            raise DownloadError(
                f"mirror {mirror!r} has unsupported scheme {scheme!r}; "
                f"use one of {', '.join(ALLOWED_SCHEMES)} or a directory path"
            )
        return mirror.rstrip("/") + "/" + filename
    return str(Path(mirror) / filename)


def _read_capped(stream, limit):
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise _Permanent(f"response larger than the {limit}-byte cap")
    return data


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) only: urllib would also follow one to ftp://."""

    def redirect_request(self, request, fp, code, message, headers, new_url):
        scheme = urllib.parse.urlsplit(new_url).scheme.lower()
        if scheme not in ("http", "https"):
            raise _Permanent(f"refused redirect to {new_url!r}: only http and https are followed")
        return super().redirect_request(request, fp, code, message, headers, new_url)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)


def _declared_length(headers):
    """The Content-Length header as an int, None if absent; a malformed one is
    the mirror's fault, not a reason to crash."""
    declared = headers.get("Content-Length")
    if declared is None:
        return None
    if not declared.strip().isdigit():
        raise _Permanent(f"malformed Content-Length header {declared!r}")
    return int(declared)


def read_source(location, timeout, max_bytes=MAX_DOWNLOAD_BYTES):
    """Read the bytes at a URL or path, raising _Transient or _Permanent."""
    if not location.startswith(("http://", "https://")):
        path = location
        if location.startswith("file://"):
            path = urllib.request.url2pathname(urllib.parse.urlsplit(location).path)
        try:
            with open(path, "rb") as stream:
                return _read_capped(stream, max_bytes)
        except OSError as error:
            raise _Permanent(error.strerror or str(error)) from error
    request = urllib.request.Request(location, headers={"User-Agent": "mnist-dropout-workflow"})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            declared = _declared_length(response.headers)
            if declared is not None and declared > max_bytes:
                raise _Permanent(f"Content-Length {declared} exceeds the {max_bytes}-byte cap")
            data = _read_capped(response, max_bytes)
    except urllib.error.HTTPError as error:
        message = f"HTTP {error.code} {error.reason}"
        raise (_Transient if error.code in RETRY_STATUSES else _Permanent)(message) from error
    except urllib.error.URLError as error:
        raise _Transient(f"cannot connect: {error.reason}") from error
    except (OSError, http.client.HTTPException) as error:
        # Read timeouts, resets and bodies cut short (IncompleteRead).
        raise _Transient(f"{type(error).__name__}: {error}") from error
    if declared is not None and len(data) != declared:
        raise _Transient(f"truncated body: {len(data)} of {declared} bytes")
    return data


def decompress(data, max_bytes=MAX_DECOMPRESSED_BYTES):
    """Gunzip `data` if it is gzip-compressed, refusing output above `max_bytes`."""
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            content = stream.read(max_bytes + 1)
    except (OSError, EOFError) as error:
        raise _Permanent(f"corrupt gzip data ({error})") from error
    if len(content) > max_bytes:
        raise _Permanent(f"decompresses to more than the {max_bytes}-byte cap")
    return content


def write_atomically(path, data):
    """Write `data` so that `path` never holds a partial file."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as temporary, open(temporary, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())


def fetch_verified(
    name,
    mirrors,
    sha256,
    destination,
    attempts=3,
    backoff_seconds=1.0,
    timeout=60.0,
    max_bytes=MAX_DOWNLOAD_BYTES,
    log=print,
):
    """Fetch IDX file `name` from the first mirror that delivers it intact.

    Each mirror is asked for NAME.gz, then NAME. Transient failures are retried
    with exponential backoff; a checksum mismatch moves on to the next mirror.
    Only content whose decompressed SHA-256 equals `sha256` is written, atomically.
    """
    failures = []
    for mirror in mirrors:
        for filename in (name + ".gz", name):
            location = source_location(mirror, filename)
            try:
                content = _read_with_retries(location, attempts, backoff_seconds, timeout, max_bytes, log)
            except _Permanent as error:
                failures.append(f"{location}: {error}")
                continue
            actual = sha256_hex(content)
            if actual != sha256:
                failures.append(f"{location}: checksum mismatch (got sha256 {actual})")
                continue
            write_atomically(destination, content)
            log(f"{name}: verified sha256 {sha256} from {location}")
            return location
    hint = (
        "check your network, or point data.mirrors at a local copy of the four IDX files "
        "(e.g. `snakemake --config 'data={mirrors: [/path/to/mnist]}'` or a --configfile)"
    )
    raise DownloadError(f"could not get a verified {name} from any mirror: " + "; ".join(failures) + f". {hint}")


def _read_with_retries(location, attempts, backoff_seconds, timeout, max_bytes, log):
    """Decompressed content at `location`; transient failures are retried with
    exponential backoff, and become _Permanent once `attempts` are used up."""
    for attempt in range(1, attempts + 1):
        try:
            return decompress(read_source(location, timeout, max_bytes))
        except _Transient as error:
            log(f"{location}: attempt {attempt}/{attempts} failed: {error}")
            if attempt == attempts:
                raise _Permanent(f"{error} (after {attempts} attempts)") from error
            time.sleep(backoff_seconds * 2 ** (attempt - 1))


def preprocess(images, labels):
    """Flatten to 784-vectors scaled to [0, 1] as float32, as the original does."""
    features = images.reshape(len(images), -1).astype(np.float32) / 255
    return features, labels.astype(np.uint8)


# The preprocessed dataset: one uncompressed .npy file per array, which jobs
# map into memory rather than read: no copy per job, the pages shared by all
# jobs of a machine through the page cache, and each array starting at a 64-byte
# boundary of the file (NumPy aligns .npy data), as TensorFlow needs to use it
# in place (model.in_place).
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
