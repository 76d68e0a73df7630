"""CR-GAN's discriminators: the PatchGAN domain discriminator Dd and the camera classifier Dcam.

Did, the identity discriminator, is the source re-id network (:mod:`crgan.models.reid`).
"""
from __future__ import annotations

import torch
from torch import nn


class GaussianNoise(nn.Module):
    """Adds N(0, std^2) noise in training mode only (the paper's input layer of Dd, for stability)."""

    def __init__(self, std: float):
        super().__init__()
        self.std = std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.std * torch.randn_like(x) if self.training and self.std > 0 else x


class PatchDiscriminator(nn.Module):
    """PatchGAN: 4x4 convs, stride 2 then 1, Instance Norm after the first, one score per patch."""

    def __init__(self, ndf: int = 32, n_layers: int = 3, noise_std: float = 0.1):
        super().__init__()
        layers: list[nn.Module] = [GaussianNoise(noise_std), nn.Conv2d(3, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        c = ndf
        for i in range(1, n_layers + 1):
            c_out = ndf * 2 ** min(i, 3)
            stride = 2 if i < n_layers else 1
            layers += [nn.Conv2d(c, c_out, 4, stride, 1), nn.InstanceNorm2d(c_out, affine=True),
                       nn.LeakyReLU(0.2, True)]
            c = c_out
        layers.append(nn.Conv2d(c, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CameraDiscriminator(nn.Module):
    """Dcam: a lightweight 5-layer CNN (4 convs and a linear layer) over the target's cameras."""

    def __init__(self, num_cameras: int, width: int = 32):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(3, w, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2, True),
            nn.Conv2d(4 * w, 4 * w, 3, 1, 1), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2, True))
        self.classifier = nn.Linear(4 * w, num_cameras)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))
