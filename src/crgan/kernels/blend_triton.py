"""Triton kernels for the CR-GAN output blend and the fused blend + context loss, with launchers.

Images are contiguous [N, C, H, W] and masks [N, 1, H, W]. Each program takes BLOCK pixels of
the flattened (N, H*W) plane and loops over the C channels, so the mask is read once per pixel
and every tensor is touched once per pass. Arithmetic is in float32 whatever the storage types,
which may differ between inputs (a bfloat16 rendering under autocast beside float32 images): each
is read in its own dtype, the output is written in their promoted dtype and each gradient in its
input's. The backward kernels write only the gradients asked for (``needs``; a constexpr per
output, so a skipped one costs nothing). The context-loss sum is written as one float32 partial
per program and summed by the launcher (deterministic, no atomics).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from crgan.kernels._dispatch import promoted_dtype, skipped_as

BLOCK = 1024
NUM_WARPS = 4


@triton.jit
def _pixels(P, C, HW, BLOCK: tl.constexpr):
    """This program's flat pixel indices p in [0, N*H*W), which are live, and channel 0's offset of each."""
    p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    n = p // HW
    return p, p < P, n * C * HW + (p - n * HW)


@triton.jit
def _load(ptr, off, live):
    return tl.load(ptr + off, mask=live, other=0.0).to(tl.float32)


@triton.jit
def _mix(xr, xc, xs):
    """XG = XR*XC + XS*(1-XC) on loaded float32 values."""
    return xr * xc + xs * (1.0 - xc)


@triton.jit
def _context_channel(xr_ptr, xs_ptr, xt_ptr, xc, off, live):
    """One channel of the fused blend + context loss: XR, XS and XT loaded (float32) and XG blended."""
    xr = _load(xr_ptr, off, live)
    xs = _load(xs_ptr, off, live)
    xt = _load(xt_ptr, off, live)
    return xr, xs, xt, _mix(xr, xc, xs)


@triton.jit
def _blend_fwd(xr_ptr, xc_ptr, xs_ptr, xg_ptr, P, C, HW, BLOCK: tl.constexpr):
    p, live, base = _pixels(P, C, HW, BLOCK)
    xc = _load(xc_ptr, p, live)
    for c in range(C):
        off = base + c * HW
        xr = _load(xr_ptr, off, live)
        xs = _load(xs_ptr, off, live)
        tl.store(xg_ptr + off, _mix(xr, xc, xs).to(xg_ptr.dtype.element_ty), mask=live)


@triton.jit
def _blend_bwd(gxg_ptr, xr_ptr, xc_ptr, xs_ptr, gxr_ptr, gxc_ptr, gxs_ptr, P, C, HW, BLOCK: tl.constexpr,
               NEED_XR: tl.constexpr, NEED_XC: tl.constexpr, NEED_XS: tl.constexpr):
    p, live, base = _pixels(P, C, HW, BLOCK)
    xc = _load(xc_ptr, p, live)
    gxc = tl.zeros((BLOCK,), tl.float32)
    for c in range(C):
        off = base + c * HW
        g = _load(gxg_ptr, off, live)
        if NEED_XR:
            tl.store(gxr_ptr + off, (g * xc).to(gxr_ptr.dtype.element_ty), mask=live)
        if NEED_XS:
            tl.store(gxs_ptr + off, (g * (1.0 - xc)).to(gxs_ptr.dtype.element_ty), mask=live)
        if NEED_XC:
            gxc += g * (_load(xr_ptr, off, live) - _load(xs_ptr, off, live))
    if NEED_XC:
        tl.store(gxc_ptr + p, gxc.to(gxc_ptr.dtype.element_ty), mask=live)


@triton.jit
def _blend_con_fwd(xr_ptr, xc_ptr, xs_ptr, xt_ptr, mf_ptr, xg_ptr, partial_ptr, P, C, HW, BLOCK: tl.constexpr):
    p, live, base = _pixels(P, C, HW, BLOCK)
    xc = _load(xc_ptr, p, live)
    mf = _load(mf_ptr, p, live)
    mb = 1.0 - mf
    acc = tl.zeros((BLOCK,), tl.float32)
    for c in range(C):
        off = base + c * HW
        xr, xs, xt, xg = _context_channel(xr_ptr, xs_ptr, xt_ptr, xc, off, live)
        tl.store(xg_ptr + off, xg.to(xg_ptr.dtype.element_ty), mask=live)
        ds = (xg - xs) * mf
        dt = (xg - xt) * mb
        acc += tl.where(live, ds * ds + dt * dt, 0.0)
    tl.store(partial_ptr + tl.program_id(0), tl.sum(acc, axis=0))


@triton.jit
def _blend_con_bwd(gxg_ptr, glcon_ptr, xr_ptr, xc_ptr, xs_ptr, xt_ptr, mf_ptr,
                   gxr_ptr, gxc_ptr, gxs_ptr, gxt_ptr, gmf_ptr, P, C, HW, inv_numel, BLOCK: tl.constexpr,
                   NEED_XR: tl.constexpr, NEED_XC: tl.constexpr, NEED_XS: tl.constexpr, NEED_XT: tl.constexpr,
                   NEED_MF: tl.constexpr):
    p, live, base = _pixels(P, C, HW, BLOCK)
    scale = 2.0 * inv_numel * tl.load(glcon_ptr).to(tl.float32)  # d Lcon / d (squared term)
    xc = _load(xc_ptr, p, live)
    mf = _load(mf_ptr, p, live)
    mb = 1.0 - mf
    gxc = tl.zeros((BLOCK,), tl.float32)
    gmf = tl.zeros((BLOCK,), tl.float32)
    for c in range(C):
        off = base + c * HW
        g = _load(gxg_ptr, off, live)
        xr, xs, xt, xg = _context_channel(xr_ptr, xs_ptr, xt_ptr, xc, off, live)
        es = xg - xs
        et = xg - xt
        gs = scale * es * mf * mf   # d Lcon / d XG through the person term
        gt = scale * et * mb * mb   # ... through the background term
        gtot = g + gs + gt
        if NEED_XR:
            tl.store(gxr_ptr + off, (gtot * xc).to(gxr_ptr.dtype.element_ty), mask=live)
        if NEED_XS:
            tl.store(gxs_ptr + off, (gtot * (1.0 - xc) - gs).to(gxs_ptr.dtype.element_ty), mask=live)
        if NEED_XT:
            tl.store(gxt_ptr + off, (-gt).to(gxt_ptr.dtype.element_ty), mask=live)
        gxc += gtot * (xr - xs)
        gmf += scale * (es * es * mf - et * et * mb)
    if NEED_XC:
        tl.store(gxc_ptr + p, gxc.to(gxc_ptr.dtype.element_ty), mask=live)
    if NEED_MF:
        tl.store(gmf_ptr + p, gmf.to(gmf_ptr.dtype.element_ty), mask=live)


#: Which inputs' gradients a backward launcher writes, in input order (all by default).
Needs = tuple[bool, ...]


def _geometry(x: torch.Tensor) -> tuple[int, int, int, tuple[int]]:
    n, c, h, w = x.shape
    return n * h * w, c, h * w, (triton.cdiv(n * h * w, BLOCK),)


def _gradients(inputs: tuple[torch.Tensor, ...], needs: Needs) -> list[torch.Tensor | None]:
    """An empty gradient like each input that needs one, None for the others."""
    return [torch.empty_like(t) if need else None for t, need in zip(inputs, needs)]


def blend_forward(xr: torch.Tensor, xc: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    xg = torch.empty(xs.shape, device=xs.device, dtype=promoted_dtype(xr, xc, xs))
    P, C, HW, grid = _geometry(xs)
    _blend_fwd[grid](xr, xc, xs, xg, P, C, HW, BLOCK=BLOCK, num_warps=NUM_WARPS)
    return xg


def blend_backward(gxg: torch.Tensor, xr: torch.Tensor, xc: torch.Tensor, xs: torch.Tensor,
                   needs: Needs = (True,) * 3) -> list[torch.Tensor | None]:
    """(dxr, dxc, dxs), None where ``needs`` says no."""
    grads = _gradients((xr, xc, xs), needs)
    P, C, HW, grid = _geometry(xs)
    _blend_bwd[grid](gxg, xr, xc, xs, *skipped_as(grads, gxg), P, C, HW, BLOCK=BLOCK,
                     NEED_XR=needs[0], NEED_XC=needs[1], NEED_XS=needs[2], num_warps=NUM_WARPS)
    return grads


def blend_context_loss_forward(xr: torch.Tensor, xc: torch.Tensor, xs: torch.Tensor, xt: torch.Tensor,
                               mf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    dtype = promoted_dtype(xr, xc, xs, xt, mf)
    xg = torch.empty(xs.shape, device=xs.device, dtype=promoted_dtype(xr, xc, xs))
    P, C, HW, grid = _geometry(xs)
    partial = torch.empty(grid[0], device=xs.device, dtype=torch.float32)
    _blend_con_fwd[grid](xr, xc, xs, xt, mf, xg, partial, P, C, HW, BLOCK=BLOCK, num_warps=NUM_WARPS)
    return xg, (partial.sum() / xs.numel()).to(dtype)


def blend_context_loss_backward(gxg: torch.Tensor, glcon: torch.Tensor, xr: torch.Tensor, xc: torch.Tensor,
                                xs: torch.Tensor, xt: torch.Tensor, mf: torch.Tensor,
                                needs: Needs = (True,) * 5) -> list[torch.Tensor | None]:
    """(dxr, dxc, dxs, dxt, dmf), None where ``needs`` says no."""
    grads = _gradients((xr, xc, xs, xt, mf), needs)
    P, C, HW, grid = _geometry(xs)
    _blend_con_bwd[grid](gxg, glcon.reshape(1), xr, xc, xs, xt, mf, *skipped_as(grads, gxg), P, C, HW,
                         1.0 / xs.numel(), BLOCK=BLOCK, NEED_XR=needs[0], NEED_XC=needs[1], NEED_XS=needs[2],
                         NEED_XT=needs[3], NEED_MF=needs[4], num_warps=NUM_WARPS)
    return grads
