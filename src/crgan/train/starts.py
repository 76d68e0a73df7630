"""Where a method that adapts on the unlabelled target starts (TAUDL, Cluster Contrast): one helper
and one spelling for every such method.

A start is the network of another method's run (``--init FILE``: its backbone, and the network itself
for methods that keep more of it), the plain backbone as configured (no ``--init``), or the untrained
floor (``--untrained``: the plain network written as initialised, no training). Which starts a method
accepts is its ``starts`` in the method registry (:mod:`crgan.methods`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from crgan.errors import ConfigError, WeightsError
from crgan.methods import METHODS
from crgan.models.reid import ReIDNet, build_backbone
from crgan.models.store import load_network
from crgan.runs import Run


@dataclass(frozen=True)
class Beginning:
    """Where a run of ``method`` begins: the backbone, the network it belongs to (None for a plain or
    untrained start), the re-id config that rebuilds it, the run that trained it (None likewise), its
    backbone's initialisation before any training (``scratch`` or ``imagenet:<file>``) and the start's
    key in the method's ``starts``."""

    method: str
    backbone: nn.Module
    network: ReIDNet | None
    arch: dict[str, Any]
    start_run: Run | None
    init: str
    start: str

    def run(self, target: str, seed: int) -> Run:
        """The run this beginning makes on ``target``."""
        source = self.start_run.source if self.start_run is not None else None
        return Run.started(self.method, target, self.start, source, seed)

    @property
    def untrained(self) -> bool:
        return self.start == "untrained"


def begin(method: str, cfg: dict[str, Any], init_model: Path | None = None, untrained: bool = False) -> Beginning:
    """Where a run of ``method`` starts: ``init_model``'s network, else the untrained floor when
    ``untrained``, else the plain backbone of ``cfg['reid']``; a start the method does not accept is
    an error naming what it accepts."""
    spec = METHODS[method]
    networks = spec.network_starts
    if init_model is not None and untrained:
        raise ConfigError("the untrained floor is the network as initialised: give --untrained or --init, not both")
    if init_model is None:
        start = "untrained" if untrained else "plain"
        if start not in spec.starts:
            raise ConfigError(f"{spec.label} has no {start} start: give --init with the network of a "
                              f"{' or '.join(networks)} run" + (" or --untrained" if "untrained" in spec.starts else ""))
        backbone, init = build_backbone(cfg["reid"])
        return Beginning(method, backbone, None, cfg["reid"], None, init, start)
    network, info = load_network(init_model, torch.device("cpu"))
    if info.run.method not in networks or not isinstance(network, ReIDNet):
        raise WeightsError(f"{init_model} is a {info.run.method} network; {spec.label} starts from the network "
                           f"of a {' or '.join(networks)} run")
    return Beginning(method, network.backbone, network, info.arch, info.run, info.init, networks[info.run.method])
