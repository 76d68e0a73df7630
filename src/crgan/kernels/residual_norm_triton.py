"""Triton kernels for y = x + InstanceNorm(h) * weight + bias, forward and backward, with launchers.

Each program takes ROWS (sample, channel) rows of H*W values as one [ROWS, BLOCK] tile and walks
the rows in BLOCK chunks: the forward pass takes the mean, then the centred variance (two passes,
stable in float32), then writes y and keeps mean and 1/std for the backward pass. The backward
pass writes dh and one partial of dweight and dbias per row; the launcher sums the partials over
the batch (no atomics). ROWS grows as rows shrink, so a program holds about ``TILE`` values:
the paper generator's 8x4 maps (32 values a row) then fill a program with 64 rows instead of
launching one 32-value program per row. Inputs may differ in dtype (read in their own, float32
arithmetic); y takes their promoted dtype, as eager PyTorch, and each gradient its input's; the backward pass writes only the
gradients asked for.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from crgan.kernels._dispatch import skipped_as

#: Values per program (ROWS x BLOCK) and the longest chunk of one row.
TILE = 2048
MAX_BLOCK = 2048


@triton.jit
def _tile(R, HW, start, ROWS: tl.constexpr, BLOCK: tl.constexpr):
    """This program's rows [ROWS], which are live, and the flat offsets and mask of chunk ``start`` [ROWS, BLOCK]."""
    rows = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
    live_rows = rows < R
    cols = start + tl.arange(0, BLOCK)
    offsets = rows[:, None].to(tl.int64) * HW + cols[None, :]
    return rows, live_rows, offsets, live_rows[:, None] & (cols[None, :] < HW)


@triton.jit
def _res_in_fwd(x_ptr, h_ptr, w_ptr, b_ptr, y_ptr, mean_ptr, rstd_ptr, R, C, HW, eps,
                ROWS: tl.constexpr, BLOCK: tl.constexpr):
    acc = tl.zeros((ROWS, BLOCK), tl.float32)
    for start in range(0, HW, BLOCK):
        rows, live_rows, off, live = _tile(R, HW, start, ROWS, BLOCK)
        acc += tl.load(h_ptr + off, mask=live, other=0.0).to(tl.float32)
    mean = tl.sum(acc, axis=1) / HW
    acc = tl.zeros((ROWS, BLOCK), tl.float32)
    for start in range(0, HW, BLOCK):
        rows, live_rows, off, live = _tile(R, HW, start, ROWS, BLOCK)
        d = tl.load(h_ptr + off, mask=live, other=0.0).to(tl.float32) - mean[:, None]
        acc += tl.where(live, d * d, 0.0)
    rstd = 1.0 / tl.sqrt(tl.sum(acc, axis=1) / HW + eps)
    rows, live_rows, off, live = _tile(R, HW, 0, ROWS, BLOCK)
    c = rows % C
    scale = tl.load(w_ptr + c, mask=live_rows, other=0.0).to(tl.float32) * rstd
    shift = tl.load(b_ptr + c, mask=live_rows, other=0.0).to(tl.float32) - mean * scale
    for start in range(0, HW, BLOCK):
        rows, live_rows, off, live = _tile(R, HW, start, ROWS, BLOCK)
        h = tl.load(h_ptr + off, mask=live, other=0.0).to(tl.float32)
        x = tl.load(x_ptr + off, mask=live, other=0.0).to(tl.float32)
        y = x + h * scale[:, None] + shift[:, None]
        tl.store(y_ptr + off, y.to(y_ptr.dtype.element_ty), mask=live)
    tl.store(mean_ptr + rows, mean, mask=live_rows)
    tl.store(rstd_ptr + rows, rstd, mask=live_rows)


