"""PyTorch references of the kernels: the math, in eager ops, on any device.

These are what every op runs on CPU by default, what the Triton kernels are tested against,
and the eager baselines the benchmarks time.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def blend(xr: torch.Tensor, xc: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """XG = XR * XC + XS * (1 - XC), XC broadcast over channels."""
    return xr * xc + xs * (1 - xc)


def context_loss(xg: torch.Tensor, xs: torch.Tensor, xt: torch.Tensor, mf: torch.Tensor) -> torch.Tensor:
    """Lcon = mean(((XG - XS) * MF)^2) + mean(((XG - XT) * (1 - MF))^2), MF = XS's person mask."""
    return ((xg - xs) * mf).pow(2).mean() + ((xg - xt) * (1 - mf)).pow(2).mean()


def blend_context_loss(xr: torch.Tensor, xc: torch.Tensor, xs: torch.Tensor, xt: torch.Tensor,
                       mf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(XG, Lcon) with XG = blend(XR, XC, XS)."""
    xg = blend(xr, xc, xs)
    return xg, context_loss(xg, xs, xt, mf)


def residual_instance_norm(x: torch.Tensor, h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                           eps: float = 1e-5) -> torch.Tensor:
    """x + InstanceNorm(h) * weight + bias (biased variance per sample and channel, as nn.InstanceNorm2d)."""
    return x + F.instance_norm(h, weight=weight, bias=bias, eps=eps)


def pairwise_distance(q: torch.Tensor, g: torch.Tensor, metric: str = "euclidean") -> torch.Tensor:
    """[M, D] x [N, D] -> [M, N]: squared Euclidean distance (as torchreid) or 1 - cosine similarity."""
    if metric == "cosine":
        return 1 - F.normalize(q, dim=1) @ F.normalize(g, dim=1).T
    if metric != "euclidean":
        raise ValueError(f"unknown distance metric {metric!r} (expected 'euclidean' or 'cosine')")
    return (q.pow(2).sum(1, keepdim=True) + g.pow(2).sum(1)[None] - 2 * q @ g.T).clamp_min(0)


def query_stats(order: torch.Tensor, q_pids: torch.Tensor, g_pids: torch.Tensor, q_camids: torch.Tensor,
                g_camids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per query, from its gallery ranking ``order`` [M, N]: (first_match, ap, num_rel).

    Gallery items of the query's identity and camera are junk (skipped). ``first_match`` is the
    0-based rank of the first true match among kept items (-1 when there is none), ``ap`` the
    average precision (0 without a match) and ``num_rel`` the number of true matches.
    """
    same = g_pids[order] == q_pids[:, None]
    keep = ~(same & (g_camids[order] == q_camids[:, None]))
    match = same & keep
    num_rel = match.sum(1)
    kept_rank = keep.cumsum(1)
    first = torch.where(match, kept_rank, torch.iinfo(kept_rank.dtype).max).amin(1) - 1
    precision = torch.where(match, match.cumsum(1) / kept_rank.clamp_min(1), 0).sum(1, dtype=torch.float64)
    ap = precision / num_rel.clamp_min(1)
    return torch.where(num_rel > 0, first, -1), ap, num_rel


def cmc_map(first: torch.Tensor, ap: torch.Tensor, num_rel: torch.Tensor, max_rank: int) -> tuple[np.ndarray, float]:
    """Fold per-query results into (CMC over ranks 1..max_rank, mAP) over the queries with a match."""
    valid = num_rel > 0
    num_valid = int(valid.sum())
    if num_valid == 0:
        raise ValueError("no query has a valid match in the gallery (same identity, other camera)")
    hits = torch.bincount(first[valid].clamp_max(max_rank), minlength=max_rank + 1)[:max_rank]
    cmc = hits.cumsum(0).double() / num_valid
    return cmc.cpu().numpy(), float(ap[valid].sum() / num_valid)


def rank_metrics(distmat: torch.Tensor, q_pids: torch.Tensor, g_pids: torch.Tensor, q_camids: torch.Tensor,
                 g_camids: torch.Tensor, max_rank: int = 50) -> tuple[np.ndarray, float]:
    """(CMC, mAP) as ``crgan.eval.ranking.evaluate_rank``, in torch ops on ``distmat``'s device.

    Ranks with a stable sort (ties keep gallery order).
    """
    order = torch.argsort(distmat, dim=1, stable=True)
    return cmc_map(*query_stats(order, q_pids, g_pids, q_camids, g_camids), max_rank)


def rank_metrics_per_query(distmat: np.ndarray, q_pids: np.ndarray, g_pids: np.ndarray, q_camids: np.ndarray,
                           g_camids: np.ndarray, max_rank: int = 50) -> tuple[np.ndarray, float]:
    """The CMC/mAP oracle: one query at a time, as the Market1501 evaluation code and torchreid do
    it, with the project's one tie rule (the order of a stable sort: tied distances keep gallery
    order). Tests check every implementation against it and the ranking benchmark times it."""
    distmat = np.asarray(distmat)
    cmcs, aps = [], []
    for i in range(len(q_pids)):
        order = np.argsort(distmat[i], kind="stable")
        junk = (g_pids[order] == q_pids[i]) & (g_camids[order] == q_camids[i])
        good = (g_pids[order] == q_pids[i])[~junk]
        if not good.any():
            continue
        hits = np.zeros(max_rank)
        first = int(np.flatnonzero(good)[0])
        hits[first:] = 1 if first < max_rank else 0
        cmcs.append(hits)
        positions = np.flatnonzero(good)
        aps.append(np.mean([(k + 1) / (pos + 1) for k, pos in enumerate(positions)]))
    if not cmcs:
        raise ValueError("no query has a valid match in the gallery (same identity, other camera)")
    return np.mean(cmcs, axis=0), float(np.mean(aps))
