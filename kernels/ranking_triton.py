"""Triton kernel for per-query CMC and AP statistics, from each query's sorted gallery order.

One program per query walks its ranked gallery in BLOCK chunks, gathers the gallery's ids and
cameras, drops junk (same identity and camera as the query), and keeps running counts of kept
items and matches across chunks (prefix sums inside a chunk, carried between chunks): the rank
of the first match among kept items, the sum of precision at each match, and the match count.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

BLOCK = 1024


@triton.jit
def _query_stats(order_ptr, q_pids_ptr, g_pids_ptr, q_cams_ptr, g_cams_ptr, first_ptr, ap_ptr, nrel_ptr,
                 N, row0, BLOCK: tl.constexpr):
    r = tl.program_id(0)
    qp = tl.load(q_pids_ptr + row0 + r)
    qc = tl.load(q_cams_ptr + row0 + r)
    cols = tl.arange(0, BLOCK)
    kept = tl.sum(tl.zeros((BLOCK,), tl.int32), axis=0)
    matched = tl.sum(tl.zeros((BLOCK,), tl.int32), axis=0)
    first = tl.sum(tl.zeros((BLOCK,), tl.int32), axis=0) + 2147483647
    ap = tl.sum(tl.zeros((BLOCK,), tl.float32), axis=0)
    for start in range(0, N, BLOCK):
        live = start + cols < N
        idx = tl.load(order_ptr + r * N + start + cols, mask=live, other=0)
        gp = tl.load(g_pids_ptr + idx, mask=live)
        gc = tl.load(g_cams_ptr + idx, mask=live)
        same = live & (gp == qp)
        keep = live & ~(same & (gc == qc))
        match = same & keep
        kept_rank = kept + tl.cumsum(keep.to(tl.int32), axis=0)
        match_count = matched + tl.cumsum(match.to(tl.int32), axis=0)
        ap += tl.sum(tl.where(match, match_count.to(tl.float32) / tl.maximum(kept_rank, 1).to(tl.float32), 0.0),
                     axis=0)
        first = tl.minimum(first, tl.min(tl.where(match, kept_rank, 2147483647), axis=0))
        kept += tl.sum(keep.to(tl.int32), axis=0)
        matched += tl.sum(match.to(tl.int32), axis=0)
    tl.store(first_ptr + r, tl.where(matched > 0, first - 1, -1))
    tl.store(ap_ptr + r, ap / tl.maximum(matched, 1).to(tl.float32))
    tl.store(nrel_ptr + r, matched)


def query_stats(distmat: torch.Tensor, q_pids: torch.Tensor, g_pids: torch.Tensor, q_camids: torch.Tensor,
                g_camids: torch.Tensor, rows_per_sort: int = 1024) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(first_match, ap, num_rel) per query, as ``_reference.query_stats`` of a stable argsort of ``distmat``.

    Queries are sorted ``rows_per_sort`` at a time to bound the memory of the index matrix.
    """
    m, n = distmat.shape
    first = torch.empty(m, device=distmat.device, dtype=torch.int32)
    ap = torch.empty(m, device=distmat.device, dtype=torch.float32)
    nrel = torch.empty_like(first)
    for row0 in range(0, m, rows_per_sort):
        rows = min(rows_per_sort, m - row0)
        order = torch.argsort(distmat[row0:row0 + rows], dim=1, stable=True).to(torch.int32)
        _query_stats[(rows,)](order, q_pids, g_pids, q_camids, g_camids, first[row0:], ap[row0:], nrel[row0:],
                              n, row0, BLOCK=min(BLOCK, triton.next_power_of_2(n)), num_warps=4)
    return first.long(), ap.double(), nrel.long()
