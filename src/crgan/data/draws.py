"""Which dataset items each training step or epoch loads, from which random stream, and the loaders
that bring them: batch i depends on (seed, stream, i) alone, in any process and after a resume."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from enum import IntEnum

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from crgan.data.images import Key, split_key


class EpochOrder(Sampler):
    """Epoch ``epoch``'s items (call :meth:`set_epoch` first) in a shuffled order, each with the seed
    of its augmentation, both drawn from (seed, stream, epoch) alone: an epoch is the same in any
    worker process, after a resume and with any number of workers, so the workers can persist."""

    def __init__(self, size: int, seed: int, stream: int) -> None:
        self.size, self.seed, self.stream, self.epoch = size, seed, stream, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        gen = step_generator(self.seed, self.stream, self.epoch)
        order = torch.randperm(self.size, generator=gen).tolist()
        yield from zip(order, torch.randint(2 ** 31, (self.size,), generator=gen).tolist())

    def __len__(self) -> int:
        return self.size


def make_loader(ds: Dataset, batch_size: int, train: bool, workers: int, seed: int = 0, pin: bool = False
                ) -> DataLoader:
    """Shuffled, last-batch-dropping loader for training; ordered loader for evaluation.

    With worker processes the workers persist from one pass to the next (each keeps the images it
    decoded: :class:`DecodedImages`), and a training loader draws each epoch by :class:`EpochOrder`
    (a trainer calls :func:`epoch_of`). In this process (``workers`` 0, the CPU default) a training
    loader shuffles with its tracked generator and augments from the global stream, as it always has.
    """
    gen = torch.Generator().manual_seed(seed)
    drop_last = train and len(ds) > batch_size
    if train and workers > 0:
        return DataLoader(ds, batch_size=batch_size, sampler=EpochOrder(len(ds), seed, Stream.REID),
                          drop_last=drop_last, num_workers=workers, generator=gen, persistent_workers=True,
                          pin_memory=pin)
    return DataLoader(ds, batch_size=batch_size, shuffle=train, drop_last=drop_last, num_workers=workers,
                      generator=gen, persistent_workers=workers > 0, pin_memory=pin)


def epoch_of(loader: DataLoader, epoch: int) -> DataLoader:
    """``loader`` set to draw epoch ``epoch`` (when it draws by :class:`EpochOrder`)."""
    if isinstance(loader.sampler, EpochOrder):
        loader.sampler.set_epoch(epoch)
    return loader


class Stream(IntEnum):
    """The random stream of each trainer's batches, named in one place so that no two draw alike
    (:func:`step_generator`)."""

    CRGAN_SOURCE = 0
    CRGAN_TARGET = 1
    CAMERA_DISCRIMINATOR = 2
    FINETUNE_SOURCE = 10
    FINETUNE_TARGET = 11
    SPGAN_SOURCE = 20
    SPGAN_TARGET = 21
    TAUDL = 30
    CLUSTER_CONTRAST = 40
    REID = 50


def step_generator(seed: int, stream: int, step: int, *purpose: int) -> torch.Generator:
    """The random draws of one training step: a generator seeded by (seed, stream, step[, purpose]) alone."""
    entropy = [int(seed), int(stream), int(step), *map(int, purpose)]
    return torch.Generator().manual_seed(int(np.random.SeedSequence(entropy).generate_state(1)[0]))


#: Which dataset items a step loads, drawn from that step's generator.
Draw = Callable[[torch.Generator], list[int]]


def uniform_draw(size: int, batch_size: int) -> Draw:
    """``batch_size`` random items of ``size`` with replacement: the paper's random (XS, XT) pairs."""
    return lambda gen: torch.randint(size, (batch_size,), generator=gen).tolist()


