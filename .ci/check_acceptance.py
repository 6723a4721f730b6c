"""Fail unless the full run's results meet the original's level; print the summary."""

import csv
import sys
from pathlib import Path

results = Path(sys.argv[1])
figures = ["fit_loss", "train_loss_dropout", "val_loss_dropout", "val_acc_dropout", "test_acc_dropout", "fscore", "failure8"]
problems = [f"missing figure {name}.png" for name in figures if not (results / "figures" / f"{name}.png").is_file()]
with open(results / "summary.csv") as stream:
    rows = list(csv.DictReader(stream))
if len(rows) != 9:
    problems.append(f"expected 9 runs, got {len(rows)}")
for row in rows:
    if float(row["dropout"]) <= 0.5 and float(row["test_accuracy"]) < 0.975:
        problems.append(f"p = {row['dropout']} seed {row['seed']}: test accuracy {row['test_accuracy']} < 0.975")
print((results / "summary.md").read_text())
if problems:
    sys.exit("ACCEPTANCE FAILED: " + "; ".join(problems))
print("acceptance passed: every model with p <= 0.5 reached test accuracy >= 0.975; all figures present")
