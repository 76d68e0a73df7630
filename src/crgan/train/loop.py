"""One resumable training loop that every trainer supplies a step to.

The loop owns what every trainer needs the same way: the named state to checkpoint (networks,
optimisers, lr schedulers, random generators, image pools, plain values), resuming from the
last checkpoint made by the same configuration, the lr schedule, the training log's rows, the
checkpoint cadence, a checkpoint on SIGTERM, rank 0's weights broadcast to the other processes
of a torchrun group, each step's precision (config key ``precision``, or the trainer section's own:
:func:`crgan.runtime.autocast_dtype`), and the finished model file.

Steps do not wait for the device: :meth:`TrainingLoop.optimise` queues each loss's finiteness
check and a step logs device numbers as :class:`Logged` values; the loop reads both in one
transfer every ``SYNC_EVERY`` steps, before each checkpoint and at the end (a NaN loss then
stops training at that point, naming the first step it appeared in, and no checkpoint holds
weights it touched). On a CPU this changes nothing but when a divergence is reported.

A trainer builds its networks, registers them with :meth:`TrainingLoop.track`, and calls
:meth:`TrainingLoop.run` with ``step(i) -> row``.
A resumed run ends with the same weights as an uninterrupted one on CPU: a step's batch depends on
its step number alone (crgan.data.draws.StepBatches), and every other random stream a step draws
from is tracked (the global torch generator always is).
"""
from __future__ import annotations

import contextlib
import logging
import math
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from crgan import distributed, runtime
from crgan.config import config_hash
from crgan.errors import DivergenceError, TrainingInterrupted
from crgan.io import remove_stale_temporaries, write_csv
from crgan.models.store import provenance_file, write_model_file
from crgan.records import GeneratorInfo, NetworkInfo
from crgan.train.checkpoint import load_state, previous, save_state

log = logging.getLogger(__name__)

#: Bumped when the checkpoint layout changes, so older checkpoints are ignored (training starts over).
CHECKPOINT_FORMAT = 3
#: Steps between the loop's reads of the device (losses to log, finiteness of the optimised losses).
SYNC_EVERY = 25


def _diverged(where: str, value: float) -> DivergenceError:
    w = distributed.world()
    return DivergenceError(f"{where}: loss became {value}{f' on rank {w.rank} or another' if w.size > 1 else ''}; "
                           f"no result was written (lower the lr or check the inputs, then rerun: it resumes from "
                           f"the last checkpoint)")


