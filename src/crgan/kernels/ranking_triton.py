"""Triton kernel for per-query CMC and AP statistics, by counting instead of sorting.

A query's first-match rank and average precision need only where each true match falls in the
ranked gallery, not the whole order: the kept items (not junk: same identity and camera) ranked
before a match p are those with a smaller distance, or an equal one and a smaller gallery index
(the stable sort's tie rule of every other path). One program per query takes its candidate
matches (the gallery items of its identity, found through the gallery sorted by identity, so no
[M, N] mask is built), ``PAIRS`` at a time, and counts against its distance row, ``BLOCK`` items
at a time, the kept items before each match; the matches before each match come from comparing
the candidates among themselves. Then, with ``before`` and ``matches_before`` 0-based counts:
first match = min(before), AP = mean((matches_before + 1) / (before + 1)). The work is
O(N x matches) per query, read from one distance row, and nothing is sorted.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

#: Gallery items per inner step and candidate matches per outer step (a [PAIRS, BLOCK] comparison tile).
BLOCK = 256
PAIRS = 16


@triton.jit
def _earlier(d_other, i_other, d_match, i_match):
    """[P, B]: whether gallery items (d_other, i_other) [B] rank before matches (d_match, i_match) [P]."""
    d_o, d_m = d_other[None, :], d_match[:, None]
    return (d_o < d_m) | ((d_o == d_m) & (i_other[None, :] < i_match[:, None]))


@triton.jit
def _query_stats(dist_ptr, q_pids_ptr, g_pids_ptr, q_cams_ptr, g_cams_ptr, by_identity_ptr, starts_ptr, ends_ptr,
                 first_ptr, ap_ptr, nrel_ptr, N, BLOCK: tl.constexpr, PAIRS: tl.constexpr):
    r = tl.program_id(0)
    row = dist_ptr + r.to(tl.int64) * N
    qp = tl.load(q_pids_ptr + r)
    qc = tl.load(q_cams_ptr + r)
    start = tl.load(starts_ptr + r)
    end = tl.load(ends_ptr + r)
    pairs = tl.arange(0, PAIRS)
    cols = tl.arange(0, BLOCK)
    first = tl.sum(tl.zeros((PAIRS,), tl.int32), axis=0) + 2147483647
    matched = tl.sum(tl.zeros((PAIRS,), tl.int32), axis=0)
    ap = tl.sum(tl.zeros((PAIRS,), tl.float64), axis=0)
    for p0 in range(start, end, PAIRS):
        live = p0 + pairs < end
        i_match = tl.load(by_identity_ptr + p0 + pairs, mask=live, other=0)
        is_match = live & (tl.load(g_cams_ptr + i_match, mask=live, other=0) != qc)
        d_match = tl.load(row + i_match, mask=is_match, other=0.0)
        before = tl.zeros((PAIRS,), tl.int32)
        for j0 in range(0, N, BLOCK):
            j = j0 + cols
            inside = j < N
            d = tl.load(row + j, mask=inside, other=0.0)
            junk = (tl.load(g_pids_ptr + j, mask=inside, other=0) == qp) & (
                tl.load(g_cams_ptr + j, mask=inside, other=0) == qc)
            kept = inside & ~junk
            before += tl.sum((_earlier(d, j, d_match, i_match) & kept[None, :]).to(tl.int32), axis=1)
        matches_before = tl.zeros((PAIRS,), tl.int32)
        for s0 in range(start, end, PAIRS):
            other_live = s0 + pairs < end
            i_other = tl.load(by_identity_ptr + s0 + pairs, mask=other_live, other=0)
            other_match = other_live & (tl.load(g_cams_ptr + i_other, mask=other_live, other=0) != qc)
            d_other = tl.load(row + i_other, mask=other_match, other=0.0)
            matches_before += tl.sum((_earlier(d_other, i_other, d_match, i_match) & other_match[None, :]).to(tl.int32),
                                     axis=1)
        precision = (matches_before + 1).to(tl.float32) / (before + 1).to(tl.float32)
        ap += tl.sum(tl.where(is_match, precision, 0.0).to(tl.float64), axis=0)
        first = tl.minimum(first, tl.min(tl.where(is_match, before, 2147483647), axis=0))
        matched += tl.sum(is_match.to(tl.int32), axis=0)
    tl.store(first_ptr + r, tl.where(matched > 0, first, -1))
    tl.store(ap_ptr + r, ap / tl.maximum(matched, 1).to(tl.float64))
    tl.store(nrel_ptr + r, matched)


def candidates(q_pids: torch.Tensor, g_pids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(gallery indices grouped by identity, start, end): query r's identity holds
    ``by_identity[start[r]:end[r]]``; built with device ops, without a host sync."""
    order = torch.argsort(g_pids, stable=True)
    sorted_pids = g_pids[order]
    starts = torch.searchsorted(sorted_pids, q_pids, right=False)
    ends = torch.searchsorted(sorted_pids, q_pids, right=True)
    return order.to(torch.int32), starts.to(torch.int32), ends.to(torch.int32)


def query_stats(distmat: torch.Tensor, q_pids: torch.Tensor, g_pids: torch.Tensor, q_camids: torch.Tensor,
                g_camids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(first_match, ap, num_rel) per query, as ``_reference.query_stats`` of a stable argsort of a
    NaN-free float32 ``distmat`` (int64 labels on its device)."""
    m, n = distmat.shape
    by_identity, starts, ends = candidates(q_pids, g_pids)
    first = torch.empty(m, device=distmat.device, dtype=torch.int32)
    ap = torch.empty(m, device=distmat.device, dtype=torch.float64)
    nrel = torch.empty_like(first)
    if m:
        _query_stats[(m,)](distmat, q_pids, g_pids, q_camids, g_camids, by_identity, starts, ends, first, ap, nrel,
                           n, BLOCK=min(BLOCK, triton.next_power_of_2(max(n, 16))), PAIRS=PAIRS, num_warps=4)
    return first.long(), ap, nrel.long()
