"""Configuration: load YAML files, merge overlays (presets), validate against the JSON schema.

The same schema is used by the Snakefile (``snakemake.utils.validate``) and by every ``crgan``
command, so a typo fails before any job runs, with a one-line message naming the key.
"""
from __future__ import annotations

import copy
import difflib
import hashlib
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import jsonschema
import yaml

from crgan.errors import ConfigError


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The JSON schema of config.yaml (shipped inside the package)."""
    return yaml.safe_load(resources.files("crgan").joinpath("schemas/config.schema.yaml").read_text())


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Overlay wins; nested mappings merge key by key (as Snakemake merges --configfile)."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _location(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    """One line that names the key and says what was expected."""
    where = _location(error)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        key = f"{where}.{extra[0]}" if where != "<top level>" else extra[0]
        hint = difflib.get_close_matches(extra[0], allowed, n=1)
        suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
        return f"unknown config key '{key}' (allowed here: {', '.join(allowed)}){suggestion}"
    if error.validator == "required":
        return f"config key '{where}' is missing a required entry: {error.message}"
    return f"config key '{where}': {error.message}"


def _with_defaults(validator_class: type) -> type:
    """A validator that also fills in ``default`` values, like snakemake.utils.validate."""
    validate_props = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, sch):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from validate_props(validator, properties, instance, sch)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def validate(cfg: dict[str, Any]) -> dict[str, Any]:
    """Return a validated copy of ``cfg`` with defaults filled in; raise ConfigError otherwise."""
    cfg = copy.deepcopy(cfg)
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema())
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(list(e.absolute_path)), str(e.absolute_path)))
    if errors:
        raise ConfigError(_describe(jsonschema.exceptions.best_match(errors)))
    _check_consistency(cfg)
    return cfg


def validate_sections(part: dict[str, Any]) -> dict[str, Any]:
    """Validate only the top-level sections present (what a workflow rule passes to a command).

    The Snakefile has already checked the whole configuration; each rule receives just the
    sections it depends on, so that changing one section reruns only the rules that use it.
    """
    top = schema()
    unknown = sorted(set(part) - set(top["properties"]))
    if unknown:
        raise ConfigError(f"unknown config key '{unknown[0]}'")
    sub_schema = {**top, "required": [], "properties": {k: top["properties"][k] for k in part}}
    validator = _with_defaults(jsonschema.Draft202012Validator)(sub_schema)
    part = copy.deepcopy(part)
    errors = list(validator.iter_errors(part))
    if errors:
        raise ConfigError(_describe(jsonschema.exceptions.best_match(errors)))
    return part


def _check_consistency(cfg: dict[str, Any]) -> None:
    """Rules the schema cannot express."""
    for key in ("pairs", "cuhk03_pairs"):
        for src, tgt in cfg[key]:
            if src == tgt:
                raise ConfigError(f"config key '{key}': a pair needs two different domains, got {src} -> {tgt}")
    domains = {d for pair in cfg["pairs"] + cfg["cuhk03_pairs"] for d in pair}
    if cfg["data"]["source"] == "synthetic":
        missing = sorted(domains - set(cfg["synthetic"]["domains"]))
        if missing:
            raise ConfigError(f"config key 'synthetic.domains' has no entry for {', '.join(missing)} (used in 'pairs' or 'cuhk03_pairs')")
    else:
        missing = sorted(domains - set(cfg["data"]["roots"]))
        if missing:
            raise ConfigError(f"config key 'data.roots' has no folder for {', '.join(missing)} "
                              f"(data.source is 'real' and 'pairs' or 'cuhk03_pairs' use them)")
    n = cfg["gpus"]["train"]
    for key in ("reid", "crgan", "spgan"):
        if n > 1 and key in cfg and cfg[key]["batch_size"] % n:
            raise ConfigError(f"config key '{key}.batch_size': {cfg[key]['batch_size']} does not split over "
                              f"gpus.train = {n} processes; use a multiple of {n}")
    if cfg["masks"]["method"] == "directory" and not cfg["masks"]["directory"]:
        raise ConfigError("config key 'masks.directory' must name a folder when masks.method is 'directory'")
    if cfg["masks"]["method"] == "groundtruth" and cfg["data"]["source"] == "real":
        raise ConfigError("config key 'masks.method': 'groundtruth' needs the synthetic benchmark; "
                          "use 'segmentation' or 'directory' with real data")


def load(paths: Iterable[str | Path]) -> dict[str, Any]:
    """Load and merge YAML files in order (later ones overlay earlier ones), then validate."""
    cfg: dict[str, Any] = {}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path} must hold a mapping at the top level")
        cfg = deep_merge(cfg, data)
    return validate(cfg)


def config_hash(cfg: dict[str, Any]) -> str:
    """Short stable hash of a configuration (recorded beside every result)."""
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:12]
