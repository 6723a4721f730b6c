"""Downloads against a real, misbehaving HTTP server on 127.0.0.1."""

import gzip
import hashlib
import socket

import numpy as np
import pytest

from conftest import CONFIGS, SUBSET, dataset_files, snakemake, write_yaml
from faulty_server import FaultyMirror
from mnist_dropout.idx import IDX_FILES
from mnist_dropout.mirrors import DownloadError, fetch_verified

CONTENT = bytes([0, 0, 8, 1, 0, 0, 0, 10]) + bytes(range(10))
SHA = hashlib.sha256(CONTENT).hexdigest()


@pytest.fixture
def server():
    with FaultyMirror({"labels": CONTENT}, stall_seconds=3) as mirror:
        yield mirror


def fetch(mirrors, destination, **options):
    messages = []
    options = {"attempts": 3, "backoff_seconds": 0.01, "timeout": 1.0, **options}
    try:
        used = fetch_verified("labels", mirrors, SHA, destination, log=messages.append, **options)
    finally:
        leftovers = sorted(p.name for p in destination.parent.iterdir()) if destination.parent.exists() else []
        assert leftovers in ([], ["labels"]), leftovers  # never a partial or temporary file
    return used, messages


def test_good_mirror(server, tmp_path):
    used, _ = fetch([f"{server.url}/good/"], tmp_path / "labels")
    assert used.endswith("/good/labels.gz") and (tmp_path / "labels").read_bytes() == CONTENT


def test_404_moves_on_to_the_next_mirror(server, tmp_path):
    used, _ = fetch([f"{server.url}/404/", f"{server.url}/good/"], tmp_path / "labels")
    assert used == f"{server.url}/good/labels.gz"
    # A 404 is not retried: one request for NAME.gz and one for NAME.
    assert server.requests.count("/404/labels.gz") == 1


def test_500_is_retried_with_backoff_then_succeeds(server, tmp_path):
    used, messages = fetch([f"{server.url}/flaky/"], tmp_path / "labels")
    assert used == f"{server.url}/flaky/labels.gz"
    assert server.requests == ["/flaky/labels.gz", "/flaky/labels.gz"]
    assert "attempt 1/3 failed: HTTP 500" in messages[0]


def test_truncated_body_is_retried_and_never_written(server, tmp_path):
    with pytest.raises(DownloadError, match=r"truncated body.*after 3 attempts"):
        fetch([f"{server.url}/truncated/"], tmp_path / "labels")
    assert not (tmp_path / "labels").exists()


def test_wrong_bytes_fail_the_checksum_and_the_next_mirror_is_used(server, tmp_path):
    used, _ = fetch([f"{server.url}/wrong/", f"{server.url}/good/"], tmp_path / "labels")
    assert used == f"{server.url}/good/labels.gz" and (tmp_path / "labels").read_bytes() == CONTENT


def test_stalled_connection_times_out(server, tmp_path):
    with pytest.raises(DownloadError, match=r"stall/labels.gz: .*timed out.*after 2 attempts"):
        fetch([f"{server.url}/stall/"], tmp_path / "labels", attempts=2, timeout=0.5)


def test_redirect_is_followed(server, tmp_path):
    used, _ = fetch([f"{server.url}/redirect/"], tmp_path / "labels")
    assert used == f"{server.url}/redirect/labels.gz"
    assert "/good/labels.gz" in server.requests


def test_redirect_to_another_scheme_is_refused(server, tmp_path):
    with pytest.raises(DownloadError, match=r"refused redirect to 'ftp://127.0.0.1:1/labels.gz'"):
        fetch([f"{server.url}/redirect-ftp/"], tmp_path / "labels")


@pytest.mark.parametrize("mode", ["badlength", "negativelength"])
def test_malformed_content_length_moves_on_to_the_next_mirror(server, tmp_path, mode):
    used, _ = fetch([f"{server.url}/{mode}/", f"{server.url}/good/"], tmp_path / "labels")
    assert used == f"{server.url}/good/labels.gz"
    with pytest.raises(DownloadError, match=rf"/{mode}/labels.gz: malformed Content-Length header"):
        fetch([f"{server.url}/{mode}/"], tmp_path / "labels")


def test_oversize_response_is_capped(server, tmp_path):
    with pytest.raises(DownloadError, match="exceeds the 500-byte cap"):
        fetch([f"{server.url}/huge/"], tmp_path / "labels", max_bytes=500)


def test_all_mirrors_bad_lists_what_each_did(server, tmp_path):
    with pytest.raises(DownloadError) as raised:
        fetch(
            [f"{server.url}/404/", f"{server.url}/wrong/", f"{server.url}/truncated/"], tmp_path / "labels", attempts=1
        )
    message = str(raised.value)
    assert "/404/labels.gz: HTTP 404" in message
    assert "/wrong/labels.gz: checksum mismatch" in message
    assert "/truncated/labels.gz: truncated body" in message
    assert "\n" not in message


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.workflow
def test_workflow_offline_says_how_to_use_a_local_copy(tmp_path):
    mirror = write_yaml(tmp_path / "offline.yaml", {"data": {"mirrors": [f"http://127.0.0.1:{closed_port()}/mnist/"]}})
    result = snakemake(
        tmp_path, "--cores", "1", "results/data/raw/t10k-labels-idx1-ubyte", configs=[mirror], check=False
    )
    assert result.returncode != 0
    errors = [line for line in result.stdout.splitlines() + result.stderr.splitlines() if line.startswith("ERROR: ")]
    assert errors and "Connection refused" in errors[0] and "point data.mirrors at a local copy" in errors[0]
    assert not any((tmp_path / "results" / "data" / "raw").glob("*"))


@pytest.mark.workflow
def test_workflow_downloads_through_http_and_falls_back(tmp_path):
    files = {name: gzip.decompress((SUBSET / f"{name}.gz").read_bytes()) for name in IDX_FILES}
    with FaultyMirror(files) as server:
        mirrors = write_yaml(
            tmp_path / "http.yaml", {"data": {"mirrors": [f"{server.url}/wrong/", f"{server.url}/flaky/"]}}
        )
        snakemake(tmp_path, "--cores", "2", "--until", "preprocess", configs=[CONFIGS / "subset_sha256.yaml", mirrors])
    data = {name: np.load(path) for name, path in dataset_files(tmp_path).items()}
    assert data["x_train"].shape == (2000, 784) and data["y_test"].shape == (500,)
