import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from mnist_dropout.dataset import load_dataset, preprocess, save_dataset
from mnist_dropout.idx import IdxError, check_images_labels, load_idx, parse_idx
from mnist_dropout.mirrors import DownloadError, fetch_verified, source_location
from mnist_dropout.jobs import InputError
from conftest import SUBSET


def idx(array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_parse_idx_reads_shape_and_values():
    images = np.arange(2 * 28 * 28, dtype=np.uint32).reshape(2, 28, 28) % 256
    parsed = parse_idx(idx(images))
    assert parsed.shape == (2, 28, 28)
    assert parsed.dtype == np.uint8
    np.testing.assert_array_equal(parsed, images)


def test_parse_idx_rejects_bad_magic():
    data = bytearray(idx(np.zeros(3)))
    data[0] = 0x1F
    with pytest.raises(IdxError, match="bad magic"):
        parse_idx(bytes(data), name="labels.idx")


def test_parse_idx_rejects_other_type_codes():
    data = bytearray(idx(np.zeros(3)))
    data[2] = 0x0D  # float
    with pytest.raises(IdxError, match="type code 0x0d"):
        parse_idx(bytes(data))


@pytest.mark.parametrize("cut", [1, 100])
def test_parse_idx_rejects_truncated_data(cut):
    data = idx(np.zeros((2, 28, 28)))
    with pytest.raises(IdxError, match="does not match its header"):
        parse_idx(data[:-cut], name="train-images")


def test_parse_idx_rejects_trailing_bytes():
    with pytest.raises(IdxError, match="1585 bytes does not match"):
        parse_idx(idx(np.zeros((2, 28, 28))) + b"\0")


def test_parse_idx_rejects_truncated_header():
    with pytest.raises(IdxError, match="truncated IDX header"):
        parse_idx(bytes([0, 0, 8, 3, 0, 0]))


def test_load_idx_reads_the_shipped_subset():
    images = load_idx(SUBSET / "train-images-idx3-ubyte.gz")
    labels = load_idx(SUBSET / "train-labels-idx1-ubyte.gz")
    assert images.shape == (2000, 28, 28) and labels.shape == (2000,)
    # The first MNIST training labels are well known.
    assert labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    check_images_labels(images, labels, "subset")


def test_load_idx_names_a_corrupt_gzip_file(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(idx(np.zeros(5)))[:-6])
    with pytest.raises(IdxError, match="broken.gz: corrupt gzip"):
        load_idx(path)


def test_check_images_labels_rejects_count_mismatch_and_wrong_dimensions():
    with pytest.raises(IdxError, match="3 images but 2 labels"):
        check_images_labels(np.zeros((3, 28, 28)), np.zeros(2), "train")
    with pytest.raises(IdxError, match=r"expected \(N, 28, 28\)"):
        check_images_labels(np.zeros((3, 27, 28)), np.zeros(3), "train")
    with pytest.raises(IdxError, match="label 10 is outside 0-9"):
        check_images_labels(np.zeros((1, 28, 28)), np.array([10]), "train")


def test_preprocess_flattens_and_scales_like_the_original():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    x, y = preprocess(images, np.array([7], dtype=np.uint8))
    assert x.dtype == np.float32 and x.shape == (1, 4)
    np.testing.assert_array_equal(x, np.array([[0, 255, 51, 102]], dtype=np.float32) / 255)
    assert y.tolist() == [7]


def test_dataset_round_trip_and_damaged_file(tmp_path):
    x = np.random.default_rng(0).random((4, 784), dtype=np.float32)
    directory = tmp_path / "mnist"  # made by save_dataset
    paths = save_dataset(directory, x, np.arange(4), x[:2], np.arange(2))
    assert [Path(path).name for path in paths] == ["x_train.npy", "y_train.npy", "x_test.npy", "y_test.npy"]
    loaded = load_dataset(paths)
    np.testing.assert_array_equal(loaded["x_train"], x)
    assert loaded["x_train"].dtype == np.float32 and loaded["y_test"].tolist() == [0, 1]
    # Mapped, not read: each a plain array on the file's pages.
    assert all(type(array) is np.ndarray and isinstance(array.base, np.memmap) for array in loaded.values())
    # A job opens only the splits it uses.
    assert sorted(load_dataset(paths, splits=["test"])) == ["x_test", "y_test"]
    (directory / "x_train.npy").unlink()
    assert sorted(load_dataset(paths, splits=["test"])) == ["x_test", "y_test"]
    (directory / "x_test.npy").write_bytes((directory / "x_test.npy").read_bytes()[:200])
    with pytest.raises(InputError, match=r"x_test.npy: damaged or not a preprocessed MNIST array \(.+\); delete it"):
        load_dataset(paths, splits=["test"])


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def mirrors(tmp_path):
    """Two local mirrors: `bad` serves wrong bytes, `good` the real labels."""
    content = idx(np.arange(10) % 10)
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    (good / "labels.gz").write_bytes(gzip.compress(content))
    (bad / "labels.gz").write_bytes(gzip.compress(content[:-1] + b"\x07"))
    return content, good, bad


def test_fetch_verified_uses_next_mirror_after_checksum_mismatch(mirrors, tmp_path):
    content, good, bad = mirrors
    destination = tmp_path / "out" / "labels"
    used = fetch_verified("labels", [str(bad), "file://" + str(good)], sha(content), destination, log=lambda _: None)
    assert used == f"file://{good}/labels.gz"
    assert destination.read_bytes() == content
    assert sorted(p.name for p in destination.parent.iterdir()) == ["labels"]


def test_fetch_verified_accepts_uncompressed_files(tmp_path):
    content = idx(np.arange(3))
    (tmp_path / "labels").write_bytes(content)
    fetch_verified("labels", [str(tmp_path)], sha(content), tmp_path / "out", log=lambda _: None)
    assert (tmp_path / "out").read_bytes() == content


def test_fetch_verified_reports_every_mirror_and_writes_nothing(mirrors, tmp_path):
    content, good, bad = mirrors
    destination = tmp_path / "out" / "labels"
    with pytest.raises(DownloadError) as raised:
        fetch_verified("labels", [str(bad), str(tmp_path / "missing")], "0" * 64, destination, log=lambda _: None)
    message = str(raised.value)
    assert "checksum mismatch" in message and "No such file or directory" in message
    assert "data.mirrors" in message  # says how to point at a local copy
    assert not destination.parent.exists() or not any(destination.parent.iterdir())


@pytest.mark.parametrize("mirror", ["ftp://example.org/mnist/", "s3://bucket/mnist"])
def test_unsupported_schemes_are_refused(mirror):
    with pytest.raises(DownloadError, match="unsupported scheme"):
        source_location(mirror, "labels.gz")
