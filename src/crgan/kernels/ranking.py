"""CMC and mAP on the distance matrix's device (single-query, Market1501 protocol).

Same contract and results as ``crgan.eval.ranking.evaluate_rank`` (junk = same identity and
camera; queries without a valid match skipped), but the distance matrix never leaves its device:
the Triton kernel counts, for each true match, the kept items ranked before it (no sort; see
``ranking_triton``), or the PyTorch reference sorts; only the CMC curve and mAP come back. Ties
are broken by gallery order (stable sort), as in the CPU ``evaluate_rank`` and the oracle
``_reference.rank_metrics_per_query``. A distance matrix holding NaN takes the sorting reference
(a sort puts NaN last; the kernel's comparisons would not).
"""
from __future__ import annotations

import numpy as np
import torch

from crgan.kernels import _reference as ref
from crgan.kernels._dispatch import use_triton


@torch.library.custom_op("crgan::rank_query_stats", mutates_args=())
def _query_stats_op(distmat: torch.Tensor, q_pids: torch.Tensor, g_pids: torch.Tensor, q_camids: torch.Tensor,
                    g_camids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per query (first_match, ap, num_rel), see ``_reference.query_stats``; not differentiable."""
    from crgan.kernels import ranking_triton
    return ranking_triton.query_stats(distmat, q_pids, g_pids, q_camids, g_camids)


@_query_stats_op.register_fake
def _(distmat, q_pids, g_pids, q_camids, g_camids):
    m = distmat.shape[0]
    return (q_pids.new_empty(m), distmat.new_empty(m, dtype=torch.float64), q_pids.new_empty(m))


def _labels(x, device: torch.device, name: str, size: int) -> torch.Tensor:
    t = torch.as_tensor(x, device=device).long().contiguous()
    if t.shape != (size,):
        raise ValueError(f"rank_metrics: {name} must have {size} entries to match the distance matrix, "
                         f"got shape {tuple(t.shape)}")
    return t


def rank_metrics(distmat: torch.Tensor, q_pids, g_pids, q_camids, g_camids, max_rank: int = 50
                 ) -> tuple[np.ndarray, float]:
    """Return ``(cmc, mAP)``: ``cmc[r]`` is the fraction of valid queries matched within rank r+1.

    Labels may be tensors or arrays (moved to ``distmat``'s device). Raises ValueError when no
    query has a valid match.
    """
    if distmat.dim() != 2:
        raise ValueError(f"rank_metrics: distmat must be [num_query, num_gallery], got {tuple(distmat.shape)}")
    m, n = distmat.shape
    dev = distmat.device
    q_pids, q_camids = _labels(q_pids, dev, "q_pids", m), _labels(q_camids, dev, "q_camids", m)
    g_pids, g_camids = _labels(g_pids, dev, "g_pids", n), _labels(g_camids, dev, "g_camids", n)
    if not use_triton(distmat) or bool(torch.isnan(distmat).any()):
        return ref.rank_metrics(distmat, q_pids, g_pids, q_camids, g_camids, max_rank)
    return ref.cmc_map(*_query_stats_op(distmat.contiguous(), q_pids, g_pids, q_camids, g_camids), max_rank)
