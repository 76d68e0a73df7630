"""Cluster Contrast's network (Dai et al., 2021; alibaba/cluster-contrast-reid): a re-id backbone,
global average pooling and a BatchNorm whose output is the feature (L2-normalised by the cluster
memory in training and by evaluation at test time). No classifier: the cluster memory is the
classifier, rebuilt every epoch."""
from __future__ import annotations

import torch
from torch import nn

from crgan.models.reid import ReIDNet


class ClusterNet(nn.Module):
    """Same test interface as :class:`crgan.models.reid.ReIDNet` (``feature_map``, ``pooled``)."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.bnneck = nn.BatchNorm1d(backbone.out_channels)

    @classmethod
    def from_reid(cls, network: ReIDNet) -> ClusterNet:
        """Start from a trained IDE network: its backbone and its feature BatchNorm (the classifier,
        over source identities, has no use on the target and is dropped)."""
        model = cls(network.backbone)
        model.bnneck.load_state_dict(network.bnneck.state_dict())
        return model

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def pooled(self, fmap: torch.Tensor) -> torch.Tensor:
        """The feature: BatchNorm of the globally averaged map."""
        return self.bnneck(fmap.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pooled(self.feature_map(x))
