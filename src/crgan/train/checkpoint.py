"""Resumable training state: written atomically, resumed only when the configuration matches."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from crgan.io import atomic_file

log = logging.getLogger(__name__)


def save_state(path: str | Path, state: dict[str, Any]) -> None:
    """Write a training state (write to a temporary file, then rename)."""
    with atomic_file(path) as tmp:
        torch.save(state, tmp)


def load_state(path: str | Path, config_hash: str) -> dict[str, Any] | None:
    """The saved state if it exists, is readable and was made by the same configuration."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a torn or corrupt file: start over rather than crash
        log.warning("ignoring unreadable checkpoint %s: %s", path, exc)
        return None
    if state.get("config_hash") != config_hash:
        log.warning("ignoring checkpoint %s: it was made with another configuration", path)
        return None
    return state


def rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
