"""Triton kernels for y = x + InstanceNorm(h) * weight + bias, forward and backward, with launchers.

One program per (sample, channel) row of H*W values, walked in BLOCK chunks: the forward pass
takes the mean, then the centred variance (two passes, stable in float32), then writes y and
keeps mean and 1/std for the backward pass. The backward pass writes dh and one partial of
dweight and dbias per row; the launcher sums the partials over the batch (no atomics).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

MAX_BLOCK = 2048


@triton.jit
def _res_in_fwd(x_ptr, h_ptr, w_ptr, b_ptr, y_ptr, mean_ptr, rstd_ptr, C, HW, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    base = row * HW
    cols = tl.arange(0, BLOCK)
    acc = tl.zeros((BLOCK,), tl.float32)
    for start in range(0, HW, BLOCK):
        live = start + cols < HW
        acc += tl.load(h_ptr + base + start + cols, mask=live, other=0.0).to(tl.float32)
    mean = tl.sum(acc, axis=0) / HW
    acc = tl.zeros((BLOCK,), tl.float32)
    for start in range(0, HW, BLOCK):
        live = start + cols < HW
        d = tl.load(h_ptr + base + start + cols, mask=live, other=0.0).to(tl.float32) - mean
        acc += tl.where(live, d * d, 0.0)
    rstd = 1.0 / tl.sqrt(tl.sum(acc, axis=0) / HW + eps)
    c = row % C
    scale = tl.load(w_ptr + c).to(tl.float32) * rstd
    shift = tl.load(b_ptr + c).to(tl.float32) - mean * scale
    for start in range(0, HW, BLOCK):
        live = start + cols < HW
        h = tl.load(h_ptr + base + start + cols, mask=live, other=0.0).to(tl.float32)
        x = tl.load(x_ptr + base + start + cols, mask=live, other=0.0).to(tl.float32)
        tl.store(y_ptr + base + start + cols, (x + h * scale + shift).to(y_ptr.dtype.element_ty), mask=live)
    tl.store(mean_ptr + row, mean)
    tl.store(rstd_ptr + row, rstd)


@triton.jit
def _res_in_bwd(gy_ptr, h_ptr, w_ptr, mean_ptr, rstd_ptr, gh_ptr, gw_ptr, gb_ptr, C, HW, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    base = row * HW
    cols = tl.arange(0, BLOCK)
    mean = tl.load(mean_ptr + row)
    rstd = tl.load(rstd_ptr + row)
    sum_g = tl.zeros((BLOCK,), tl.float32)
    sum_gx = tl.zeros((BLOCK,), tl.float32)
    for start in range(0, HW, BLOCK):
        live = start + cols < HW
        g = tl.load(gy_ptr + base + start + cols, mask=live, other=0.0).to(tl.float32)
        h = tl.load(h_ptr + base + start + cols, mask=live, other=0.0).to(tl.float32)
        sum_g += g
        sum_gx += tl.where(live, g * (h - mean) * rstd, 0.0)
    mean_g = tl.sum(sum_g, axis=0) / HW
    mean_gx = tl.sum(sum_gx, axis=0) / HW
    k = tl.load(w_ptr + row % C).to(tl.float32) * rstd
    for start in range(0, HW, BLOCK):
        live = start + cols < HW
        g = tl.load(gy_ptr + base + start + cols, mask=live, other=0.0).to(tl.float32)
        h = tl.load(h_ptr + base + start + cols, mask=live, other=0.0).to(tl.float32)
        gh = k * (g - mean_g - (h - mean) * rstd * mean_gx)
        tl.store(gh_ptr + base + start + cols, gh.to(gh_ptr.dtype.element_ty), mask=live)
    tl.store(gw_ptr + row, mean_gx * HW)
    tl.store(gb_ptr + row, mean_g * HW)


def _block(hw: int) -> int:
    return min(triton.next_power_of_2(hw), MAX_BLOCK)


def forward(x: torch.Tensor, h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(y, mean, rstd); mean and rstd are float32 per (sample, channel)."""
    n, c, hh, ww = h.shape
    y = torch.empty_like(x)
    mean = torch.empty(n * c, device=h.device, dtype=torch.float32)
    rstd = torch.empty_like(mean)
    _res_in_fwd[(n * c,)](x, h, weight, bias, y, mean, rstd, c, hh * ww, eps, BLOCK=_block(hh * ww))
    return y, mean, rstd


def backward(gy: torch.Tensor, h: torch.Tensor, weight: torch.Tensor, mean: torch.Tensor, rstd: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(dh, dweight, dbias); dx is gy itself."""
    n, c, hh, ww = h.shape
    gh = torch.empty_like(h)
    gw = torch.empty(n, c, device=h.device, dtype=torch.float32)
    gb = torch.empty_like(gw)
    _res_in_bwd[(n * c,)](gy, h, weight, mean, rstd, gh, gw, gb, c, hh * ww, BLOCK=_block(hh * ww))
    return gh, gw.sum(0).to(weight.dtype), gb.sum(0).to(weight.dtype)
