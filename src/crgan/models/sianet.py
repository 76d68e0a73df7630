"""SPGAN's SiaNet: a small siamese embedding whose contrastive loss keeps an image's identity
through translation (self-similarity) and keeps translations apart from target persons
(domain dissimilarity).

Deng et al.'s net for 256x128 inputs is three [4x4 stride-2 conv, LeakyReLU 0.2, 2x2 max pool]
blocks of 64, 128, 256 channels, then FC 128, LeakyReLU, dropout 0.5, FC 64 and L2
normalisation. ``blocks`` and ``width`` scale it to small images (each block divides the size by 4).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SiaNet(nn.Module):
    def __init__(self, height: int, width: int, channels: int = 16, blocks: int = 2, embedding: int = 64):
        super().__init__()
        if height // 4 ** blocks < 1 or width // 4 ** blocks < 1:
            raise ValueError(f"SiaNet: {blocks} blocks need images of at least {4 ** blocks}x{4 ** blocks} "
                             f"pixels, got {height}x{width}")
        layers: list[nn.Module] = []
        c_in = 3
        for i in range(blocks):
            c_out = channels * 2 ** i
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU(0.2, True), nn.MaxPool2d(2)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        flat = c_in * (height // 4 ** blocks) * (width // 4 ** blocks)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(flat, 128), nn.LeakyReLU(0.2, True), nn.Dropout(0.5),
                                  nn.Linear(128, embedding))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [-1, 1] -> (N, embedding), unit length."""
        return F.normalize(self.head(self.features(x)), dim=1)


def contrastive_loss(f1: torch.Tensor, f2: torch.Tensor, positive: bool, margin: float = 2.0) -> torch.Tensor:
    """Mean over pairs of d^2 (positive pairs) or max(0, margin - d)^2 (negative), d = ||f1 - f2||_2.

    With unit-length embeddings d <= 2, so the default margin 2 pushes negatives to opposite points.
    """
    d = (f1 - f2).pow(2).sum(1).clamp_min(1e-12).sqrt()
    return d.pow(2).mean() if positive else (margin - d).clamp_min(0).pow(2).mean()
