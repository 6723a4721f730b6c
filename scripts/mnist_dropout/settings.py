"""The study's config: checked against its JSON schema, and turned into the runs
to train, each model keyed by everything that can change it: its training
settings, the data's checksums and the code that preprocesses, trains and
evaluates."""

import copy
import hashlib
import itertools
import json
import math
from pathlib import Path

import jsonschema
import yaml

from .jobs import atomic_output
from .provenance import code_digest

PACKAGE_DIR = Path(__file__).resolve().parent
SCRIPTS_DIR = PACKAGE_DIR.parent
WORKFLOW_DIR = SCRIPTS_DIR.parent
CONFIG_FILE = WORKFLOW_DIR / "config.yaml"
SCHEMA_FILE = WORKFLOW_DIR / "schemas" / "config.schema.yaml"

# The entry scripts whose code makes a model, with the modules they import.
TRAINING_SCRIPTS = ("train_and_evaluate.py",)
PREPROCESSING_SCRIPTS = ("preprocess.py",)

# Settings of how training runs, not what it computes (tests show the same bits
# for any steps_per_execution; threads are the job's threads, recorded): not in
# the settings key, so changing them retrains nothing.
EXECUTION_SETTINGS = ("threads", "steps_per_execution")


class ConfigError(ValueError):
    """A config the workflow cannot run; its message is one line."""


def config_error(location, problem):
    return ConfigError(
        f"Invalid config: {location}: {problem}. Fix it in config.yaml or in the file given to --configfile."
    )


def merge(base, overlay):
    """`overlay` laid over `base`, mappings merged key by key, as Snakemake
    merges --configfile overlays into config.yaml."""
    merged = dict(base)
    for key, value in overlay.items():
        merged[key] = (
            merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged


def load_config(overlays=(), config_file=CONFIG_FILE):
    """`config_file` with the YAML files `overlays` laid over it in order, checked."""
    config = yaml.safe_load(Path(config_file).read_text())
    for path in overlays:
        config = merge(config, yaml.safe_load(Path(path).read_text()) or {})
    return check_config(config)


def _key_path(parts):
    """JSON-schema error path as a config key, e.g. dropout[1] or train.epochs."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "top level"


def _describe(error):
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
    return config_error(_key_path(error.absolute_path), problem + (f"; expected {hint}" if hint else ""))


def _is_integer(checker, instance):
    """JSON Schema counts 8.0 as an integer; a config means 8."""
    return isinstance(instance, int) and not isinstance(instance, bool)


def _is_finite_number(checker, instance):
    """YAML reads .nan and .inf as numbers; no setting means them."""
    return isinstance(instance, (int, float)) and not isinstance(instance, bool) and math.isfinite(instance)


def _fill_defaults(validator, properties, instance, schema):
    """JSON Schema's `properties`, first setting each absent property's default."""
    if isinstance(instance, dict):
        for name, subschema in properties.items():
            if "default" in subschema:
                instance.setdefault(name, copy.deepcopy(subschema["default"]))
    yield from jsonschema.Draft202012Validator.VALIDATORS["properties"](validator, properties, instance, schema)


VALIDATOR = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    validators={"properties": _fill_defaults},
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine_many(
        {"integer": _is_integer, "number": _is_finite_number}
    ),
)


def check_config(config):
    """`config` with the schema's defaults filled in, checked against the
    schema (integers and finite numbers as a config means them) and the rules
    a schema cannot express; a ConfigError of one line otherwise."""
    error = jsonschema.exceptions.best_match(VALIDATOR(yaml.safe_load(SCHEMA_FILE.read_text())).iter_errors(config))
    if error is not None:
        raise _describe(error)
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
    return config


def dropout_label(dropout):
    """The wildcard value naming a dropout probability in positional notation,
    e.g. 0.3 -> '0.3', 0 -> '0.0', 1e-5 -> '0.00001'."""
    whole, fraction = f"{float(dropout):.12f}".split(".")
    return f"{whole}.{fraction.rstrip('0') or '0'}"


def settings_key(settings):
    """The short name of a settings dict: the first 12 hex digits of the SHA-256
    of its canonical JSON."""
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def workflow_code(scripts_dir=SCRIPTS_DIR):
    """The code digests of the steps that make a model: preprocessing, and
    training with evaluation."""
    scripts_dir = Path(scripts_dir)
    package = scripts_dir / PACKAGE_DIR.name
    return {
        "preprocessing": code_digest([scripts_dir / name for name in PREPROCESSING_SCRIPTS], package),
        "training": code_digest([scripts_dir / name for name in TRAINING_SCRIPTS], package),
    }


def data_settings(config, code):
    """What the preprocessed dataset depends on: the IDX files' checksums and
    the preprocessing code (`code`, of workflow_code)."""
    return {"sha256": config["data"]["sha256"], "preprocessing_code": code["preprocessing"]["digest"]}


def combinations(config):
    """[{setting: value}] of every combination of the swept values, the first
    swept setting varying slowest; [{}] without a sweep."""
    sweep = config["sweep"]
    return [dict(zip(sweep, values)) for values in itertools.product(*sweep.values())]


def model_settings(config, code, combination):
    """Everything a model depends on besides its dropout value and seed: the
    `train` config without execution settings, with `combination`'s swept
    values; the data; the training code (files and digests)."""
    train = {key: value for key, value in config["train"].items() if key not in EXECUTION_SETTINGS}
    return {"train": {**train, **combination}, "data": data_settings(config, code), "code": code["training"]}


def settings_grid(config, code):
    """{settings key: model settings} of every combination, in sweep order."""
    return {
        settings_key(settings): settings
        for settings in (model_settings(config, code, combination) for combination in combinations(config))
    }


def analysed_combination(config):
    """The combination with `train:`'s values, in the sweep's spelling (1 or 1.0)."""
    train = config["train"]
    return {name: values[values.index(train[name])] for name, values in config["sweep"].items()}


def write_settings(path, settings, log):
    """`settings` as readable YAML at `path`, written whole; says so in `log`."""
    with atomic_output(path) as temporary, open(temporary, "w") as stream:
        yaml.safe_dump(settings, stream, sort_keys=False)
    Path(log).write_text(f"wrote {path}\n")


def runs(config, grid):
    """Every (settings key, dropout, seed) to train, in a fixed order."""
    return [(key, float(p), int(seed)) for key in grid for p in config["dropout"] for seed in config["seeds"]]
