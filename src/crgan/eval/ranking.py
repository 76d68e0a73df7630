"""CMC and mAP for single-query re-id under the Market1501 protocol, vectorised over queries.

Gallery images of the query's identity taken by the query's camera are ignored (they are
"junk" for that query); queries with no valid match in the gallery are skipped. Distractors
are ordinary non-matching gallery items. The computation sorts each query's distances once
and derives every rank from cumulative sums, a block of queries at a time.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from crgan.kernels import rank_metrics


def _as_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _block_stats(distmat: np.ndarray, q_pids: np.ndarray, q_camids: np.ndarray, g_pids: np.ndarray,
                 g_camids: np.ndarray, max_rank: int) -> tuple[np.ndarray, float, int]:
    """CMC hit counts, summed AP and number of valid queries for one block of queries."""
    order = np.argsort(distmat, axis=1, kind="stable")
    same_id = g_pids[order] == q_pids[:, None]
    keep = ~(same_id & (g_camids[order] == q_camids[:, None]))
    match = same_id & keep
    num_rel = match.sum(axis=1)
    valid = num_rel > 0
    if not valid.any():
        return np.zeros(max_rank, np.int64), 0.0, 0
    match, keep, num_rel = match[valid], keep[valid], num_rel[valid]
    kept_rank = np.cumsum(keep, axis=1, dtype=np.int32)  # 1-based rank of each kept item among kept items
    first = kept_rank[np.arange(len(match)), match.argmax(axis=1)] - 1
    hits = np.bincount(np.minimum(first, max_rank), minlength=max_rank + 1)[:max_rank]
    precision = np.cumsum(match, axis=1, dtype=np.int32)[match] / kept_rank[match]
    ap = np.add.reduceat(precision, np.concatenate([[0], np.cumsum(num_rel)[:-1]])) / num_rel
    return hits, float(ap.sum()), int(valid.sum())


def evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank: int = 50,
                  block: int = 128) -> tuple[np.ndarray, float]:
    """Return ``(cmc, mAP)``: ``cmc[r]`` is the fraction of valid queries matched within rank r+1.

    ``distmat`` is (num_query, num_gallery), smaller is closer; tied distances keep gallery order
    (a stable sort, the one tie rule of every implementation here and of the oracle
    ``crgan.kernels._reference.rank_metrics_per_query``). Blocks of queries run on
    ``torch.get_num_threads()`` threads (numpy's sort releases the GIL). A CUDA ``distmat``
    stays on the GPU: ``crgan.kernels.rank_metrics`` does the work there. Raises ValueError when no query has a valid match.
    """
    if isinstance(distmat, torch.Tensor) and distmat.is_cuda:
        return rank_metrics(distmat, q_pids, g_pids, q_camids, g_camids, max_rank)
    distmat = _as_numpy(distmat)
    q_pids, g_pids = _as_numpy(q_pids), _as_numpy(g_pids)
    q_camids, g_camids = _as_numpy(q_camids), _as_numpy(g_camids)
    m, n = distmat.shape
    if (len(q_pids), len(q_camids), len(g_pids), len(g_camids)) != (m, m, n, n):
        raise ValueError(f"distmat is {m}x{n} but got {len(q_pids)} query and {len(g_pids)} gallery labels")
    starts = range(0, m, block)

    def run(start: int) -> tuple[np.ndarray, float, int]:
        sl = slice(start, start + block)
        return _block_stats(distmat[sl], q_pids[sl], q_camids[sl], g_pids, g_camids, max_rank)

    with ThreadPoolExecutor(max_workers=max(1, min(torch.get_num_threads(), len(starts)))) as pool:
        results = list(pool.map(run, starts))
    num_valid = sum(r[2] for r in results)
    if num_valid == 0:
        raise ValueError("no query has a valid match in the gallery (same identity, other camera)")
    cmc = np.cumsum(sum(r[0] for r in results)) / num_valid
    return cmc.astype(np.float64), sum(r[1] for r in results) / num_valid
