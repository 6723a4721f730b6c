"""The study's config: the YAML files laid over one another as Snakemake does,
checked against its JSON schema and the rules a schema cannot express, each
problem as one line."""

import copy
import math
from pathlib import Path

import jsonschema
import yaml

from .settings import WORKFLOW_DIR, dropout_label

CONFIG_FILE = WORKFLOW_DIR / "config.yaml"
SCHEMA_FILE = WORKFLOW_DIR / "schemas" / "config.schema.yaml"


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
