"""Report captions describe the run's own settings, not the defaults'."""

import types

import jinja2
import pytest

from conftest import REPO

CAPTIONS = sorted((REPO / "report").glob("*.rst"))


def render(caption, train):
    snakemake = types.SimpleNamespace(config={"train": train}, wildcards=types.SimpleNamespace(settings="0123456789ab"))
    return jinja2.Environment().from_string(caption.read_text()).render(snakemake=snakemake)


@pytest.mark.parametrize("caption", CAPTIONS, ids=[path.stem for path in CAPTIONS])
def test_captions_follow_the_config(caption):
    train = {"validation_split": 0.25, "early_stopping": {"monitor": "val_accuracy", "patience": 5}}
    text = render(caption, train)
    # A caption says something: at least a sentence of its own.
    assert len(text.split()) >= 10 and text.rstrip().endswith((".", "``")), text
    if caption.stem != "workflow":  # the workflow description names the defaults as such
        assert "10,000" not in text and "2 epochs" not in text and "10%" not in text
    if caption.stem == "val_loss_dropout":
        assert "the last 25% of the training set" in text
        assert "Early stopping ends a run 5 epochs after its best val_accuracy." in text
        assert "Early stopping" not in render(caption, {**train, "early_stopping": None})
    if caption.stem == "settings":
        assert "``results/models/0123456789ab/``" in text