def _step(opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    distributed.world().average_gradients(p for group in opt.param_groups for p in group["params"])
    opt.step()


class Logged:
    """A number a step logs, still on the device: the loop reads it, rounded to ``digits``, at its next sync."""

    __slots__ = ("value", "digits")

    def __init__(self, value: torch.Tensor, digits: int = 5) -> None:
        self.value, self.digits = value.detach(), digits


class DeviceReads:
    """The device numbers steps left for later: losses to check for finiteness (with where they
    were optimised) and :class:`Logged` row values, read in one transfer by :meth:`settle`."""

    def __init__(self) -> None:
        self.checks: list[tuple[torch.Tensor, str]] = []

    def optimise(self, opt: torch.optim.Optimizer, loss: torch.Tensor, where: str) -> None:
        """One optimiser step on ``loss``, with gradients averaged over the processes of a torchrun
        group; whether ``loss`` was finite is read at the next :meth:`settle` (named by ``where``)."""
        self.checks.append((loss.detach(), where))
        _step(opt, loss)

    def settle(self, rows: list[dict[str, Any]] = (), values: list[torch.Tensor] = ()) -> list[float]:
        """Raise DivergenceError for the first non-finite checked loss (on any process), else
        replace every :class:`Logged` value in ``rows`` by its rounded number and return the numbers
        of ``values`` (one-element tensors), all read in the same transfer."""
        logged = [(row, key) for row in rows for key, v in row.items() if isinstance(v, Logged)]
        tensors = [loss for loss, _ in self.checks] + [row[key].value for row, key in logged] + list(values)
        if not tensors:
            return []
        numbers = torch.stack([t.reshape(()).double() for t in tensors]).tolist()
        checked, self.checks = self.checks, []
        finite = [math.isfinite(x) for x in numbers[:len(checked)]]
        if not distributed.world().all_true(all(finite), tensors[0].device):
            first = finite.index(False) if not all(finite) else 0
            raise _diverged(checked[first][1], numbers[first])
        numbers = numbers[len(checked):]
        for (row, key), number in zip(logged, numbers):
            row[key] = round(number, row[key].digits)
        return numbers[len(logged):]


@contextlib.contextmanager
def frozen(*nets: nn.Module) -> Iterator[None]:
    """The block's forward and backward passes take no gradient of ``nets``' weights (a generator's
    step through its discriminators): the same update of the others, without work the next
    discriminator step would throw away. Frozen before the forward pass, as autograd decides there."""
    for net in nets:
        net.requires_grad_(False)
    try:
        yield
    finally:
        for net in nets:
            net.requires_grad_(True)


class StopOnSigterm:
    """Turns SIGTERM into a checkpoint-then-stop at the end of the current step."""

    def __init__(self):
        self.requested = False
        self._previous = signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, *_):
        self.requested = True

    def restore(self) -> None:
        signal.signal(signal.SIGTERM, self._previous)


def _state_of(obj: Any) -> Any:
    return obj.get_state() if isinstance(obj, torch.Generator) else obj.state_dict()


def _restore(obj: Any, state: Any) -> None:
    if isinstance(obj, torch.Generator):
        obj.set_state(state)
    else:
        obj.load_state_dict(state)


def checkpoint_file(out: str | Path) -> Path:
    """Where the training run writing ``out`` keeps its resume checkpoint."""
    return Path(f"{out}.ckpt")


