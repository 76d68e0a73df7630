"""Configuration: load YAML files, merge overlays (presets), validate against the JSON schema.

The same schema is used by the Snakefile (``snakemake.utils.validate``) and by every ``crgan``
command, so a typo fails before any job runs, with a one-line message naming the key.
"""
from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from crgan.data.layouts import LAYOUTS
from crgan.errors import ConfigError
from crgan.methods import METHODS


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The JSON schema of config.yaml (shipped inside the package), with the section of each method
    that declares its options in its registry entry (``Method.options``)."""
    top = yaml.safe_load(resources.files("crgan").joinpath("schemas/config.schema.yaml").read_text())
    curves = top["properties"]["budget_curves"]["properties"]["budgets"]["properties"]
    for method in METHODS.values():
        for curve in method.start_curves.values():  # a started method's curves, one per start (crgan.budgets.CURVES)
            curves.setdefault(curve, {"$ref": "#/definitions/budgets"})
        for variant in method.variants:  # each variant's generator has its own curve
            curves.setdefault(method.generator_curve(variant), {"$ref": "#/definitions/budgets"})
        if method.options:
            if method.key in top["properties"]:
                raise ValueError(f"{method.key}'s options are declared twice: in its registry entry and the schema")
            top["properties"][method.key] = {
                "type": "object", "additionalProperties": False, "default": {}, "properties": dict(method.options),
                "description": f"{method.label}'s options (declared by its registry entry, crgan.methods)"}
    for section in trainer_sections():
        top["properties"][section]["properties"]["precision"] = {"$ref": "#/definitions/trainer_precision"}
    top["properties"]["precision_check"]["properties"]["curves"]["items"]["enum"] = sorted(curves)
    return top


def trainer_sections() -> tuple[str, ...]:
    """The config sections that configure a trainer (each may set its own ``precision``): re-id, the
    generators, the fine-tuning and every started method's (TAUDL, Cluster Contrast)."""
    return ("reid", "crgan", "finetune", "spgan", *(key for key, method in METHODS.items() if method.starts))


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


#: Python types of the schema's scalar types, for reading command-line strings.
_SCALAR_TYPES = {"integer": (int,), "number": (int, float), "boolean": (bool,)}


