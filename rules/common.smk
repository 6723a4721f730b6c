# Helpers shared by the rules: config checking and the lists of runs and files.

import jsonschema


IDX_NAMES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


def config_error(location, problem):
    return WorkflowError(
        f"Invalid config: {location}: {problem}. "
        "Fix it in config.yaml or in the file given to --configfile."
    )


def check_config(config):
    """Validate against the JSON schema (filling defaults), then the rules a
    schema cannot express; raise one clear error before any job starts."""
    try:
        validate(config, "schemas/config.schema.yaml")
    except jsonschema.ValidationError as error:
        location = ".".join(str(part) for part in error.absolute_path) or "top level"
        hint = error.schema.get("description") if isinstance(error.schema, dict) else None
        raise config_error(location, error.message + (f" (expected: {hint})" if hint else ""))
    choice = config["analysis"]["dropout"]
    if choice != "best" and float(choice) not in [float(p) for p in config["dropout"]]:
        raise config_error(
            "analysis.dropout",
            f"{choice} is not in the sweep; use 'best' or one of {config['dropout']}",
        )


def dropout_label(dropout):
    """The wildcard value naming a dropout probability, e.g. 0.3 -> '0.3', 0 -> '0.0'."""
    return repr(float(dropout))


def runs():
    """Every (dropout, seed) pair to train, in a fixed order."""
    return [(float(p), int(seed)) for p in config["dropout"] for seed in config["seeds"]]


def run_files(pattern):
    """`pattern` (with {dropout} and {seed}) expanded for every run, in runs() order."""
    return [pattern.format(dropout=dropout_label(p), seed=seed) for p, seed in runs()]


def final_outputs():
    digit = config["analysis"]["failure_digit"]
    return [
        "results/summary.csv",
        "results/summary.md",
        "results/analysis/precision_recall.csv",
        *expand("results/figures/{name}.png", name=FIGURES),
        f"results/figures/failure{digit}.png",
    ]
