"""Images of a parsed dataset as tensors: decoded once per process, augmented from an item's own seed."""
from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

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


def split_key(key: Key) -> tuple[int, int | None]:
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
        i, seed = split_key(key)
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
        i, seed = split_key(key)
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


@functools.cache
def _imagenet_statistics(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """ImageNet's mean and std as [1, 3, 1, 1] tensors, made once per device and dtype (a copy to
    the GPU at every call would wait for it)."""
    return tuple(torch.tensor(v, dtype=dtype).view(1, 3, 1, 1).to(device) for v in (IMAGENET_MEAN, IMAGENET_STD))


def to_reid_input(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (the generator's range) -> ImageNet-normalised input of a re-id network."""
    mean, std = _imagenet_statistics(x.device, x.dtype)
    return ((x + 1) / 2 - mean) / std