def coerce_strings(value: Any, node: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """``value`` with strings turned into the numbers, booleans or nulls the schema expects there.

    Snakemake hands nested command-line values over as strings (``--config synthetic='{seed: 11}'``
    gives ``{'seed': '11'}``); a string is read as YAML and kept only if it then has an expected type.
    """
    root = root or node
    while "$ref" in node:
        target = root
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    if isinstance(value, str):
        names = [node["type"]] if isinstance(node.get("type"), str) else list(node.get("type", []))
        if "null" in names and value in ("null", "~"):
            return None
        expected = tuple(t for name in names for t in _SCALAR_TYPES.get(name, ()))
        if not expected or "string" in names:
            return value
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        # bool is an int in Python: accept it only where a boolean is expected
        return parsed if isinstance(parsed, expected) and (bool in expected or not isinstance(parsed, bool)) else value
    if isinstance(value, dict):
        props, extra = node.get("properties", {}), node.get("additionalProperties")
        nodes = {k: props.get(k, extra) for k in value}
        return {k: coerce_strings(v, nodes[k], root) if isinstance(nodes[k], dict) else v for k, v in value.items()}
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        return [coerce_strings(v, node["items"], root) for v in value]
    return value


def refuse_non_finite(value: Any, where: str = "") -> None:
    """Raise ConfigError naming the first NaN or infinite number in ``value`` (a schema's minimum and
    maximum never fail on NaN, so it is checked here, everywhere)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key '{where or '<top level>'}': {value} is not a finite number")
    if isinstance(value, dict):
        for key, item in value.items():
            refuse_non_finite(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            refuse_non_finite(item, f"{where}.{i}")


def validate(cfg: dict[str, Any]) -> dict[str, Any]:
    """Return a validated copy of ``cfg`` with defaults filled in; raise ConfigError otherwise.

    Strings where the schema wants numbers or booleans (Snakemake's nested ``--config`` values) are
    read as YAML first (:func:`coerce_strings`)."""
    top = schema()
    if "plateau" in (cfg.get("budget_curves") or {}):
        from crgan.budgets import PLATEAU_FILE

        raise ConfigError(f"config key 'budget_curves.plateau' is no longer set by hand: the measured plateaus are read "
                          f"from {PLATEAU_FILE}, which `snakemake results/budget_curves.csv` writes; remove the key")
    cfg = coerce_strings(copy.deepcopy(cfg), top)
    refuse_non_finite(cfg)
    validator = _with_defaults(jsonschema.Draft202012Validator)(top)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(list(e.absolute_path)), str(e.absolute_path)))
    if errors:
        raise ConfigError(_describe(jsonschema.exceptions.best_match(errors)))
    _check_consistency(cfg)
    return cfg


def feature_map_rows(reid_cfg: dict[str, Any], height: int) -> int:
    """Rows of the re-id backbone's last feature map for images ``height`` pixels high (what LMP
    splits into stripes); torch-free arithmetic of :mod:`crgan.models.reid`'s strides, checked
    against the networks by a test. Each stride-2 step (3x3 conv, padding 1; or 3x3 max pool,
    padding 1) maps h to ceil(h / 2); the 7x7 stride-2 stem of torchvision's ResNets does too."""
    strides = ([2, 1, 2, 2] if reid_cfg["arch"] == "compact" else [2, 2, 1, 2, 2]) + [reid_cfg.get("last_stride", 1)]
    for stride in strides:
        height = -(-height // stride)
    return height


def _check_shapes(cfg: dict[str, Any]) -> None:
    """Network geometry the image size must allow, checked before any job instead of failing after
    training: CR-GAN's U-Net depth, SPGAN's translators and SiaNet, and LMP's stripes."""
    if "data" not in cfg:
        return
    height, width = cfg["data"]["height"], cfg["data"]["width"]
    if "crgan" in cfg:
        factor = 2 ** cfg["crgan"]["generator"]["depth"]
        if height % factor or width % factor:
            raise ConfigError(f"config key 'crgan.generator.depth': {cfg['crgan']['generator']['depth']} downsamplings "
                              f"need data.height and data.width divisible by {factor}, got {height}x{width}")
    if "spgan" in cfg:
        factor = 2 ** cfg["spgan"]["generator"]["downsamples"]
        if height % factor or width % factor:
            raise ConfigError(f"config key 'spgan.generator.downsamples': {cfg['spgan']['generator']['downsamples']} "
                              f"need data.height and data.width divisible by {factor}, got {height}x{width}")
        blocks = cfg["spgan"]["sianet"]["blocks"]
        if height < 4 ** blocks or width < 4 ** blocks:
            raise ConfigError(f"config key 'spgan.sianet.blocks': {blocks} blocks need images of at least "
                              f"{4 ** blocks}x{4 ** blocks} pixels, got {height}x{width} (data.height, data.width)")
    if "eval" in cfg and "reid" in cfg:
        rows = feature_map_rows(cfg["reid"], height)
        if cfg["eval"]["lmp_parts"] > rows:
            raise ConfigError(f"config key 'eval.lmp_parts': {cfg['eval']['lmp_parts']} stripes, but the "
                              f"{cfg['reid']['arch']} feature map of {height}-pixel-high images has {rows} rows")


#: Top-level settings every command reads (each has a default in the schema).
RUN_WIDE = ("device", "precision", "deterministic", "memory_format")


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
    refuse_non_finite(part)
    errors = list(validator.iter_errors(part))
    if errors:
        raise ConfigError(_describe(jsonschema.exceptions.best_match(errors)))
    _check_shapes(part)
    for key in RUN_WIDE:  # settings every command reads, at their defaults where a rule passes none
        part.setdefault(key, top["properties"][key]["default"])
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
            raise ConfigError(f"config key 'synthetic.domains' has no entry for {', '.join(missing)} "
                              f"(used in 'pairs' or 'cuhk03_pairs')")
    else:
        missing = sorted(domains - set(cfg["data"]["roots"]))
        if missing:
            raise ConfigError(f"config key 'data.roots' has no folder for {', '.join(missing)} "
                              f"(data.source is 'real' and 'pairs' or 'cuhk03_pairs' use them)")
    n = cfg["gpus"]["train"]
    for key in (method.key for method in METHODS.values() if method.data_parallel):
        if n > 1 and key in cfg and cfg[key]["batch_size"] % n:
            raise ConfigError(f"config key '{key}.batch_size': {cfg[key]['batch_size']} does not split over "
                              f"gpus.train = {n} processes; use a multiple of {n}")
    _check_ranges(cfg, domains)
    if cfg["masks"]["method"] == "directory" and not cfg["masks"]["directory"]:
        raise ConfigError("config key 'masks.directory' must name a folder when masks.method is 'directory'")
    if cfg["masks"]["method"] == "groundtruth" and cfg["data"]["source"] == "real":
        raise ConfigError("config key 'masks.method': 'groundtruth' needs the synthetic benchmark; "
                          "use 'segmentation' or 'directory' with real data")
    _check_shapes(cfg)


#: The training sections whose ``batch_size`` draws training images of one domain at a time.
TRAINING_BATCHES = ("reid", "crgan", "finetune", "spgan", "cluster_contrast")


def most_training_images(cfg: dict[str, Any], domain: str) -> int:
    """The most training images ``domain`` can hold: its official count on real data; on the synthetic
    benchmark every training identity in every camera with the most images per camera."""
    layout = LAYOUTS[domain]
    if cfg["data"]["source"] != "synthetic":
        return layout.official["train"]
    return cfg["synthetic"]["domains"][domain]["train_ids"] * layout.num_cameras * cfg["synthetic"]["images_per_camera"][1]


def _check_ranges(cfg: dict[str, Any], domains: set[str]) -> None:
    """Ranges written as lists, budgets in order, and batches no larger than any domain's training split."""
    low, high = cfg["synthetic"]["images_per_camera"]
    if low > high:
        raise ConfigError(f"config key 'synthetic.images_per_camera': [{low}, {high}] is [least, most] images of an "
                          f"identity per camera; the least must not exceed the most")
    for curve, budgets in cfg.get("budget_curves", {}).get("budgets", {}).items():
        if list(budgets) != sorted(budgets):
            raise ConfigError(f"config key 'budget_curves.budgets.{curve}': {budgets} must be in increasing order "
                              f"(the plateau rule reads the curve from the smallest budget up)")
    if not domains:
        return
    smallest = min(domains, key=lambda domain: most_training_images(cfg, domain))
    most = most_training_images(cfg, smallest)
    for key in TRAINING_BATCHES:
        if key in cfg and cfg[key]["batch_size"] > most:
            raise ConfigError(f"config key '{key}.batch_size': {cfg[key]['batch_size']} is larger than the training "
                              f"split of {smallest} (at most {most} images); use at most {most}")


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
