"""Pretrained weight files on disk: where to find them and how to load them strictly.

Nothing is ever downloaded. A configured file must exist; otherwise the torch hub cache
(``$TORCH_HOME/hub/checkpoints``) is searched under the names torchvision and pytorch-fid use.
Re-id backbones, segmentation masks and the LPIPS/FID feature networks all come through here.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from crgan.errors import WeightsError

if TYPE_CHECKING:  # the workflow's preflight reads this module when Snakemake parses: no torch there
    from torch import nn

#: File names torchvision uses for ImageNet ResNet weights in the torch hub cache.
RESNET_HUB_FILES = {
    "resnet18": ["resnet18-f37072fd.pth"],
    "resnet34": ["resnet34-b627a593.pth"],
    "resnet50": ["resnet50-0676ba61.pth", "resnet50-11ad3fa6.pth"],
}
#: torchvision's file names for the COCO-trained (VOC classes) segmentation weights (person masks).
SEGMENTATION_HUB_FILES = {"deeplabv3_resnet50": "deeplabv3_resnet50_coco-cd0a2569.pth",
                          "fcn_resnet50": "fcn_resnet50_coco-1167a1af.pth"}
#: ImageNet AlexNet (LPIPS) and pytorch-fid's Inception (FID), as the hub cache names them.
ALEXNET_HUB_FILES = ["alexnet-owt-7be5be79.pth"]
INCEPTION_HUB_FILES = ["pt_inception-2015-12-05-6726825d.pth"]


def hub_cache_dir() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` (TORCH_HOME defaults to ~/.cache/torch), as torch.hub uses."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    torch_home = os.environ.get("TORCH_HOME") or cache / "torch"
    return Path(torch_home) / "hub" / "checkpoints"


def find_weights(configured: str | None, hub_names: list[str]) -> Path | None:
    """A configured weights file (must exist) or the first of ``hub_names`` in the hub cache."""
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise WeightsError(f"weights file {path} does not exist")
        return path
    for name in hub_names:
        if (hub_cache_dir() / name).is_file():
            return hub_cache_dir() / name
    return None


def load_state_dict_checked(module: nn.Module, path: Path, what: str, ignore_prefixes: tuple[str, ...] = ()) -> None:
    """Load ``path`` into ``module``; any missing, unexpected or mis-shaped tensor is a WeightsError."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"cannot read weights file {path}: {exc}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    state = {k: v for k, v in state.items() if not k.startswith(ignore_prefixes)}
    own = {k: v for k, v in module.state_dict().items() if not k.startswith(ignore_prefixes)}
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    shapes = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        detail = (f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}" if unexpected
                  else f"shape mismatch at {shapes[:3]}")
        raise WeightsError(f"weights file {path} does not fit {what}: {detail}")
    module.load_state_dict(state, strict=False)
