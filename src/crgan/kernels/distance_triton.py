"""Triton kernel for the query x gallery distance matrix: a tiled dot product with fused norms.

Each program computes a BM x BN tile of q @ g.T over D in BK chunks (float32 accumulation),
summing the squared entries of the same tiles for the norms, and writes the distance in float32
whatever the input dtype (bfloat16 distances would tie thousands of gallery images and shift
CMC/mAP): squared Euclidean |q|^2 + |g|^2 - 2 q.g (clamped at 0) or 1 - q.g / (|q| |g|).

Products: float32 inputs use ``precision`` (``crgan.kernels.distance.PRECISIONS``): ``ieee`` (default; exact float32
products, rankings equal to the CPU's) or ``tf32x3`` (three TF32 tensor-core products, about
float32 accuracy at fewer registers); bfloat16/float16 inputs use the tensor cores directly.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from crgan.kernels._dispatch import interpreting

BM, BN, BK = 64, 64, 32


@triton.jit
def _distance(q_ptr, g_ptr, out_ptr, M, N, D, COSINE: tl.constexpr, UPCAST: tl.constexpr,
              PRECISION: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    rm = tl.program_id(0) * BM + tl.arange(0, BM)
    rn = tl.program_id(1) * BN + tl.arange(0, BN)
    rk = tl.arange(0, BK)
    dot = tl.zeros((BM, BN), tl.float32)
    qn = tl.zeros((BM,), tl.float32)
    gn = tl.zeros((BN,), tl.float32)
    for k0 in range(0, D, BK):
        kk = k0 + rk
        q = tl.load(q_ptr + rm[:, None] * D + kk[None, :], mask=(rm[:, None] < M) & (kk[None, :] < D), other=0.0)
        g = tl.load(g_ptr + rn[:, None] * D + kk[None, :], mask=(rn[:, None] < N) & (kk[None, :] < D), other=0.0)
        qf = q.to(tl.float32)
        gf = g.to(tl.float32)
        qn += tl.sum(qf * qf, axis=1)
        gn += tl.sum(gf * gf, axis=1)
        if UPCAST:  # float32 inputs, and the interpreter (whose bfloat16 dot is wrong)
            dot = tl.dot(qf, tl.trans(gf), dot, input_precision=PRECISION)
        else:
            dot = tl.dot(q, tl.trans(g), dot)
    if COSINE:
        denom = tl.maximum(tl.sqrt(qn), 1e-12)[:, None] * tl.maximum(tl.sqrt(gn), 1e-12)[None, :]
        dist = 1.0 - dot / denom
    else:
        dist = tl.maximum(qn[:, None] + gn[None, :] - 2.0 * dot, 0.0)
    tl.store(out_ptr + rm[:, None] * N + rn[None, :], dist.to(out_ptr.dtype.element_ty),
             mask=(rm[:, None] < M) & (rn[None, :] < N))


def distance(q: torch.Tensor, g: torch.Tensor, cosine: bool, precision: str = "ieee") -> torch.Tensor:
    """[M, D] x [N, D] -> [M, N] in float32 (see the module docstring for ``precision``)."""
    m, n = q.shape[0], g.shape[0]
    out = torch.empty(m, n, device=q.device, dtype=torch.float32)
    grid = (triton.cdiv(m, BM), triton.cdiv(n, BN))
    # the interpreter computes every dot in IEEE float32
    _distance[grid](q, g, out, m, n, q.shape[1], COSINE=cosine, UPCAST=q.dtype == torch.float32 or interpreting(),
                    PRECISION="ieee" if interpreting() else precision, BM=BM, BN=BN, BK=BK, num_warps=4, num_stages=3)
    return out
