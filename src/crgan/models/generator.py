"""CR-GAN's dual-conditional generator G(XS, X'T) (Section 3.1 of the paper).

Two separate convolutional pathways encode the source image XS and the masked target
X'T = XT * (1 - MT); their features are concatenated depthwise and passed through a U-Net
(encoder without normalisation, residual blocks and a decoder with Instance Norm, skip
connections between them). Two heads give the residual image XR (tanh) and the one-channel
context mask XC (sigmoid); the output is XG = XR * XC + XS * (1 - XC).
With ``dual=False`` (the "w/o dual condition" ablation) only the source pathway exists.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from crgan.kernels import blend, residual_instance_norm


def masked_target(xt: torch.Tensor, mt: torch.Tensor) -> torch.Tensor:
    """X'T = XT * (1 - MT): the target instance with its person removed (only its context is kept)."""
    return xt * (1 - mt)


class ResidualBlock(nn.Module):
    """y = x + IN(conv(ReLU(IN(conv(x))))), Instance Norm with affine parameters (decoder side).

    The last norm and the residual add are one fused op (``crgan.kernels.residual_instance_norm``).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1), nn.InstanceNorm2d(channels, affine=True), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1))
        self.norm = nn.InstanceNorm2d(channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return residual_instance_norm(x, self.body(x), self.norm.weight, self.norm.bias, self.norm.eps)


class DualConditionalGenerator(nn.Module):
    """U-Net generator with one (``dual=False``) or two input pathways; see the module docstring."""

    def __init__(self, ngf: int = 32, depth: int = 3, res_blocks: int = 2, dual: bool = True):
        super().__init__()
        self.dual, self.depth = dual, depth
        self.source_path = nn.Sequential(nn.Conv2d(3, ngf, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True))
        self.target_path = nn.Sequential(nn.Conv2d(3, ngf, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True)) if dual else None
        widths = [ngf * (2 if dual else 1)] + [ngf * 2 ** min(i + 1, 3) for i in range(depth)]
        self.encoder = nn.ModuleList(
            nn.Sequential(nn.Conv2d(widths[i], widths[i + 1], 4, 2, 1), nn.LeakyReLU(0.2, inplace=True))
            for i in range(depth))
        self.bottleneck = nn.Sequential(*[ResidualBlock(widths[-1]) for _ in range(res_blocks)])
        self.decoder = nn.ModuleList(
            nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                          nn.Conv2d(widths[i + 1] * (1 if i == depth - 1 else 2), widths[i], 3, 1, 1),
                          nn.InstanceNorm2d(widths[i], affine=True), nn.ReLU(inplace=True))
            for i in reversed(range(depth)))
        self.to_residual = nn.Sequential(nn.Conv2d(widths[0] * 2, 3, 3, 1, 1), nn.Tanh())
        self.to_context = nn.Sequential(nn.Conv2d(widths[0] * 2, 1, 3, 1, 1), nn.Sigmoid())

    def forward(self, xs: torch.Tensor, xt_masked: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(XG, XR, XC) for source images XS and masked target images X'T, all in [-1, 1]."""
        xr, xc = self.render(xs, xt_masked)
        return blend(xr, xc, xs), xr, xc

    def render(self, xs: torch.Tensor, xt_masked: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(XR, XC) before the blend; training blends them together with the context loss."""
        if xs.shape[2] % 2 ** self.depth or xs.shape[3] % 2 ** self.depth:
            raise ValueError(f"image size {tuple(xs.shape[2:])} must be divisible by 2^depth = {2 ** self.depth}")
        h = self.source_path(xs)
        if self.dual:
            if xt_masked is None:
                raise ValueError("the dual-conditional generator needs the masked target image X'T")
            h = torch.cat([h, self.target_path(xt_masked)], dim=1)
        skips = [h]
        for down in self.encoder:
            skips.append(down(skips[-1]))
        y = self.bottleneck(skips[-1])
        for i, up in enumerate(self.decoder):
            y = up(y if i == 0 else torch.cat([y, skips[self.depth - i]], dim=1))
        y = torch.cat([y, skips[0]], dim=1)
        return self.to_residual(y), self.to_context(y)


def build_generator(architecture: dict[str, Any], dual: bool) -> DualConditionalGenerator:
    """G as configured (``crgan.generator``: ngf, depth, res_blocks), with or without X'T's pathway."""
    return DualConditionalGenerator(architecture["ngf"], architecture["depth"], architecture["res_blocks"], dual=dual)
