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
        f"Invalid config: {location}: {problem}. Fix it in config.yaml or in the file given to --configfile."
    )


def key_path(parts):
    """JSON-schema error path as a config key, e.g. dropout[1] or train.epochs."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "top level"


def describe_schema_error(error):
    """One line naming the key, what is wrong and what is allowed."""
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        problem = f"unknown key {', '.join(map(repr, unknown))} (a typo?); allowed keys: {', '.join(allowed)}"
    elif error.validator == "pattern":
        problem = f"{error.instance!r} is malformed"
    else:
        problem = error.message
    hint = error.schema.get("description") if isinstance(error.schema, dict) else None
    return config_error(key_path(error.absolute_path), problem + (f"; expected {hint}" if hint else ""))


def check_config(config):
    """Validate against the JSON schema (filling defaults), then the rules a
    schema cannot express; raise one clear error before any job starts."""
    try:
        validate(config, "schemas/config.schema.yaml")
    except WorkflowError as error:
        # validate() raises WorkflowError while handling jsonschema's error.
        if not isinstance(error.__context__, jsonschema.ValidationError):
            raise
        raise describe_schema_error(error.__context__) from None
    labels = [dropout_label(p) for p in config["dropout"]]
    if len(set(labels)) < len(labels):
        raise config_error(
            "dropout",
            f"{config['dropout']} has values equal to 12 decimals; make them distinct",
        )
    choice = config["analysis"]["dropout"]
    if choice != "best" and float(choice) not in [float(p) for p in config["dropout"]]:
        raise config_error(
            "analysis.dropout",
            f"{choice} is not in the sweep; use 'best' or one of {config['dropout']}",
        )


def dropout_label(dropout):
    """The wildcard value naming a dropout probability in positional notation,
    e.g. 0.3 -> '0.3', 0 -> '0.0', 1e-5 -> '0.00001'."""
    whole, fraction = f"{float(dropout):.12f}".split(".")
    return f"{whole}.{fraction.rstrip('0') or '0'}"


# Settings of how training runs, not what it computes (tests show the same bits
# for any steps_per_execution and either place of evaluation; threads are the
# job's threads), kept out of params: changing threads or steps_per_execution
# retrains nothing (moving evaluation into training jobs reruns them once).
EXECUTION_SETTINGS = ("threads", "steps_per_execution", "evaluate_in_training_job")


def training_settings():
    """What training computes: the `train` config without execution settings."""
    return {key: value for key, value in config["train"].items() if key not in EXECUTION_SETTINGS}


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
