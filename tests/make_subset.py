"""Write the small MNIST subset the end-to-end tests run on.

Takes the first N training and M test images of a full MNIST copy (the four
IDX .gz files), writes them gzip-compressed (mtime 0, so the bytes are
reproducible) with a test config overlay holding their SHA-256 sums.

    python tests/make_subset.py ../shared/mnist
"""

import argparse
import gzip
import hashlib
from pathlib import Path

from mnist_dropout.idx import IDX_FILES, load_idx

HERE = Path(__file__).resolve().parent


def idx_bytes(array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype("uint8").tobytes()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="directory with the full MNIST IDX .gz files")
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--test", type=int, default=500)
    parser.add_argument("--out", type=Path, default=HERE / "data" / "mnist-subset")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sums = {}
    for name in IDX_FILES:
        count = args.train if name.startswith("train") else args.test
        content = idx_bytes(load_idx(args.source / f"{name}.gz")[:count])
        sums[name] = hashlib.sha256(content).hexdigest()
        (args.out / f"{name}.gz").write_bytes(gzip.compress(content, mtime=0))
    lines = [
        "# Written by tests/make_subset.py: checksums of the subset in tests/data/mnist-subset.",
        "data:",
        "  sha256:",
    ]
    lines += [f"    {name}: {digest}" for name, digest in sums.items()]
    (HERE / "config" / "subset_sha256.yaml").parent.mkdir(exist_ok=True)
    (HERE / "config" / "subset_sha256.yaml").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.train} training and {args.test} test images to {args.out}")


if __name__ == "__main__":
    main()
