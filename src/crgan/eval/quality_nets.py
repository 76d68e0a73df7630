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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from crgan.data.images import to_reid_input
from crgan.weights import ALEXNET_HUB_FILES, INCEPTION_HUB_FILES, find_weights, load_state_dict_checked

#: File names in the torch hub cache (torchvision's AlexNet, pytorch-fid's FID Inception).
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


def _frozen(module: nn.Module) -> nn.Module:
    """Evaluation mode, no gradients: a fixed feature network."""
    module.eval()
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
    lp = _frozen(lp).to(dev)
    return LpipsNet("lpips", "imagenet-alexnet", lambda x: list(lp.net(lp.scaling_layer(x))),
                    [lin.model[-1].weight.view(-1) for lin in lp.lins])


#: The layers of pytorch-fid's InceptionV3 up to its 2048-d pool (its blocks 0-3), by torchvision's names.
POOL_LAYERS = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
               "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
               "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "avgpool")


def fid_inception_net() -> nn.Module:
    """pytorch-fid's FID Inception, untrained: torchvision's Inception3 (1008 classes) with the
    Mixed blocks swapped for pytorch-fid's, built here because pytorch-fid's own builder downloads
    its weights."""
    from pytorch_fid import inception as fid
    from torchvision.models.inception import Inception3

    net = Inception3(num_classes=1008, aux_logits=False, init_weights=False)
    blocks = {"Mixed_5b": fid.FIDInceptionA(192, pool_features=32), "Mixed_5c": fid.FIDInceptionA(256, pool_features=64),
              "Mixed_5d": fid.FIDInceptionA(288, pool_features=64),
              "Mixed_6b": fid.FIDInceptionC(768, channels_7x7=128), "Mixed_6c": fid.FIDInceptionC(768, channels_7x7=160),
              "Mixed_6d": fid.FIDInceptionC(768, channels_7x7=160), "Mixed_6e": fid.FIDInceptionC(768, channels_7x7=192),
              "Mixed_7b": fid.FIDInceptionE_1(1280), "Mixed_7c": fid.FIDInceptionE_2(2048)}
    for name, block in blocks.items():
        setattr(net, name, block)
    return net


def imagenet_inception(path: Path, dev: torch.device) -> FidNet:
    """FID's Inception (2048-d pool features) with its weights loaded from ``path``; inputs resized
    to 299x299 as pytorch-fid does."""
    net = fid_inception_net()
    load_state_dict_checked(net, path, "pytorch-fid's Inception")
    net = _frozen(net).to(dev)

    def features(x: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        for name in POOL_LAYERS:
            h = getattr(net, name)(h)
        return h.flatten(1)

    return FidNet("fid", "imagenet-inception", features)


def reid_substitute(model: nn.Module, description: str) -> tuple[LpipsNet, FidNet]:
    """LPIPS (unweighted, over the backbone's stem and stages) and FID (pooled feature) on a re-id
    network trained in this workflow; ``description`` names it in tables and the report."""
    _frozen(model)
    backbone = f"substitute: {description}"
    lp = LpipsNet("lpips_substitute", backbone, lambda x: model.backbone.feature_maps(to_reid_input(x)),
                  [None] * 5)
    fid = FidNet("fid_substitute", backbone, lambda x: model.pooled(model.feature_map(to_reid_input(x))))
    return lp, fid


def quality_nets(quality_cfg: dict, substitute: Callable[[], tuple[nn.Module, str]], dev: torch.device
                 ) -> tuple[LpipsNet, FidNet]:
    """The ImageNet networks where their weights are on disk, else the substitute from
    ``substitute()`` (a trained network and its description), each metric on its own."""
    alex = find_weights(quality_cfg["alexnet"], ALEXNET_HUB_FILES)
    incep = find_weights(quality_cfg["inception"], INCEPTION_HUB_FILES)
    sub = reid_substitute(*substitute()) if alex is None or incep is None else (None, None)
    lp = imagenet_lpips(alex, dev) if alex is not None else sub[0]
    fid = imagenet_inception(incep, dev) if incep is not None else sub[1]
    return lp, fid