@triton.jit
def _res_in_bwd(gy_ptr, h_ptr, w_ptr, mean_ptr, rstd_ptr, gh_ptr, gw_ptr, gb_ptr, R, C, HW,
                ROWS: tl.constexpr, BLOCK: tl.constexpr, NEED_H: tl.constexpr, NEED_AFFINE: tl.constexpr):
    rows, live_rows, off, live = _tile(R, HW, 0, ROWS, BLOCK)
    mean = tl.load(mean_ptr + rows, mask=live_rows, other=0.0)
    rstd = tl.load(rstd_ptr + rows, mask=live_rows, other=0.0)
    sum_g = tl.zeros((ROWS, BLOCK), tl.float32)
    sum_gx = tl.zeros((ROWS, BLOCK), tl.float32)
    for start in range(0, HW, BLOCK):
        rows, live_rows, off, live = _tile(R, HW, start, ROWS, BLOCK)
        g = tl.load(gy_ptr + off, mask=live, other=0.0).to(tl.float32)
        h = tl.load(h_ptr + off, mask=live, other=0.0).to(tl.float32)
        sum_g += g
        sum_gx += tl.where(live, g * (h - mean[:, None]) * rstd[:, None], 0.0)
    mean_g = tl.sum(sum_g, axis=1) / HW
    mean_gx = tl.sum(sum_gx, axis=1) / HW
    if NEED_H:
        k = tl.load(w_ptr + rows % C, mask=live_rows, other=0.0).to(tl.float32) * rstd
        for start in range(0, HW, BLOCK):
            rows, live_rows, off, live = _tile(R, HW, start, ROWS, BLOCK)
            g = tl.load(gy_ptr + off, mask=live, other=0.0).to(tl.float32)
            h = tl.load(h_ptr + off, mask=live, other=0.0).to(tl.float32)
            gh = k[:, None] * (g - mean_g[:, None] - (h - mean[:, None]) * rstd[:, None] * mean_gx[:, None])
            tl.store(gh_ptr + off, gh.to(gh_ptr.dtype.element_ty), mask=live)
    if NEED_AFFINE:
        tl.store(gw_ptr + rows, mean_gx * HW, mask=live_rows)
        tl.store(gb_ptr + rows, mean_g * HW, mask=live_rows)


def _shape(hw: int) -> tuple[int, int]:
    """(ROWS, BLOCK) of a program for rows of ``hw`` values: about TILE values a program."""
    block = min(triton.next_power_of_2(hw), MAX_BLOCK)
    return max(1, TILE // block), block


def forward(x: torch.Tensor, h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(y, mean, rstd); mean and rstd are float32 per (sample, channel)."""
    n, c, hh, ww = h.shape
    y = torch.empty(x.shape, device=x.device, dtype=torch.promote_types(x.dtype, h.dtype))
    mean = torch.empty(n * c, device=h.device, dtype=torch.float32)
    rstd = torch.empty_like(mean)
    rows, block = _shape(hh * ww)
    _res_in_fwd[(triton.cdiv(n * c, rows),)](x, h, weight, bias, y, mean, rstd, n * c, c, hh * ww, eps,
                                              ROWS=rows, BLOCK=block)
    return y, mean, rstd


def backward(gy: torch.Tensor, h: torch.Tensor, weight: torch.Tensor, mean: torch.Tensor, rstd: torch.Tensor,
             need_h: bool = True, need_affine: bool = True
             ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """(dh, dweight, dbias), None where not asked for; dx is gy itself."""
    n, c, hh, ww = h.shape
    gh = torch.empty_like(h) if need_h else None
    partial_w = torch.empty(n, c, device=h.device, dtype=torch.float32) if need_affine else None
    partial_b = torch.empty_like(partial_w) if need_affine else None
    rows, block = _shape(hh * ww)
    _res_in_bwd[(triton.cdiv(n * c, rows),)](gy, h, weight, mean, rstd, *skipped_as([gh, partial_w, partial_b], mean),
                                              n * c, c, hh * ww,
                                              ROWS=rows, BLOCK=block, NEED_H=need_h, NEED_AFFINE=need_affine)
    if not need_affine:
        return gh, None, None
    return gh, partial_w.sum(0).to(weight.dtype), partial_b.sum(0).to(weight.dtype)
