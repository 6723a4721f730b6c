"""Rule `preprocess`: the four IDX files to arrays of 784-vectors in [0, 1] and labels, one .npy file each."""

import os

from mnist_dropout.dataset import preprocess, save_dataset
from mnist_dropout.idx import check_images_labels, load_idx
from mnist_dropout.jobs import log_to

with log_to(snakemake.log[0]):
    splits = {}
    for split in ("train", "test"):
        images = load_idx(snakemake.input[f"{split}_images"])
        labels = load_idx(snakemake.input[f"{split}_labels"])
        check_images_labels(images, labels, name=f"MNIST {split} split")
        splits[split] = preprocess(images, labels)
        print(f"{split}: {len(labels)} images")
    # The rule's outputs are dataset_files of this directory.
    save_dataset(os.path.dirname(snakemake.output.x_train), *splits["train"], *splits["test"])
