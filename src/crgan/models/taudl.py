"""TAUDL's network (Li, Zhu, Gong, ECCV 2018): a re-id backbone, an embedding (GAP -> FC -> BN
-> ReLU) used by both losses and at test time, and one classifier head per camera over that
camera's tracklets (per-camera tracklet discrimination, PCTD)."""
from __future__ import annotations

import torch
from torch import nn


class TaudlNet(nn.Module):
    """Same test interface as :class:`crgan.models.reid.ReIDNet` (``feature_map``, ``pooled``).

    A camera without tracklets still gets a (one-output, never trained) head, so head ``c`` is
    always camera ``c``."""

    def __init__(self, backbone: nn.Module, tracklets_per_camera: list[int]):
        super().__init__()
        c = backbone.out_channels
        self.backbone = backbone
        self.embedding = nn.Sequential(nn.Linear(c, c), nn.BatchNorm1d(c), nn.ReLU(inplace=True))
        self.heads = nn.ModuleList(nn.Linear(c, max(1, m)) for m in tracklets_per_camera)
        for head in self.heads:  # as the authors' code: near-zero scores, so PCTD starts at its chance level
            nn.init.normal_(head.weight, std=0.001)
            nn.init.zeros_(head.bias)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def pooled(self, fmap: torch.Tensor) -> torch.Tensor:
        """TAUDL's feature: the embedding of the globally averaged map."""
        return self.embedding(fmap.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C) embeddings; :meth:`camera_logits` gives each camera head's scores."""
        return self.pooled(self.feature_map(x))

    def camera_logits(self, features: torch.Tensor, camera: int) -> torch.Tensor:
        return self.heads[camera](features)
