"""Data-parallel training under ``torchrun --nproc_per_node N`` (NCCL on GPUs, Gloo on CPU).

Every process draws the same global batch from the same seeded generators as a one-process run
would, keeps its 1/N slice (:meth:`World.shard`), and :meth:`crgan.train.loop.DeviceReads.optimise`
averages the gradients over the processes before each step (:meth:`World.average_gradients`, the
all-reduce DistributedDataParallel performs), after rank 0's initial weights were broadcast to all.
So N processes make the update one process makes on the global batch, up to the order of float
sums, BatchNorm statistics (computed per process) and random draws whose shape depends on the
slice (Dd's input noise). Only rank 0 writes files; every rank reads the same checkpoint to resume.

Not launched by torchrun (no ``WORLD_SIZE``), everything here is a no-op for one process.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from crgan.errors import ConfigError


@dataclass(frozen=True)
class World:
    """This process's place among ``size`` training processes."""

    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes files and shows progress."""
        return self.rank == 0

    def shard(self, *batches: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """This rank's contiguous 1/size of each global batch (dim 0)."""
        if self.size == 1:
            return batches
        n = len(batches[0])
        if n % self.size:
            raise ConfigError(f"a global batch of {n} does not split over {self.size} processes; "
                              f"use a batch size divisible by the number of processes")
        step = n // self.size
        return tuple(b[self.rank * step:(self.rank + 1) * step] for b in batches)

    def gather(self, batch: torch.Tensor) -> torch.Tensor:
        """The global batch from every rank's slice (rank order), for state that must see the whole
        batch the way one process would (SPGAN's image pools); no gradient flows through it."""
        if self.size == 1:
            return batch
        parts = [torch.empty_like(batch) for _ in range(self.size)]
        dist.all_gather(parts, batch.contiguous())
        return torch.cat(parts)

    def broadcast(self, *modules: nn.Module) -> None:
        """Rank 0's parameters and buffers to every rank (a common start, as DDP does)."""
        if self.size > 1:
            for module in modules:
                for tensor in module.state_dict().values():
                    dist.broadcast(tensor, src=0)

    def average_gradients(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Mean of every gradient over the ranks, in one flat all-reduce."""
        grads = [p.grad for p in params if p.grad is not None]
        if self.size == 1 or not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.size
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def all_true(self, flag: bool, device: torch.device) -> bool:
        """``flag`` on every rank (so all ranks stop together, for example on a diverged loss)."""
        if self.size == 1:
            return flag
        t = torch.tensor([0.0 if flag else 1.0], device=device)
        dist.all_reduce(t)
        return t.item() == 0


_WORLD = World()


def world() -> World:
    """The current process's world (one process unless :func:`init` joined a torchrun group)."""
    return _WORLD


def init(device_name: str) -> torch.device | None:
    """Join the torchrun process group when launched by torchrun; return this rank's device (its
    local GPU under NCCL, the CPU under Gloo), or None for a one-process run."""
    global _WORLD
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return None
    use_cuda = device_name != "cpu" and torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    _WORLD = World(dist.get_rank(), dist.get_world_size())
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def shutdown(wait: bool = True) -> None:
    """Leave the process group; ``wait`` for the other ranks first (not after an error, when they
    may never arrive)."""
    global _WORLD
    if dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()
    _WORLD = World()
