"""CMC and mAP for single-query re-id under the Market1501 protocol, vectorised over queries.

Gallery images of the query's identity taken by the query's camera are ignored (they are
"junk" for that query); queries with no valid match in the gallery are skipped. Distractors
are ordinary non-matching gallery items. The computation sorts each query's distances once
and derives every rank from cumulative sums, a block of queries at a time.
"""
from __future__ import annotations

import numpy as np
import torch


def _as_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank: int = 50,
                  block: int = 256) -> tuple[np.ndarray, float]:
    """Return ``(cmc, mAP)``: ``cmc[r]`` is the fraction of valid queries matched within rank r+1.

    ``distmat`` is (num_query, num_gallery), smaller is closer (ties: numpy's default sort order,
    as torchreid).
    Raises ValueError when no query has a valid match.
    """
    distmat = _as_numpy(distmat)
    q_pids, g_pids = _as_numpy(q_pids), _as_numpy(g_pids)
    q_camids, g_camids = _as_numpy(q_camids), _as_numpy(g_camids)
    m, n = distmat.shape
    if (len(q_pids), len(q_camids), len(g_pids), len(g_camids)) != (m, m, n, n):
        raise ValueError(f"distmat is {m}x{n} but got {len(q_pids)} query and {len(g_pids)} gallery labels")
    hits = np.zeros(max_rank, np.int64)
    ap_sum, num_valid = 0.0, 0
    for start in range(0, m, block):
        order = np.argsort(distmat[start:start + block], axis=1)
        qp, qc = q_pids[start:start + block, None], q_camids[start:start + block, None]
        same_id = g_pids[order] == qp
        keep = ~(same_id & (g_camids[order] == qc))
        match = same_id & keep
        num_rel = match.sum(axis=1)
        valid = num_rel > 0
        if not valid.any():
            continue
        match, keep, num_rel = match[valid], keep[valid], num_rel[valid]
        kept_rank = np.cumsum(keep, axis=1) - 1  # rank of each kept item among kept items
        first = kept_rank[np.arange(len(match)), match.argmax(axis=1)]
        hits += np.bincount(np.minimum(first, max_rank), minlength=max_rank + 1)[:max_rank]
        precision = np.cumsum(match, axis=1) / np.maximum(kept_rank + 1, 1)
        ap_sum += float(((precision * match).sum(axis=1) / num_rel).sum())
        num_valid += int(valid.sum())
    if num_valid == 0:
        raise ValueError("no query has a valid match in the gallery (same identity, other camera)")
    cmc = np.cumsum(hits) / num_valid
    return cmc.astype(np.float64), ap_sum / num_valid
