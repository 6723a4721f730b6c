"""Downloading an IDX file from the first mirror that delivers it intact,
verified by its SHA-256. Not imported by training: the checksums pin what
training reads, so this code can change without retraining anything."""

import gzip
import hashlib
import http.client
import io
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .jobs import InputError, atomic_output

# The largest MNIST file is 47 MB decompressed and 9.9 MB gzipped.
MAX_DOWNLOAD_BYTES = 64 * 2**20
MAX_DECOMPRESSED_BYTES = 64 * 2**20
ALLOWED_SCHEMES = ("http", "https", "file")
# Transient HTTP statuses worth retrying; other 4xx/5xx move on to the next mirror.
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}


class DownloadError(InputError):
    """No mirror delivered a verified copy of a file."""


class _Transient(Exception):
    """A failure that may go away if the same source is tried again."""


class _Permanent(Exception):
    """A failure that retrying the same source will not fix."""


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
            actual = hashlib.sha256(content).hexdigest()
            if actual != sha256:
                failures.append(f"{location}: checksum mismatch (got sha256 {actual})")
                continue
            Path(destination).parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(destination) as temporary:
                Path(temporary).write_bytes(content)
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
