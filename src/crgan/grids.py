"""Sample grids: rows of image batches in [-1, 1] written as one PNG, to see what a GAN learned."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from crgan import distributed
from crgan.io import atomic_file


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (the generators' range) -> uint8 pixel values, same shape."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().byte()


def write_grid(rows: list[torch.Tensor], path: str | Path) -> None:
    """Each row is an (N, 3, H, W) batch in [-1, 1]; all rows have the same N, H and W (written by
    rank 0 only in a torchrun group)."""
    if not distributed.world().main:
        return
    grid = torch.cat([torch.cat(list(r), dim=2) for r in rows], dim=1)  # (3, rows*H, N*W)
    pixels = to_uint8(grid).permute(1, 2, 0).cpu().numpy()
    with atomic_file(path) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG")


def fixed_batch(ds: Dataset, columns: int, dev: torch.device, reverse: bool = False) -> list[torch.Tensor]:
    """``columns`` items spread evenly over ``ds`` (reversed order with ``reverse``), without
    augmentation, collated: the same samples in every grid of a run."""
    idx = np.linspace(0, len(ds) - 1, columns).astype(int)
    ds.train = False
    items = [ds[i] for i in (idx[::-1] if reverse else idx)]
    return [torch.stack([torch.as_tensor(x) for x in field]).to(dev) for field in zip(*items)]
