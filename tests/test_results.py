import zipfile

import numpy as np
import pytest

from mnist_dropout.figures import curve_band, digit_with_article
from mnist_dropout.files import write_csv, write_json
from mnist_dropout.kept import MODEL_FILE_READERS, DamagedFileError, by_model, model_fields, model_record, read_csv
from mnist_dropout.summary import answer_markdown, summary_markdown
from mnist_dropout.tables import (
    best_epoch,
    combination_label,
    combination_labels,
    differing_settings,
    per_dropout,
    select_dropout,
    summary_row,
)


def history(*val_losses, val_accuracy=0.9):
    return [
        {"epoch": i + 1, "loss": 1.0 / (i + 1), "accuracy": 0.5, "val_loss": v, "val_accuracy": val_accuracy + i / 100}
        for i, v in enumerate(val_losses)
    ]


def test_summary_row_reads_best_epoch_and_test_metrics():
    early_stopping = {"monitor": "val_loss", "patience": 2, "restore_best_weights": False}
    metrics = {"test_loss": 0.09, "test_accuracy": 0.98}
    row = summary_row("0123456789ab", {}, 0.3, 2, history(0.5, 0.3, 0.4, 0.45), metrics, early_stopping)
    assert row == {
        "settings": "0123456789ab",
        "dropout": 0.3,
        "seed": 2,
        "epochs": 4,
        # As the original: the last epoch's weights are tested.
        "tested_epoch": 4,
        "best_epoch": 2,
        # The validation accuracy of the best epoch (lowest val_loss), not the highest of any epoch (0.93).
        "best_val_accuracy": pytest.approx(0.91),
        "best_val_loss": 0.3,
        "final_val_loss": 0.45,
        "test_loss": 0.09,
        "test_accuracy": 0.98,
    }

    restoring = early_stopping | {"restore_best_weights": True}
    restored = summary_row("0123456789ab", {}, 0.3, 2, history(0.5, 0.3, 0.4, 0.45), metrics, restoring)
    assert restored == row | {"tested_epoch": 2}
    # Without early stopping: the best epoch by validation loss, the last tested.
    without = summary_row("0123456789ab", {}, 0.3, 2, history(0.5, 0.3, 0.4), metrics, None)
    assert without == row | {"epochs": 3, "tested_epoch": 3, "final_val_loss": 0.4}


def test_best_epoch_follows_the_early_stopping_monitor():
    runs = history(0.5, 0.3, 0.3, 0.45)  # val_accuracy 0.90, 0.91, 0.92, 0.93
    assert best_epoch(runs, "val_loss")["epoch"] == 2  # the first of equal losses, as Keras
    assert best_epoch(runs, "val_accuracy")["epoch"] == 4
    metrics = {"test_loss": 0, "test_accuracy": 0}
    by_accuracy = {"monitor": "val_accuracy", "patience": 2}
    assert summary_row("k", {}, 0, 0, runs, metrics, by_accuracy)["best_val_loss"] == 0.45


def rows(*triples):
    return [{"dropout": p, "seed": s, "best_val_accuracy": a} for p, s, a in triples]


def test_select_best_uses_the_mean_over_seeds():
    summary = rows((0.0, 0, 0.981), (0.0, 1, 0.975), (0.3, 0, 0.980), (0.3, 1, 0.979))
    # p=0 has the single best run, p=0.3 the better mean.
    assert select_dropout(summary, "best") == 0.3
    assert select_dropout(summary, 0.0) == 0.0


def test_select_best_breaks_ties_towards_less_dropout():
    assert select_dropout(rows((0.2, 0, 0.98), (0.1, 0, 0.98)), "best") == 0.1


