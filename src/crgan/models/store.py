"""Model files of this workflow: written once, atomically, and read back with a check.

A model file is ``{"kind": "network" | "generator", "meta": <record>, "weights": <state dict>}``
with the record of :mod:`crgan.records` (what the file is, the run that made it, the
architecture that rebuilds it). Every step that reads a model (evaluation, fine-tuning, TAUDL
starts, image quality, SPGAN translation) comes through here, so a missing, unreadable or
wrong-kind file is one named :class:`~crgan.errors.WeightsError` wherever it is read.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from crgan.errors import WeightsError
from crgan.io import atomic_file, write_json
from crgan.methods import METHODS, VARIANTS
from crgan.models.cluster_contrast import ClusterNet
from crgan.models.cyclegan import ResnetGenerator, build_translator
from crgan.models.generator import DualConditionalGenerator, build_generator
from crgan.models.reid import ReIDNet, build_backbone, build_reid
from crgan.models.taudl import TaudlNet
from crgan.records import GeneratorInfo, NetworkInfo, RecordError

#: What each kind of file holds, in words (for errors).
KINDS = {"network": "re-id network", "generator": "generator"}


def provenance_file(path: str | Path) -> Path:
    """Where a model file's or checkpoint's provenance is written beside it (``<path>.provenance.json``)."""
    return Path(f"{path}.provenance.json")


def write_model_file(path: str | Path, info: NetworkInfo | GeneratorInfo, weights: dict[str, Any]) -> None:
    """Write a finished model file atomically, with its provenance beside it."""
    kind = "network" if isinstance(info, NetworkInfo) else "generator"
    write_json(provenance_file(path), info.provenance)
    with atomic_file(path) as tmp:
        torch.save({"kind": kind, "meta": info.to_dict(), "weights": weights}, tmp)


def read_model_file(path: str | Path, kind: str) -> tuple[NetworkInfo | GeneratorInfo, dict[str, Any]]:
    """A model file's record and weights; anything else (missing, unreadable, another kind of
    file, another step's output) is a WeightsError naming the file."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise WeightsError(f"model file {path} does not exist") from None
    except Exception as exc:
        raise WeightsError(f"cannot read model file {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(blob, dict) or blob.get("kind") != kind or "weights" not in blob:
        raise WeightsError(f"{path} is not a {KINDS[kind]} file written by this workflow")
    try:
        info = (NetworkInfo if kind == "network" else GeneratorInfo).from_dict(blob.get("meta"))
    except RecordError as exc:
        raise WeightsError(f"{path} is not a {KINDS[kind]} file written by this version of the workflow ({exc})") \
            from None
    return info, blob["weights"]


def load_weights(module: nn.Module, state: dict[str, Any], path: str | Path, what: str) -> None:
    """``module.load_state_dict(state)``; a mismatch is a WeightsError naming the file."""
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise WeightsError(f"{path} does not fit the {what}: {str(exc).splitlines()[0]}") from None


#: Any re-id network of this workflow (all share ``feature_map`` and ``pooled``).
Network = ReIDNet | TaudlNet | ClusterNet


#: How each kind of network (a method's ``architecture`` in the registry) is rebuilt from its record.
ARCHITECTURES: dict[str, Callable[[NetworkInfo], Network]] = {
    "ide": lambda info: build_reid(info.arch, info.classes, init_weights=False)[0],
    "taudl": lambda info: TaudlNet(build_backbone(info.arch, init_weights=False)[0], info.classes),
    "cluster": lambda info: ClusterNet(build_backbone(info.arch, init_weights=False)[0]),
}


def build_network(info: NetworkInfo) -> Network:
    """The untrained network a record describes, as its method builds it (TAUDL's heads, Cluster
    Contrast's feature BatchNorm or the IDE classifier)."""
    return ARCHITECTURES[METHODS[info.run.method].architecture](info)


def load_network(path: str | Path, device: torch.device) -> tuple[Network, NetworkInfo]:
    """A trained re-id network (in eval mode, on ``device``) and its record."""
    info, weights = read_model_file(path, "network")
    model = build_network(info)
    load_weights(model, weights, path, "re-id network its metadata describes")
    return model.to(device).eval(), info


def _load_generator_of(method: str, path: str | Path, device: torch.device,
                       build: Callable[[GeneratorInfo], nn.Module]) -> tuple[nn.Module, GeneratorInfo]:
    """``method``'s trained generator (eval mode, on ``device``), rebuilt by ``build``, and its record."""
    info, weights = read_model_file(path, "generator")
    name = METHODS[method].label
    if info.run.method != method:
        raise WeightsError(f"{path} is not a {name} generator (it was written by {info.run.method})")
    g = build(info)
    load_weights(g, weights, path, f"{name} generator its metadata describes")
    return g.to(device).eval(), info


def load_generator(path: str | Path, device: torch.device) -> tuple[DualConditionalGenerator, GeneratorInfo]:
    """A trained CR-GAN generator (eval mode, on ``device``) and its record."""
    return _load_generator_of("crgan", path, device,
                              lambda info: build_generator(info.architecture, VARIANTS[info.run.variant].dual))


def load_translator(path: str | Path, device: torch.device) -> tuple[ResnetGenerator, GeneratorInfo]:
    """SPGAN's source -> target generator G (eval mode, on ``device``) and its record."""
    return _load_generator_of("spgan", path, device, lambda info: build_translator(info.architecture))
