# Helpers of the rules: config checking, the lists of runs and files, and the
# code each rule runs.

import ast
import functools
import hashlib
import itertools
import math

import jsonschema
import yaml
from mnist_dropout.data import IDX_FILES, IDX_NAMES
from mnist_dropout.paths import DATASET, MODEL_DIR, SETTINGS_FILE, figure_paths, settings_key

# The evaluation fails if NumPy's and Keras' test probabilities differ by this.
FORWARD_PASS_TOLERANCE = 1e-4
MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=67108864"


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
    elif error.validator == "type" and isinstance(error.instance, float) and not math.isfinite(error.instance):
        problem = f"{error.instance} is not a finite number"
    else:
        problem = error.message
    hint = error.schema.get("description") if isinstance(error.schema, dict) else None
    return config_error(key_path(error.absolute_path), problem + (f"; expected {hint}" if hint else ""))


SCHEMA = os.path.join(workflow.basedir, "schemas", "config.schema.yaml")


def is_integer(checker, instance):
    """JSON Schema counts 8.0 as an integer; a config means 8."""
    return isinstance(instance, int) and not isinstance(instance, bool)


def is_finite_number(checker, instance):
    """YAML reads .nan and .inf as numbers; no setting means them."""
    return isinstance(instance, (int, float)) and not isinstance(instance, bool) and math.isfinite(instance)


STRICT_VALIDATOR = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine_many(
        {"integer": is_integer, "number": is_finite_number}
    ),
)


def check_config(config):
    """Validate against the JSON schema (filling defaults), again with integers
    and finite numbers as a config means them, then the rules a schema cannot
    express; raise one clear error before any job starts."""
    try:
        validate(config, SCHEMA)
    except WorkflowError as error:
        # validate() raises WorkflowError while handling jsonschema's error.
        if not isinstance(error.__context__, jsonschema.ValidationError):
            raise
        raise describe_schema_error(error.__context__) from None
    with open(SCHEMA) as stream:
        strict = STRICT_VALIDATOR(yaml.safe_load(stream))
    error = jsonschema.exceptions.best_match(strict.iter_errors(config))
    if error is not None:
        raise describe_schema_error(error)
    # Each value must be its label (its result files' name): then distinct values
    # (the schema's uniqueItems) have distinct labels.
    for index, p in enumerate(config["dropout"]):
        if float(dropout_label(p)) != p:
            raise config_error(
                f"dropout[{index}]",
                f"{p!r} has more than 12 decimals (it would train as p = {dropout_label(p)}); round it",
            )
    # train: names the analysed combination: a swept setting's value there must
    # be one of its swept values, or the config would say two things.
    for name, values in config["sweep"].items():
        if config["train"][name] not in values:
            raise config_error(
                f"sweep.{name}",
                f"the sweep {values} leaves out train.{name} = {config['train'][name]}; set train.{name} "
                "to one of the swept values (train: names the analysed run) or add it to the sweep",
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
# The training scripts read steps_per_execution from the config.
EXECUTION_SETTINGS = ("threads", "steps_per_execution", "evaluate_in_training_job")


def combinations():
    """[{setting: value}] of every combination of the swept values, the first
    swept setting varying slowest; [{}] without a sweep."""
    sweep = config["sweep"]
    return [dict(zip(sweep, values)) for values in itertools.product(*sweep.values())]


def model_settings(combination=None):
    """Everything a model depends on besides its dropout value and seed: the
    `train` config without execution settings, with `combination`'s swept
    values, and the data's checksums."""
    train = {key: value for key, value in config["train"].items() if key not in EXECUTION_SETTINGS}
    return {"train": {**train, **(combination or {})}, "data_sha256": config["data"]["sha256"]}


@functools.cache
def settings_grid():
    """{settings key: model settings} of every combination, in sweep order.
    Computed once: every rule and job of the run asks for it, and the config is
    fixed once checked."""
    return {settings_key(settings): settings for settings in map(model_settings, combinations())}


def settings_of(key):
    """The model settings named by a settings key of the current config."""
    grid = settings_grid()
    if key not in grid:
        raise WorkflowError(
            f"results/models/{key} holds models of other settings than the config's ({', '.join(grid)}); "
            "ask for those, or for results/summary.csv"
        )
    return grid[key]


def analysed_settings():
    """The key of the combination with `train:`'s values (one of each swept
    setting's values): its models are the ones whose failures are drawn."""
    train = config["train"]
    # The sweep's spelling of the value (1 or 1.0), as in the grid's keys.
    combination = {name: values[values.index(train[name])] for name, values in config["sweep"].items()}
    return settings_key(model_settings(combination))


def swept_settings():
    """Names of the settings the sweep gives several values: the summary's
    extra columns."""
    return [name for name, values in config["sweep"].items() if len(values) > 1]


def swept_values():
    """{settings key: {swept setting: its value}} of every combination."""
    return {
        key: {name: settings["train"][name] for name in swept_settings()} for key, settings in settings_grid().items()
    }


def best_epoch_monitor(settings):
    """The quantity early stopping monitors with these model settings (val_loss
    when it is off): a run's best epoch in the summary is the one it judges best."""
    return (settings["train"]["early_stopping"] or {}).get("monitor", "val_loss")


def runs():
    """Every (settings key, dropout, seed) to train, in a fixed order."""
    return [
        (key, float(p), int(seed)) for key in settings_grid() for p in config["dropout"] for seed in config["seeds"]
    ]


def analysed_runs():
    """The runs of the analysed settings."""
    analysed = analysed_settings()
    return [run for run in runs() if run[0] == analysed]


def run_files(pattern, selected=None):
    """`pattern` (with {settings}, {dropout} and {seed}) expanded for every run
    in `selected` (default: every run), in its order."""
    return [pattern.format(settings=key, dropout=dropout_label(p), seed=seed) for key, p, seed in (selected or runs())]


def final_outputs():
    return [
        "results/summary.csv",
        "results/summary.md",
        "results/analysis/precision_recall.csv",
        *figure_paths(config["analysis"]["failure_digit"]),
    ]


SCRIPTS = os.path.join(workflow.basedir, "scripts")
LIBRARY = "mnist_dropout"


def imported_library_modules(path):
    """Names of the modules of the library package that the Python file `path`
    imports (as mnist_dropout.NAME, or as .NAME from inside the package)."""
    with open(path) as stream:
        tree = ast.parse(stream.read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(f"{LIBRARY}.{node.module}" if node.level else node.module)
    return {name.split(".", 1)[1] for name in names if name.startswith(f"{LIBRARY}.")}


def library_code(script):
    """{module: SHA-256} of the library modules that the rule script `script`
    runs, imported directly or through each other. Snakemake's code trigger sees
    only the rule's own script; as a param this reruns exactly the jobs whose
    code changed."""
    digests, pending = {}, imported_library_modules(os.path.join(SCRIPTS, script))
    while pending:
        name = pending.pop()
        path = os.path.join(SCRIPTS, LIBRARY, f"{name}.py")
        with open(path, "rb") as stream:
            digests[name] = hashlib.sha256(stream.read()).hexdigest()[:16]
        pending |= imported_library_modules(path) - set(digests)
    return dict(sorted(digests.items()))


def raw_idx_files():
    """{split_kind: path} of the downloaded IDX files, e.g. train_images."""
    return {f"{split}_{kind}": f"results/data/raw/{name}" for (split, kind), name in IDX_NAMES.items()}
