"""Feature networks of the image-quality metrics (Section 4.1 of the paper).

LPIPS uses ImageNet AlexNet with the linear heads the lpips package ships; FID uses pytorch-fid's
Inception. Both backbones are weight downloads, so they are looked for in a configured file, then
in the torch hub cache, and never fetched. Without them the metrics run on a *named substitute*:
the layers (LPIPS, unweighted) and pooled feature (FID/KID) of a re-id network trained in this
workflow. A substitute's metric carries ``_substitute`` in its name, so it is never mistaken for
the paper's metric.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from unittest import mock

import torch
from torch import nn

from crgan.data.loader import to_reid_input
from crgan.errors import WeightsError
from crgan.models.reid import find_weights, load_state_dict_checked

#: File names in the torch hub cache (torchvision's AlexNet, pytorch-fid's FID Inception).
ALEXNET_FILES = ["alexnet-owt-7be5be79.pth"]
INCEPTION_FILES = ["pt_inception-2015-12-05-6726825d.pth"]
#: torchvision ``alexnet.features`` index -> lpips ``net.slice<S>`` (slices [0:2] [2:5] [5:8] [8:10] [10:12]).
ALEXNET_SLICES = {k: s for s, ks in enumerate([range(0, 2), range(2, 5), range(5, 8), range(8, 10), range(10, 12)], 1)
                  for k in ks}


@dataclass
class LpipsNet:
    """LPIPS features: per-layer maps of images in [-1, 1], and per-layer channel weights
    (``None`` = all ones, the unweighted variant)."""

    metric: str
    backbone: str
    layers: Callable[[torch.Tensor], list[torch.Tensor]]
    weights: list[torch.Tensor | None]


@dataclass
class FidNet:
    """FID/KID features: one vector per image in [-1, 1]."""

    metric: str
    backbone: str
    features: Callable[[torch.Tensor], torch.Tensor]


def _frozen(module: nn.Module, dev: torch.device) -> nn.Module:
    module.to(dev).eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def imagenet_lpips(path: Path, dev: torch.device) -> LpipsNet:
    """LPIPS v0.1 (AlexNet): lpips' own linear heads, the AlexNet features loaded from ``path``."""
    import lpips
    from torchvision.models import alexnet

    with warnings.catch_warnings():  # lpips still passes torchvision's deprecated `pretrained=False`
        warnings.simplefilter("ignore", UserWarning)
        lp = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)
    tv = alexnet(weights=None)
    load_state_dict_checked(tv, path, "torchvision AlexNet")
    state = {f"slice{ALEXNET_SLICES[int(k.split('.')[0])]}.{k}": v for k, v in tv.features.state_dict().items()}
    lp.net.load_state_dict(state)
    lp = _frozen(lp, dev)
    return LpipsNet("lpips", "imagenet-alexnet", lambda x: list(lp.net(lp.scaling_layer(x))),
                    [lin.model[-1].weight.view(-1) for lin in lp.lins])


def imagenet_inception(path: Path, dev: torch.device) -> FidNet:
    """pytorch-fid's InceptionV3 (2048-d pool features) with its weights read from ``path``."""
    from pytorch_fid import inception as fid_inception

    def read(*_args, **_kwargs):
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise WeightsError(f"cannot read weights file {path}: {exc}") from None

    try:  # pytorch-fid takes no local path: answer its one download call with the file instead
        with mock.patch.object(fid_inception, "load_state_dict_from_url", read):
            net = fid_inception.InceptionV3([fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
    except RuntimeError as exc:
        raise WeightsError(f"weights file {path} does not fit pytorch-fid's Inception: "
                           f"{str(exc).splitlines()[0]}") from None
    net = _frozen(net, dev)
    return FidNet("fid", "imagenet-inception", lambda x: net((x + 1) / 2)[0].flatten(1))


def reid_substitute(model: nn.Module, description: str) -> tuple[LpipsNet, FidNet]:
    """LPIPS (unweighted, over the backbone's stem and stages) and FID (pooled feature) on a re-id
    network trained in this workflow; ``description`` names it in tables and the report."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    backbone = f"substitute: {description}"
    lp = LpipsNet("lpips_substitute", backbone, lambda x: model.backbone.feature_maps(to_reid_input(x)),
                  [None] * 5)
    fid = FidNet("fid_substitute", backbone, lambda x: model.pooled(model.feature_map(to_reid_input(x))))
    return lp, fid


def quality_nets(qc: dict, substitute: Callable[[], tuple[nn.Module, str]], dev: torch.device
                 ) -> tuple[LpipsNet, FidNet]:
    """The ImageNet networks where their weights are on disk, else the substitute from
    ``substitute()`` (a trained network and its description), each metric on its own."""
    alex, incep = find_weights(qc["alexnet"], ALEXNET_FILES), find_weights(qc["inception"], INCEPTION_FILES)
    sub = reid_substitute(*substitute()) if alex is None or incep is None else (None, None)
    lp = imagenet_lpips(alex, dev) if alex is not None else sub[0]
    fid = imagenet_inception(incep, dev) if incep is not None else sub[1]
    return lp, fid
