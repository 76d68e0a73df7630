"""CR-GAN's losses (Eqs. 4-7) and LSGAN's discriminator loss; Lcon (Eq. 8) is fused with the blend
in ``crgan.kernels.blend_context_loss``."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def lsgan_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Domain discriminator (LSGAN): 0.5 * [(D(XT) - 1)^2 + D(XG)^2], averaged over patches."""
    return 0.5 * (F.mse_loss(real_scores, torch.ones_like(real_scores))
                  + F.mse_loss(fake_scores, torch.zeros_like(fake_scores)))


def lsgan_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Ladv for G (LSGAN): (D(XG) - 1)^2 averaged over patches."""
    return F.mse_loss(fake_scores, torch.ones_like(fake_scores))


def weighted_total(losses: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
    """LGAN = sum_k lambda_k L_k over the losses a variant uses (a weight of 0 drops a loss)."""
    return sum(weights[k] * v for k, v in losses.items() if weights.get(k, 0) > 0)
