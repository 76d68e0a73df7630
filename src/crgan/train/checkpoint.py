"""Checkpoint files of the training loop: written atomically with the previous one kept, resumed only
when the configuration matches (see :mod:`crgan.train.loop`)."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from crgan import distributed
from crgan.errors import CheckpointError
from crgan.io import atomic_file, write_json
from crgan.models.store import provenance_file

log = logging.getLogger(__name__)


def previous(path: str | Path) -> Path:
    """Where the checkpoint before the latest one is kept (``<ckpt>.prev``)."""
    return Path(f"{path}.prev")


def save_state(path: str | Path, state: dict[str, Any]) -> None:
    """Write a training state atomically, keeping the one before it as ``<path>.prev``, so that a
    checkpoint corrupted after it was written (disk, copy, truncation) still leaves one to resume.
    ``state["provenance"]`` (config hash, commit, versions, device, seed) is also written beside it."""
    if not distributed.world().main:
        return
    path = Path(path)
    write_json(provenance_file(path), {**state["provenance"], "config_hash_of_state": state["config_hash"]})
    with atomic_file(path) as tmp:
        torch.save(state, tmp)
        if path.is_file():
            os.replace(path, previous(path))


def load_state(path: str | Path, config_hash: str) -> dict[str, Any] | None:
    """The latest readable state made by the same configuration, or None to start afresh.

    An unreadable checkpoint falls back to the previous one with a warning; when checkpoints exist
    and none can be read, :class:`CheckpointError` names them (delete them to start over). A state
    made by another configuration is ignored (training starts over).
    """
    candidates = [p for p in (Path(path), previous(path)) if p.is_file()]
    problems = []
    for candidate in candidates:
        try:
            state = torch.load(candidate, map_location="cpu", weights_only=False)
        except Exception as exc:  # torn, truncated or corrupt: try the previous one
            problems.append(f"{candidate}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            log.warning("checkpoint %s is unreadable (%s)", candidate, problems[-1])
            continue
        if state.get("config_hash") != config_hash:
            log.warning("ignoring checkpoint %s: it was made with another configuration", candidate)
            return None
        if problems:
            log.warning("resuming from the previous checkpoint %s", candidate)
        return state
    if problems:
        raise CheckpointError(f"no usable checkpoint to resume from ({'; '.join(problems)}); "
                              f"delete {Path(path)} and {previous(path)} to start over")
    return None
