"""Resumable training state: written atomically with the previous one kept, resumed only when the
configuration matches."""
from __future__ import annotations

import csv
import logging
import os
import signal
from pathlib import Path
from typing import Any

import torch

from crgan import distributed
from crgan.errors import CheckpointError, DivergenceError, WeightsError
from crgan.io import atomic_file, write_json

log = logging.getLogger(__name__)


def previous(path: str | Path) -> Path:
    """Where the checkpoint before the latest one is kept (``<ckpt>.prev``)."""
    return Path(f"{path}.prev")


def provenance_file(path: str | Path) -> Path:
    """Where a checkpoint's or model file's provenance is written beside it (``<path>.provenance.json``)."""
    return Path(f"{path}.provenance.json")


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


def rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])


def optimise(opt: torch.optim.Optimizer, loss: torch.Tensor, where: str) -> None:
    """One optimiser step on ``loss``, with gradients averaged over the processes of a torchrun
    group; a NaN or inf loss (on any process) stops training with the step named."""
    w = distributed.world()
    if not w.all_true(bool(torch.isfinite(loss)), loss.device):
        raise DivergenceError(f"{where}: loss became {loss.item()}"
                              f"{f' on rank {w.rank} or another' if w.size > 1 else ''}; no result was written "
                              f"(lower the lr or check the inputs, then rerun: it resumes from the last checkpoint)")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    w.average_gradients(p for group in opt.param_groups for p in group["params"])
    opt.step()


def read_model_file(path: str | Path, what: str, needs: tuple[str, ...], method: str | None = None) -> dict[str, Any]:
    """A finished model file of this workflow (``{"meta": ..., <states>}``) holding a ``what``;
    anything else (unreadable, another step's file) is a WeightsError naming the file."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise WeightsError(f"model file {path} does not exist") from None
    except Exception as exc:
        raise WeightsError(f"cannot read model file {path}: {str(exc).splitlines()[0]}") from None
    meta = blob.get("meta") if isinstance(blob, dict) else None
    if not isinstance(meta, dict) or any(k not in meta for k in needs) or (method and meta.get("method") != method):
        raise WeightsError(f"{path} is not a {what} file written by this workflow")
    return blob


def load_weights(module: torch.nn.Module, state: dict[str, Any], path: str | Path, what: str) -> None:
    """``module.load_state_dict(state)``; a mismatch is a WeightsError naming the file."""
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise WeightsError(f"{path} does not fit the {what}: {str(exc).splitlines()[0]}") from None


def finish(out: str | Path, blob: dict[str, Any], rows: list[dict[str, Any]], curve: str | Path) -> None:
    """Write the loss curve (CSV), the provenance and the final file atomically, then drop the resume
    checkpoint. Only rank 0 of a torchrun group writes."""
    if not distributed.world().main:
        return
    with atomic_file(curve) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    write_json(provenance_file(out), blob["meta"]["provenance"])
    with atomic_file(out) as tmp:
        torch.save(blob, tmp)
    for leftover in (Path(f"{out}.ckpt"), previous(f"{out}.ckpt"), provenance_file(f"{out}.ckpt")):
        leftover.unlink(missing_ok=True)


class StopOnSigterm:
    """Turns SIGTERM into a checkpoint-then-exit at the end of the current iteration."""

    def __init__(self):
        self.requested = False
        self._previous = signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, *_):
        self.requested = True

    def restore(self) -> None:
        signal.signal(signal.SIGTERM, self._previous)