def uniform_batches(ds: Dataset, batch_size: int, seed: int, stream: int, data_cfg: dict, device: torch.device,
                    streams: int = 1) -> StepBatches:
    """:class:`StepBatches` of uniform draws with replacement; ``data.workers`` is shared among the
    ``streams`` loaders a trainer runs side by side."""
    return StepBatches(ds, uniform_draw(len(ds), batch_size), seed, stream, -(-data_cfg["workers"] // streams), device)


def pair_batches(source: Dataset, target: Dataset, batch_size: int, seed: int, streams: tuple[int, int],
                 data_cfg: dict, device: torch.device) -> tuple[StepBatches, StepBatches]:
    """The random (source, target) batches of a GAN or fine-tuning step, one stream each, sharing
    ``data.workers`` between them."""
    return (uniform_batches(source, batch_size, seed, streams[0], data_cfg, device, 2),
            uniform_batches(target, batch_size, seed, streams[1], data_cfg, device, 2))


class StepSampler(Sampler):
    """The keys of steps ``start``, ``start + 1``, ...: each item is (index, augmentation seed), both
    drawn from :func:`step_generator`, so batch i is the same whichever process loads it."""

    def __init__(self, draw: Draw, seed: int, stream: int, start: int) -> None:
        self.draw, self.seed, self.stream, self.start = draw, seed, stream, start

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = self.start
        while True:
            gen = step_generator(self.seed, self.stream, step)
            indices = self.draw(gen)
            yield list(zip(indices, torch.randint(2 ** 31, (len(indices),), generator=gen).tolist()))
            step += 1


class Batch(list):
    """One step's batch: the dataset's collated fields (images, masks, labels, ...) as a list, and
    ``drawn``, the dataset indices the step's draw picked, in batch order (what a trainer needs to know
    which tracklets or clusters it holds, without drawing again)."""

    def __init__(self, fields: list[torch.Tensor], drawn: list[int]) -> None:
        super().__init__(fields)
        self.drawn = drawn


class _Drawn(Dataset):
    """A dataset whose items also carry their index (so a batch comes back with its draw)."""

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, key: Key) -> tuple:
        return (*self.ds[key], split_key(key)[0])


class StepBatches:
    """Batch number ``step`` of a training run, decoded and augmented by ``workers`` DataLoader
    processes ahead of the step that uses it (pinned for CUDA; ``workers`` 0 loads in this process),
    as a :class:`Batch` that carries the indices drawn.

    A batch depends on (seed, stream, step) only: a resumed run, or one with another number of
    workers, sees the same batches. Steps are asked for in order; asking for another step (a
    resume), or a new draw (:meth:`redraw`, Cluster Contrast's clusters of each epoch), restarts the
    loader there, with the same worker processes (they persist, with the images they decoded).
    """

    def __init__(self, ds: Dataset, draw: Draw, seed: int, stream: int, workers: int, device: torch.device) -> None:
        self.sampler = StepSampler(draw, seed, stream, 0)
        # its own generator: starting the loader (worker seeds) must not draw from the global stream
        self.loader = DataLoader(_Drawn(ds), batch_sampler=self.sampler, num_workers=workers,
                                 pin_memory=device.type == "cuda", persistent_workers=workers > 0,
                                 generator=step_generator(seed, stream, 0, 1))
        self._batches: Iterator[list[torch.Tensor]] | None = None
        self._next = -1

    def redraw(self, draw: Draw) -> None:
        """Draw the coming steps' items with ``draw``."""
        self.sampler.draw, self._batches = draw, None

    def __call__(self, step: int) -> Batch:
        if self._batches is None or step != self._next:
            self.sampler.start = step
            self._batches = iter(self.loader)
        self._next = step + 1
        *fields, drawn = next(self._batches)
        return Batch(fields, drawn.tolist())


def to_device(values: Sequence[int] | np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host numbers (indices, labels) as a tensor on ``device``; to a GPU through pinned memory
    without waiting (a copy from pageable memory synchronises the stream first)."""
    t = torch.as_tensor(values)
    if device.type != "cuda":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)
