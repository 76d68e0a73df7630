"""Distance matrix between query and gallery features for re-id evaluation.

Squared Euclidean (torchreid's default, on L2-normalised features a monotone function of the
cosine) or 1 - cosine, always in float32 (bfloat16 distances create ties that move CMC/mAP).
The Triton op fuses the norms into the tiled product; its backward is two matrix products in
PyTorch, so the op stays differentiable for feature-level losses. Where it does not beat the
library it is not used: float32 inputs at IEEE precision take cuBLAS through the PyTorch reference
under ``CRGAN_KERNELS=auto`` (measured on an H200: the IEEE kernel 16.8 ms, cuBLAS 4.9 ms at
Market's size); the kernel serves three-TF32 products and bfloat16/float16 features, and any
input under ``CRGAN_KERNELS=triton``.
"""
from __future__ import annotations

import torch

from crgan.kernels import _reference as ref
from crgan.kernels._dispatch import check_numel, requested, same_dtype_contiguous, use_triton

Tensor = torch.Tensor
METRICS = ("euclidean", "cosine")
#: Products of float32 inputs in the Triton kernel: exact IEEE float32, or three TF32 products.
PRECISIONS = ("ieee", "tf32x3")


@torch.library.custom_op("crgan::pairwise_distance", mutates_args=())
def _distance_op(q: Tensor, g: Tensor, cosine: bool, precision: str) -> Tensor:
    from crgan.kernels import distance_triton
    return distance_triton.distance(q, g, cosine, precision)


@_distance_op.register_fake
def _(q: Tensor, g: Tensor, cosine: bool, precision: str) -> Tensor:
    return q.new_empty(q.shape[0], g.shape[0], dtype=torch.float32)


def _setup(ctx, inputs, output) -> None:
    q, g, cosine, _ = inputs
    ctx.cosine = cosine
    ctx.save_for_backward(q, g, output)


def _backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor, None, None]:
    q, g, dist = ctx.saved_tensors
    grad = grad.float()
    qf, gf = q.float(), g.float()
    if ctx.cosine:  # d = 1 - qh.gh with qh = q/|q|: dqh = -grad @ gh, dq = (dqh - qh (qh.dqh)) / |q|
        qn, gn = qf.norm(dim=1, keepdim=True).clamp_min(1e-12), gf.norm(dim=1, keepdim=True).clamp_min(1e-12)
        qh, gh = qf / qn, gf / gn
        dqh, dgh = -grad @ gh, -grad.T @ qh
        dq = (dqh - qh * (qh * dqh).sum(1, keepdim=True)) / qn
        dg = (dgh - gh * (gh * dgh).sum(1, keepdim=True)) / gn
    else:  # d = |q|^2 + |g|^2 - 2 q.g where not clamped
        grad = grad * (dist > 0)
        dq = 2 * (grad.sum(1, keepdim=True) * qf - grad @ gf)
        dg = 2 * (grad.sum(0)[:, None] * gf - grad.T @ qf)
    return dq.to(q.dtype), dg.to(g.dtype), None, None


_distance_op.register_autograd(_backward, setup_context=_setup)


def pairwise_distance(q: Tensor, g: Tensor, metric: str = "euclidean", precision: str = "ieee") -> Tensor:
    """[M, D] x [N, D] -> [M, N] float32: squared Euclidean distance (as torchreid) or 1 - cosine similarity.

    ``precision`` chooses the Triton kernel's products for float32 inputs (``PRECISIONS``); the
    PyTorch reference computes in the inputs' precision (float32 for lower-precision inputs).
    """
    if metric not in METRICS:
        raise ValueError(f"unknown distance metric {metric!r} (expected one of {', '.join(METRICS)})")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown distance precision {precision!r} (expected one of {', '.join(PRECISIONS)})")
    if q.dim() != 2 or g.dim() != 2 or q.shape[1] != g.shape[1]:
        raise ValueError(f"pairwise_distance: expected [M, D] and [N, D], got {tuple(q.shape)} and {tuple(g.shape)}")
    library_wins = precision == "ieee" and q.dtype == g.dtype == torch.float32 and requested() == "auto"
    if library_wins or not use_triton(q, g):
        if q.dtype in (torch.bfloat16, torch.float16) or g.dtype in (torch.bfloat16, torch.float16):
            q, g = q.float(), g.float()
        return ref.pairwise_distance(q, g, metric)
    q, g = same_dtype_contiguous(q, g)
    check_numel(q.shape, g.shape, (q.shape[0], g.shape[0]))
    return _distance_op(q, g, metric == "cosine", precision)
