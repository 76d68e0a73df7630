"""SPGAN's image translators: CycleGAN's ResNet generator (Deng et al. 2018 use CycleGAN's).

7x7 conv -> ``downsamples`` stride-2 convs -> residual blocks (reflection padding, Instance
Norm) -> as many transposed convs -> 7x7 conv, tanh. CycleGAN's 256x256 setting is ngf 64,
2 downsamplings, 9 blocks; the defaults here are sized for 64x32 images on a CPU. The
discriminators are :class:`crgan.models.discriminators.PatchDiscriminator` (70x70 PatchGAN).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


def conv_norm_relu(c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, stride, padding), nn.InstanceNorm2d(c_out), nn.ReLU(True)]


class ResnetBlock(nn.Module):
    """x + [pad, 3x3 conv, IN, ReLU, pad, 3x3 conv, IN](x)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), *conv_norm_relu(channels, channels, 3),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """Image-to-image translator in [-1, 1] -> [-1, 1]; input H and W must divide by 2**downsamples."""

    def __init__(self, ngf: int = 16, downsamples: int = 2, res_blocks: int = 3):
        super().__init__()
        self.factor = 2 ** downsamples
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), *conv_norm_relu(3, ngf, 7)]
        c = ngf
        for _ in range(downsamples):
            layers += conv_norm_relu(c, 2 * c, 3, 2, 1)
            c *= 2
        layers += [ResnetBlock(c) for _ in range(res_blocks)]
        for _ in range(downsamples):
            layers += [nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(c // 2),
                       nn.ReLU(True)]
            c //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c, 3, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % self.factor or x.shape[-1] % self.factor:
            raise ValueError(f"ResnetGenerator: image size {tuple(x.shape[-2:])} must be a multiple of {self.factor}")
        return self.net(x)


def build_translator(architecture: dict[str, Any]) -> ResnetGenerator:
    """SPGAN's G or F as configured (``spgan.generator``: ngf, downsamples, res_blocks)."""
    return ResnetGenerator(architecture["ngf"], architecture["downsamples"], architecture["res_blocks"])
