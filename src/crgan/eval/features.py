"""Test-time features of a trained re-id network: the global feature and LMP.

The global feature ('gap') is the network's ``pooled`` map: global average pooling for the IDE
networks, TAUDL's embedding of it for TAUDL's; L2-normalised.

LMP (local max pooling, from SPGAN): split the last conv feature map into ``parts`` horizontal
stripes of full width, max-pool each stripe, concatenate the part vectors, L2-normalise the whole.
Training always uses average pooling; LMP is a test-time change only.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from crgan.models.reid import ReIDNet
from crgan.models.taudl import TaudlNet


def lmp(fmap: torch.Tensor, parts: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C * parts): max over each of ``parts`` horizontal stripes, L2-normalised.

    Stripes follow adaptive pooling's boundaries, so H need not be a multiple of ``parts``;
    ``parts`` = 1 is global max pooling.
    """
    if parts > fmap.shape[2]:
        raise ValueError(f"LMP with {parts} stripes needs a feature map at least {parts} rows high, got {fmap.shape[2]}")
    stripes = F.adaptive_max_pool2d(fmap, (parts, 1)).squeeze(3)  # (N, C, P)
    return F.normalize(stripes.transpose(1, 2).flatten(1), dim=1)  # part vectors one after another


@torch.no_grad()
def extract(model: ReIDNet | TaudlNet, loader: DataLoader, parts: int, device: torch.device,
            desc: str = "features") -> dict[str, torch.Tensor]:
    """Features of every image in ``loader`` for both poolings: {'gap': (N, C), 'lmp': (N, C*P)}.

    They stay on ``device``, so that distances and ranking run there too.
    """
    model.eval().to(device)
    out: dict[str, list[torch.Tensor]] = {"gap": [], "lmp": []}
    for images, _, _ in tqdm(loader, desc=desc, mininterval=5, leave=False):
        fmap = model.feature_map(images.to(device)).float()
        out["gap"].append(F.normalize(model.pooled(fmap).float(), dim=1))
        out["lmp"].append(lmp(fmap, parts))
    return {k: torch.cat(v) for k, v in out.items()}
