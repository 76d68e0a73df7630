"""Resumable training state: written atomically, resumed only when the configuration matches."""
from __future__ import annotations

import csv
import logging
import signal
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


def optimise(opt: torch.optim.Optimizer, loss: torch.Tensor, where: str) -> None:
    """One optimiser step on ``loss``; a NaN or inf loss stops training with the step named."""
    if not torch.isfinite(loss):
        raise FloatingPointError(f"{where}: loss became {loss.item()}")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def finish(out: str | Path, blob: dict[str, Any], rows: list[dict[str, Any]], curve: str | Path) -> None:
    """Write the loss curve (CSV) and the final file atomically, then drop the resume checkpoint."""
    with atomic_file(curve) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    with atomic_file(out) as tmp:
        torch.save(blob, tmp)
    Path(f"{out}.ckpt").unlink(missing_ok=True)


class StopOnSigterm:
    """Turns SIGTERM into a checkpoint-then-exit at the end of the current iteration."""

    def __init__(self):
        self.requested = False
        self._previous = signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, *_):
        self.requested = True

    def restore(self) -> None:
        signal.signal(signal.SIGTERM, self._previous)