def test_summary_markdown_has_run_and_per_dropout_tables():
    summary = [
        {"settings": "0123456789ab", "dropout": p, "seed": s, "epochs": e, "best_epoch": e - 2, "tested_epoch": e}
        | {"best_val_accuracy": 0.98, "test_loss": 0.08, "test_accuracy": acc}
        for p, s, e, acc in ((0.0, 0, 4, 0.98), (0.0, 1, 6, 0.982), (0.3, 0, 5, 0.979))
    ]
    text = summary_markdown(summary)
    assert "| 0 | 1 | 6 | 4 | 6 | 0.9800 | 0.0800 | 0.9820 |" in text
    assert "The tested epoch is the one whose weights were evaluated: the last" in text
    assert "| 0 | 2 | 5.0 ± 1.4 | 0.9800 ± 0.0000 | 0.0800 ± 0.0000 | 0.9810 ± 0.0014 |" in text
    assert "| 0.3 | 1 | 5.0 | 0.9800 | 0.0800 | 0.9790 |" in text  # no spread from one seed
    headed = summary_markdown(summary, "train: {epochs: 3}\n")
    # The answer first, the settings last.
    assert headed.startswith("# Summary\n\n## Which p is best, and how sure\n\n")
    assert headed.endswith("## Trained with settings 0123456789ab\n\n```yaml\ntrain: {epochs: 3}\n```\n")


def test_swept_settings_become_columns_and_labels():
    swept = {"learning_rate": 0.0005, "hidden_units": [1024, 1024], "early_stopping": None}
    row = summary_row("k", swept, 0.3, 0, history(0.5), {"test_loss": 0.1, "test_accuracy": 0.97}, None)
    assert list(row)[:5] == ["settings", "learning_rate", "hidden_units", "early_stopping", "dropout"]
    assert (row["learning_rate"], row["hidden_units"], row["early_stopping"]) == (0.0005, "[1024, 1024]", "null")
    assert combination_label(swept) == "learning_rate 0.0005, hidden_units [1024, 1024], early_stopping null"
    assert combination_label({}) == ""


def test_model_files_group_by_settings_in_run_order_then_dropout_and_seed_ascending():
    paths = [f"results/models/{key}/p{p}/seed{seed}/history.csv" for key, p, seed in RUNS]
    assert by_model(paths) == {
        "bbbbbbbbbbbb": {0.0: {0: paths[3], 1: paths[1]}, 0.5: {0: paths[0]}},
        "aaaaaaaaaaaa": {0.0: {0: paths[2]}},
    }
    # Summary rows: values per p, by seed.
    rows = [{"dropout": float(p), "seed": seed, "test_accuracy": index / 10} for index, (_, p, seed) in enumerate(RUNS)]
    assert per_dropout(rows[:2] + rows[3:], "test_accuracy") == {0.0: [0.3, 0.1], 0.5: [0.0]}


RUNS = [("bbbbbbbbbbbb", "0.5", 0), ("bbbbbbbbbbbb", "0.0", 1), ("aaaaaaaaaaaa", "0.0", 0), ("bbbbbbbbbbbb", "0.0", 0)]


def test_the_swept_settings_are_those_in_which_the_settings_folders_differ():
    trained_with = {
        "k1": {"learning_rate": 0.001, "hidden_units": [512, 512], "early_stopping": None},
        "k2": {"learning_rate": 0.0005, "hidden_units": [512, 512], "early_stopping": {"patience": 2}},
    }
    assert differing_settings(trained_with) == ["early_stopping", "learning_rate"]
    labels = combination_labels(trained_with)
    assert labels == {
        "k1": "early_stopping null, learning_rate 0.001",
        "k2": 'early_stopping {"patience": 2}, learning_rate 0.0005',
    }
    assert differing_settings({"k1": trained_with["k1"]}) == [] and combination_labels({"k1": {}}) == {"k1": ""}


