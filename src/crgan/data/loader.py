"""Images of a parsed dataset as tensors for training and feature extraction."""
from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from enum import IntEnum
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler

from crgan.data.augment import IMAGENET_MEAN, IMAGENET_STD, image_transform, resized_rgb
from crgan.data.datasets import Record

#: Decoded images a dataset keeps per process (:class:`DecodedImages`): the synthetic benchmark fits
#: whole; a real dataset at the paper's 256x128 keeps its first ~4,000 images and decodes the rest.
CACHE_MB = 512


class DecodedImages:
    """Decoded, resized images by dataset index, kept up to ``budget_mb`` in this process.

    Training draws each image many times; decoding it at every draw cost 10-35 % of a training step
    on a CPU. Items past the budget are decoded at every draw. Values are never handed out to be
    changed: callers build new tensors or images from them. Items are the same, bit for bit, as
    decoding each time (tests/test_loader.py).
    """

    def __init__(self, budget_mb: float = CACHE_MB) -> None:
        self.budget, self.used = int(budget_mb * 2 ** 20), 0
        self.items: dict[int, Any] = {}

    def get(self, index: int, decode: Callable[[], tuple[Any, int]]) -> Any:
        """Item ``index``, from ``decode()`` (its value and size in bytes) the first time."""
        if index in self.items:
            return self.items[index]
        value, size = decode()
        if self.used + size <= self.budget:
            self.items[index], self.used = value, self.used + size
        return value


#: A dataset item: its index, or (index, seed of its random augmentation) as the step loaders draw them.
Key = int | tuple[int, int]


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Run the block's torch CPU random draws from ``seed`` (None: the process's own stream), leaving
    the global generator as it was: an item's augmentation is then the same in any worker process.
    (Only the CPU generator: :func:`torch.manual_seed` and fork_rng cost more than the augmentation.)"""
    if seed is None:
        yield
        return
    generator = torch.default_generator
    state = generator.get_state()
    generator.manual_seed(seed)
    try:
        yield
    finally:
        generator.set_state(state)


def _split_key(key: Key) -> tuple[int, int | None]:
    return key if isinstance(key, tuple) else (key, None)


def identity_labels(records: Sequence[Record]) -> dict[int, int]:
    """pid -> class index 0..C-1 in sorted pid order: the one mapping every trainer shares, so a
    re-id network's classes and the labels CR-GAN's Lid uses always agree."""
    return {p: i for i, p in enumerate(sorted({r.pid for r in records}))}


class ReidImages(Dataset):
    """(image, label, camera) triples; labels are ``pid`` relabelled to 0..C-1 when ``relabel``."""

    def __init__(self, root: str | Path, records: Sequence[Record], height: int, width: int,
                 train: bool = False, relabel: bool = False, erasing: float = 0.0):
        self.root = Path(root)
        self.records = list(records)
        self.size = (height, width)
        self.transform = image_transform(height, width, train, erasing)
        self.plain_transform = image_transform(height, width, False)
        self.decoded = DecodedImages()
        self.label_of = identity_labels(self.records) if relabel else {r.pid: r.pid for r in self.records}

    @property
    def num_classes(self) -> int:
        return len(self.label_of)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: Key) -> tuple[torch.Tensor, int, int]:
        i, seed = _split_key(key)
        rec = self.records[i]
        with seeded(seed):
            img = self.transform(self.resized(i))
        return img, self.label_of[rec.pid], rec.camid

    def resized(self, i: int) -> Image.Image:
        """Image ``i`` decoded and resized, kept for its next draw."""
        return self.decoded.get(i, lambda: resized_rgb(self.root / self.records[i].path, *self.size))

    def image(self, i: int) -> torch.Tensor:
        """Image ``i`` without augmentation (resized and normalised only)."""
        return self.plain_transform(self.resized(i))


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


class MaskedImages(Dataset):
    """(image in [-1, 1], person mask in {0, 1}, label, camera) for GAN training.

    The mask comes from the ``masks`` rule's output tree; flips apply to image and mask together.
    Without ``mask_root`` (GANs that need no masks, such as SPGAN) the mask is all ones.
    """

    def __init__(self, root: str | Path, mask_root: str | Path | None, records: Sequence[Record], height: int, width: int,
                 train: bool = True):
        self.root, self.mask_root = Path(root), None if mask_root is None else Path(mask_root)
        self.records = list(records)
        self.size, self.train = (height, width), train
        self.label_of = identity_labels(self.records)
        self.decoded = DecodedImages()

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: Key) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        i, seed = _split_key(key)
        rec = self.records[i]
        pixels, person = self.decoded.get(i, lambda: self.decode(rec))
        img = pixels.float().div(255) * 2 - 1  # as to_tensor: uint8 / 255
        mask = person.float()
        with seeded(seed):
            flip = self.train and bool(torch.rand(()) < 0.5)
        if flip:
            img, mask = img.flip(-1), mask.flip(-1)
        return img, mask, self.label_of[rec.pid], rec.camid

    def decode(self, rec: Record) -> tuple[tuple[torch.Tensor, torch.Tensor], int]:
        """(image as uint8 C x H x W, person mask as bool 1 x H x W) of ``rec``, and their size in bytes."""
        h, w = self.size
        with Image.open(self.root / rec.path) as im:
            pixels = torch.from_numpy(np.array(im.convert("RGB").resize((w, h), Image.BILINEAR))).permute(2, 0, 1)
        if self.mask_root is None:
            person = torch.ones(1, h, w, dtype=torch.bool)
        else:
            with Image.open(self.mask_root / Path(rec.path).with_suffix(".png")) as m:
                person = torch.from_numpy(np.array(m.convert("L").resize((w, h), Image.NEAREST))).div(255)[None] > 0.5
        return (pixels, person), 4 * h * w


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
        return (*self.ds[key], _split_key(key)[0])


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


@functools.cache
def _imagenet_statistics(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """ImageNet's mean and std as [1, 3, 1, 1] tensors, made once per device and dtype (a copy to
    the GPU at every call would wait for it)."""
    return tuple(torch.tensor(v, dtype=dtype).view(1, 3, 1, 1).to(device) for v in (IMAGENET_MEAN, IMAGENET_STD))


def to_reid_input(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (the generator's range) -> ImageNet-normalised input of a re-id network."""
    mean, std = _imagenet_statistics(x.device, x.dtype)
    return ((x + 1) / 2 - mean) / std


def to_device(values: Sequence[int] | np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host numbers (indices, labels) as a tensor on ``device``; to a GPU through pinned memory
    without waiting (a copy from pageable memory synchronises the stream first)."""
    t = torch.as_tensor(values)
    if device.type != "cuda":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)
