"""Re-id networks: a ResNet backbone, global pooling and an identity classifier (IDE).

ResNet18/34/50 are torchvision's (ResNet50 as in the paper); ``compact`` is a narrow ResNet of
basic blocks (torchvision's, built here so that a job need not import torchvision: 2-4 s a job)
sized for 64x32 images on a CPU. ImageNet initialisation comes from a
configured weights file or the torch hub cache; without either the backbone starts from scratch,
and the returned ``init`` says which, so tables can record it.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from crgan.errors import WeightsError
from crgan.weights import RESNET_HUB_FILES, find_weights, load_state_dict_checked


class BasicBlock(nn.Module):
    """torchvision's ResNet basic block: two 3x3 conv-BN layers and a shortcut (``downsample`` where
    the shape changes); the same parameter names, the same initialisation draws."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


class CompactResNet(nn.Module):
    """A narrow four-stage ResNet (one BasicBlock per stage) for small images."""

    def __init__(self, width: int = 32, last_stride: int = 1):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        stages, c_in = [], width
        for i, stride in enumerate([1, 2, 2, last_stride]):
            c_out = width * 2 ** i
            down = None if stride == 1 and c_in == c_out else nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
            stages.append(BasicBlock(c_in, c_out, stride, down))
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.out_channels = c_in

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The stem's and every stage's output, shallow to deep (LPIPS-style layer features)."""
        maps = [self.stem(x)]
        for stage in self.stages:
            maps.append(stage(maps[-1]))
        return maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_maps(x)[-1]


class TorchvisionResNet(nn.Module):
    """torchvision's ResNet up to the last conv block, optionally with last stride 1."""

    def __init__(self, arch: str, last_stride: int = 1):
        super().__init__()
        from torchvision.models import resnet as tv_resnet

        net = getattr(tv_resnet, arch)(weights=None)
        if last_stride == 1:
            block = net.layer4[0]
            (block.conv2 if isinstance(block, tv_resnet.Bottleneck) else block.conv1).stride = (1, 1)
            block.downsample[0].stride = (1, 1)
        self.body = net
        self.out_channels = net.fc.in_features

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The stem's and every residual stage's output, shallow to deep (LPIPS-style layer features)."""
        n = self.body
        maps = [n.relu(n.bn1(n.conv1(x)))]
        for stage in (n.layer1, n.layer2, n.layer3, n.layer4):
            maps.append(stage(n.maxpool(maps[-1]) if stage is n.layer1 else maps[-1]))
        return maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_maps(x)[-1]


class ReIDNet(nn.Module):
    """Backbone -> feature map; GAP for training; BN + linear classifier over source identities."""

    def __init__(self, backbone: nn.Module, num_classes: int):
        super().__init__()
        self.backbone = backbone
        self.bnneck = nn.BatchNorm1d(backbone.out_channels)
        self.classifier = nn.Linear(backbone.out_channels, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def pooled(self, fmap: torch.Tensor) -> torch.Tensor:
        """The global feature tested with GAP: the average of the last conv map."""
        return fmap.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Identity logits (the training signal and Did's output in CR-GAN)."""
        return self.classifier(self.bnneck(self.pooled(self.feature_map(x))))


def build_backbone(cfg: dict[str, Any], init_weights: bool = True) -> tuple[nn.Module, str]:
    """The configured backbone and its initialisation (``imagenet:<file>`` or ``scratch``).

    ``init_weights=False`` skips ImageNet loading (for rebuilding a trained network).
    """
    arch = cfg["arch"]
    if arch == "compact":
        backbone: nn.Module = CompactResNet(cfg["width"], cfg["last_stride"])
        if cfg.get("pretrained") and init_weights:
            raise WeightsError("config key 'reid.pretrained': the compact ResNet has no ImageNet weights; "
                               "use arch resnet18/34/50 to start from ImageNet")
        init = "scratch"
    else:
        backbone = TorchvisionResNet(arch, cfg["last_stride"])
        path = find_weights(cfg.get("pretrained"), RESNET_HUB_FILES[arch]) if init_weights else None
        if path is not None:
            load_state_dict_checked(backbone.body, path, f"torchvision {arch}", ignore_prefixes=("fc.",))
        init = f"imagenet:{path.name}" if path is not None else "scratch"
    return backbone, init


def build_reid(cfg: dict[str, Any], num_classes: int, init_weights: bool = True) -> tuple[ReIDNet, str]:
    """The configured re-id network (backbone + IDE head) and the backbone's initialisation."""
    backbone, init = build_backbone(cfg, init_weights)
    return ReIDNet(backbone, num_classes), init