def test_summary_markdown_of_a_sweep_names_each_combination():
    summary = [
        {
            "settings": key,
            "learning_rate": rate,
            "dropout": p,
            "seed": 0,
            "epochs": 3,
            "best_epoch": 1,
            "tested_epoch": 3,
        }
        | {"best_val_accuracy": 0.9, "test_loss": 0.1, "test_accuracy": acc}
        for key, rate, p, acc in (("k1", 0.001, 0.0, 0.97), ("k1", 0.001, 0.5, 0.98), ("k2", 0.0005, 0.0, 0.96))
    ]
    text = summary_markdown(summary, "train: {learning_rate: 0.001}\n", ["learning_rate"], "k1")
    assert "## Trained with settings k1, k2\n\nThose of k1 (the analysed run" in text
    assert "| settings | learning_rate |\n|---|---|\n| k1 | 0.001 |\n| k2 | 0.0005 |" in text
    assert "| 0.0005 | 0 | 0 | 3 | 1 | 3 | 0.9000 | 0.1000 | 0.9600 |" in text  # every run, its rate first
    assert "| 0.001 | 0.5 | 1 | 3.0 | 0.9000 | 0.1000 | 0.9800 |" in text  # per (rate, dropout)


def test_csv_round_trip_converts_numbers(tmp_path):
    path = tmp_path / "t.csv"
    write_csv(path, [{"dropout": 0.1, "seed": 3, "name": "x"}], ("dropout", "seed", "name"))
    assert read_csv(path) == [{"dropout": 0.1, "seed": 3, "name": "x"}]
    # A settings key stays text even when it looks like a number.
    write_csv(path, [{"settings": "1234e5678901", "seed": 3}], ("settings", "seed"))
    assert read_csv(path) == [{"settings": "1234e5678901", "seed": 3}]
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


def test_curve_band_summarises_each_epoch_over_the_runs_that_reached_it():
    epochs, mean, low, high, counts = curve_band([history(0.4, 0.2, 0.3), history(0.6, 0.4)], "val_loss")
    assert epochs.tolist() == [1, 2, 3]
    np.testing.assert_allclose(mean, [0.5, 0.3, 0.3])
    np.testing.assert_allclose(low, [0.4, 0.2, 0.3])
    np.testing.assert_allclose(high, [0.6, 0.4, 0.3])
    assert counts.tolist() == [2, 2, 1]


def test_failure_titles_use_the_article_of_the_spoken_digit():
    assert [digit_with_article(d) for d in range(10)] == [f"a {d}" for d in range(8)] + ["an 8", "a 9"]


def summary_of(table):
    """Summary rows of {p: {seed: test accuracy}}."""
    return [
        {"dropout": p, "seed": seed, "test_accuracy": a} for p, by_seed in table.items() for seed, a in by_seed.items()
    ]


def test_the_answer_names_the_best_p_its_interval_and_what_cannot_be_told_apart():
    from test_uncertainty import TABLE, T_975_4

    text = answer_markdown(summary_of(TABLE))
    best = list(TABLE[0.3].values())
    mean = sum(best) / 5
    half = T_975_4 * np.std(best, ddof=1) / 5**0.5
    assert f"Best mean test accuracy: **p = 0.3** ({mean:.4f}, 95% CI {mean - half:.4f} to {mean + half:.4f})." in text
    assert "Cannot be told apart from it: p = 0.5. Worse: p = 0." in text
    assert "Does dropout help? p = 0.3 beats p = 0 by 0.0051" in text and "shown at the 5% level" in text
    assert "| 0.5 | 5 | 0.8001 |" not in text and "| 0.5 | 5 | 0.9801 | 0.0017 |" in text
    assert "paired t-test" in text and "Benjamini-Hochberg" in text


def test_the_answer_with_one_seed_says_no_uncertainty_can_be_given():
    text = answer_markdown(summary_of({0.0: {0: 0.97}, 0.5: {0: 0.98}}), "learning_rate 0.001")
    assert text.startswith(
        "## Which p is best, and how sure: learning_rate 0.001\n\nBest test accuracy: p = 0.5 (0.9800)."
    )
    assert "no uncertainty can be given" in text and "seeds: [0, 1, 2, 3, 4]" in text and "|" not in text


