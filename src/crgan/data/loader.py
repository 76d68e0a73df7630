"""Images of a parsed dataset as tensors for training and feature extraction."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, default_collate
from torchvision import transforms as T

from crgan.data.datasets import Record

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def image_transform(height: int, width: int, train: bool) -> T.Compose:
    """Resize and normalise; training adds the standard re-id flip and pad-crop."""
    steps: list = [T.Resize((height, width), interpolation=T.InterpolationMode.BILINEAR)]
    if train:
        pad = max(1, width // 8)
        steps += [T.RandomHorizontalFlip(), T.Pad(pad, padding_mode="edge"), T.RandomCrop((height, width))]
    steps += [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    return T.Compose(steps)


def identity_labels(records: Sequence[Record]) -> dict[int, int]:
    """pid -> class index 0..C-1 in sorted pid order: the one mapping every trainer shares, so a
    re-id network's classes and the labels CR-GAN's Lid uses always agree."""
    return {p: i for i, p in enumerate(sorted({r.pid for r in records}))}


class ReidImages(Dataset):
    """(image, label, camera) triples; labels are ``pid`` relabelled to 0..C-1 when ``relabel``."""

    def __init__(self, root: str | Path, records: Sequence[Record], height: int, width: int,
                 train: bool = False, relabel: bool = False):
        self.root = Path(root)
        self.records = list(records)
        self.transform = image_transform(height, width, train)
        self.plain_transform = image_transform(height, width, False)
        self.label_of = identity_labels(self.records) if relabel else {r.pid: r.pid for r in self.records}

    @property
    def num_classes(self) -> int:
        return len(self.label_of)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        rec = self.records[i]
        with Image.open(self.root / rec.path) as im:
            img = self.transform(im.convert("RGB"))
        return img, self.label_of[rec.pid], rec.camid

    def image(self, i: int) -> torch.Tensor:
        """Image ``i`` without augmentation (resized and normalised only)."""
        with Image.open(self.root / self.records[i].path) as im:
            return self.plain_transform(im.convert("RGB"))


def make_loader(ds: Dataset, batch_size: int, train: bool, workers: int, seed: int = 0) -> DataLoader:
    """Shuffled, last-batch-dropping loader for training; ordered loader for evaluation."""
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=batch_size, shuffle=train, drop_last=train and len(ds) > batch_size,
                      num_workers=workers, generator=gen, persistent_workers=False)


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

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        rec = self.records[i]
        h, w = self.size
        with Image.open(self.root / rec.path) as im:
            img = T.functional.to_tensor(im.convert("RGB").resize((w, h), Image.BILINEAR)) * 2 - 1
        if self.mask_root is None:
            mask = torch.ones(1, h, w)
        else:
            with Image.open(self.mask_root / Path(rec.path).with_suffix(".png")) as m:
                mask = (T.functional.to_tensor(m.convert("L").resize((w, h), Image.NEAREST)) > 0.5).float()
        if self.train and torch.rand(()) < 0.5:
            img, mask = img.flip(-1), mask.flip(-1)
        return img, mask, self.label_of[rec.pid], rec.camid


def random_batch(ds: Dataset, batch_size: int, gen: torch.Generator) -> list[torch.Tensor]:
    """A batch of random items (with replacement): the paper's random (XS, XT) pairs.

    Drawing by index from a dedicated generator makes the stream resumable from that
    generator's state alone (an epoch-based loader would restart its permutation).
    """
    idx = torch.randint(len(ds), (batch_size,), generator=gen).tolist()
    return default_collate([ds[i] for i in idx])


def to_reid_input(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (the generator's range) -> ImageNet-normalised input of a re-id network."""
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((x + 1) / 2 - mean) / std