class TrainingLoop:
    """The resumable loop of one training run writing ``out``.

    ``identity`` is everything that determines the result besides the seed (config sections,
    domains, variant); a checkpoint made with another identity is ignored. ``total`` steps of
    ``unit`` (iterations or epochs) run, with a checkpoint every ``checkpoint_every`` of them.
    ``section`` is the trainer's config section (its ``precision`` key may override the run-wide one).
    """

    def __init__(self, out: str | Path, what: str, identity: dict[str, Any], cfg: dict[str, Any], seed: int,
                 device: torch.device, total: int, checkpoint_every: int = 1, unit: str = "iteration",
                 section: str | None = None):
        self.out, self.what, self.unit = Path(out), what, unit
        self.total, self.checkpoint_every = total, checkpoint_every
        self.checkpoint_path = checkpoint_file(out)
        self.dtype, self.device = runtime.autocast_dtype(cfg, device, section), device
        self.config_hash = config_hash({**identity, "seed": seed, "checkpoint_format": CHECKPOINT_FORMAT,
                                        **({"dtype": str(self.dtype)} if self.dtype else {})})
        self.provenance = runtime.provenance(cfg, seed, device, section)  # in every checkpoint and the final file
        self.rows: list[dict[str, Any]] = []
        self.reads, self._read_rows = DeviceReads(), 0
        self.tracked: dict[str, Any] = {}
        self._state = load_state(self.checkpoint_path, self.config_hash)
        #: Plain values kept across a resume (set before :meth:`run`, for example a pre-training result).
        self.values: dict[str, Any] = dict(self._state["values"]) if self._state else {}

    @property
    def resuming(self) -> bool:
        """Whether a checkpoint of this run was found (its state is restored by :meth:`run`)."""
        return self._state is not None

    def track(self, **objects: Any) -> None:
        """Register state to checkpoint by name: modules, optimisers, schedulers, ``torch.Generator``s
        or anything with ``state_dict``/``load_state_dict``."""
        self.tracked.update(objects)

    def optimise(self, opt: torch.optim.Optimizer, loss: torch.Tensor, where: str) -> None:
        """One optimiser step on ``loss`` whose finiteness is read at the loop's next sync."""
        self.reads.optimise(opt, loss, where)

    def settle(self, values: list[torch.Tensor] = ()) -> list[float]:
        """Read what the steps left on the device, and ``values`` with it (see :class:`DeviceReads`)."""
        numbers = self.reads.settle(self.rows[self._read_rows:], values)
        self._read_rows = len(self.rows)
        return numbers

    @property
    def modules(self) -> list[nn.Module]:
        return [obj for obj in self.tracked.values() if isinstance(obj, nn.Module)]

    def checkpoint(self, position: int) -> None:
        save_state(self.checkpoint_path, {
            "config_hash": self.config_hash, "provenance": self.provenance, "position": position,
            "rows": self.rows, "values": self.values, "rng": torch.get_rng_state(),
            "objects": {name: _state_of(obj) for name, obj in self.tracked.items()}})

    def _resume(self) -> int:
        state = self._state
        missing = sorted(set(self.tracked) - set(state["objects"]))
        if missing:
            raise TrainingInterrupted(f"checkpoint {self.checkpoint_path} lacks {missing}; delete it to start over")
        for name, obj in self.tracked.items():
            _restore(obj, state["objects"][name])
        torch.set_rng_state(state["rng"])
        self.rows = list(state["rows"])
        self._read_rows = len(self.rows)
        log.info("resuming %s from %s %d", self.out, self.unit, state["position"])
        return state["position"]

    def run(self, step: Callable[[int], dict[str, Any]],
            lr_at: Callable[[int], float] | None = None) -> list[dict[str, Any]]:
        """``step(i)`` for i = first unfinished .. total - 1, each returning its log row; with
        ``lr_at``, every tracked optimiser's lr is set to ``lr_at(i)`` before step i."""
        start = self._resume() if self._state is not None else 0
        world = distributed.world()
        world.broadcast(*self.modules)
        optimisers = [obj for obj in self.tracked.values() if isinstance(obj, torch.optim.Optimizer)]
        stop = StopOnSigterm()
        try:
            for i in tqdm(range(start, self.total), desc=self.what, initial=start, total=self.total, unit=self.unit,
                          mininterval=5, disable=not world.main):
                if lr_at is not None:
                    lr = lr_at(i)
                    for opt in optimisers:
                        for group in opt.param_groups:
                            group["lr"] = lr
                with runtime.training_autocast(self.dtype, self.device):
                    self.rows.append(step(i))
                checkpoint = (i + 1) % self.checkpoint_every == 0 or stop.requested
                if checkpoint or (i + 1) % SYNC_EVERY == 0 or i + 1 == self.total:
                    self.settle()
                if checkpoint:
                    self.checkpoint(i + 1)
                if stop.requested:
                    raise TrainingInterrupted(f"SIGTERM: checkpoint written at {self.unit} {i + 1} of {self.what}; "
                                              f"rerun to resume")
        finally:
            stop.restore()
        return self.rows

    def finish(self, info: NetworkInfo | GeneratorInfo, weights: dict[str, Any], curve: str | Path) -> None:
        """Write the training log (CSV), the model file with its provenance, then drop the resume
        checkpoint and what killed attempts half-wrote. Only rank 0 of a torchrun group writes."""
        if not distributed.world().main:
            return
        write_csv(curve, list(self.rows[0]) if self.rows else [self.unit], self.rows)
        write_model_file(self.out, info, weights)
        for leftover in (self.checkpoint_path, previous(self.checkpoint_path), provenance_file(self.checkpoint_path)):
            leftover.unlink(missing_ok=True)
        remove_stale_temporaries(self.out)  # a killed earlier attempt's half-written checkpoint or model