def test_the_answer_for_one_p_over_several_seeds_gives_its_interval():
    text = answer_markdown(summary_of({0.5: {0: 0.98, 1: 0.97, 2: 0.975}}))
    assert "no uncertainty can be given" not in text
    assert "| 0.5 | 3 | 0.9750 | 0.0050 | 0.9626 to 0.9874 | best |" in text


@pytest.mark.parametrize(
    "name, content, problem",
    [
        ("metrics.json", b'{"test_loss": 0.1, "test_acc', "Unterminated string"),
        ("metrics.json", b"0.97\n", "a float, not a mapping"),
        ("metrics.json", b'{"test_loss": 0.1}\n', "no test_accuracy, precision, recall, f1"),
        ("history.csv", b"epoch,loss,accuracy,val_loss,val_accuracy,seconds\n", "no rows"),
        ("history.csv", b"epoch,loss,accuracy,val_loss,val_accuracy,seconds\n1,0.5,0.9", "cut short"),
        ("history.csv", b"epoch,loss\n1,0.5\n", "no column accuracy, val_loss, val_accuracy, seconds"),
        ("train_info.json", b"[]\n", "a list, not a mapping"),
        ("predictions.npz", b"PK\x03\x04 cut", "File is not a zip file"),
        ("model.keras", b"not a zip archive", "File is not a zip file"),
    ],
)
def test_a_damaged_kept_file_is_named_with_its_problem_and_fix(tmp_path, name, content, problem):
    path = tmp_path / "results" / "models" / "0123456789ab" / "p0.3" / "seed0" / name
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(DamagedFileError) as raised:
        MODEL_FILE_READERS[name](path)
    message = str(raised.value)
    assert message.startswith(f"{path}: unreadable, or not what the workflow wrote (") and problem in message
    assert message.endswith(
        f"rerun snakemake with --forcerun {path} (a model of the current config), or delete {path.parent}"
    )


def test_a_model_record_reads_each_file_its_status_and_the_recorded_times(tmp_path):
    folder = tmp_path / "results" / "models" / "0123456789ab" / "p0.3" / "seed2"
    folder.mkdir(parents=True)
    fields = model_fields(folder)
    assert fields == {"settings": "0123456789ab", "dropout": 0.3, "seed": 2}
    assert model_fields(tmp_path / "results" / "models" / "0123456789ab" / "p0.3") is None
    # Empty, as an interrupted job leaves it: nothing read, nothing recorded.
    record = model_record(folder, fields)
    assert (record["status"], record["damage"], record["times"], record["train"]) == ("incomplete", None, None, {})
    (folder.parent.parent / "settings.yaml").write_text("train: {learning_rate: 0.001}\ndata: {}\ncode: {}\n")
    rows = [row | {"seconds": 1.5} for row in history(0.5, 0.4)]
    write_csv(folder / "history.csv", rows, ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"))
    with zipfile.ZipFile(folder / "model.keras", "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", "")
    times = {"started": "2026-12-08T02:00:00+00:00", "ended": "2026-12-08T02:00:30.500000+00:00"}
    info = {"train": {}, "environment": {"code": {"git_commit": "a" * 40, "uncommitted_changes": True}}, "times": times}
    write_json(folder / "train_info.json", info)
    record = model_record(folder, fields)
    assert record["status"] == "trained" and record["train"] == {"learning_rate": 0.001}
    assert record["code"] == "aaaaaaaaaaaa + changes" and record["times"][1] - record["times"][0] == 30.5
    assert [row["val_loss"] for row in record["history.csv"]] == [0.5, 0.4] and record["metrics.json"] == {}
    # A recorded time that is not one: the record names the file, as any damage.
    write_json(folder / "train_info.json", {**info, "times": {"started": "yesterday"}})
    record = model_record(folder, fields)
    assert record["status"] == "damaged" and str(record["damage"]).startswith(
        f"{folder / 'train_info.json'}: unreadable"
    )
