"""CR-GAN's output blend XG = XR*XC + XS*(1-XC) and the fused blend + context loss (Eq. 8).

Public functions check shapes, then run the Triton kernels or the PyTorch reference (see
``_dispatch``). Eager calls go straight to the launchers through a ``torch.autograd.Function``
(``_dispatch.run_eager_or_compiled``): a custom op's dispatch cost more than the kernels themselves at
CR-GAN's sizes. Under ``torch.compile`` the same launchers run as custom ops, whose fake
implementations let the compiler trace around them. Inputs keep their dtypes (mixed bfloat16 and
float32 under autocast), and the backward kernels write only the gradients autograd asks for.
"""
from __future__ import annotations

import torch

from crgan.kernels import _reference as ref
from crgan.kernels._dispatch import check_numel, contiguous, promoted_dtype, run_eager_or_compiled, use_triton

Tensor = torch.Tensor


def _triton():
    from crgan.kernels import blend_triton
    return blend_triton


def _check(xr: Tensor, xc: Tensor, xs: Tensor, *others: Tensor) -> None:
    if xs.dim() != 4 or xr.shape != xs.shape:
        raise ValueError(f"blend: xr and xs must both be [N, C, H, W], got {tuple(xr.shape)} and {tuple(xs.shape)}")
    n, _, h, w = xs.shape
    for name, t, shape in zip(("xc", "xt", "mf"), (xc, *others), ((n, 1, h, w), tuple(xs.shape), (n, 1, h, w))):
        if tuple(t.shape) != shape:
            raise ValueError(f"blend: {name} must be {list(shape)} to match xs, got {list(t.shape)}")


def _save_inputs(ctx, inputs, output) -> None:
    """Both fused ops' backward kernels recompute from the inputs (cheaper than saving XG)."""
    ctx.save_for_backward(*inputs)


class _Blend(torch.autograd.Function):
    """The blend's eager path: the launchers called directly."""

    @staticmethod
    def forward(ctx, xr: Tensor, xc: Tensor, xs: Tensor) -> Tensor:
        ctx.save_for_backward(xr, xc, xs)
        return _triton().blend_forward(xr, xc, xs)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        return tuple(_triton().blend_backward(grad.contiguous(), *ctx.saved_tensors, needs=ctx.needs_input_grad))


class _BlendContextLoss(torch.autograd.Function):
    """The fused blend + context loss's eager path: the launchers called directly."""

    @staticmethod
    def forward(ctx, xr: Tensor, xc: Tensor, xs: Tensor, xt: Tensor, mf: Tensor) -> tuple[Tensor, Tensor]:
        ctx.save_for_backward(xr, xc, xs, xt, mf)
        return _triton().blend_context_loss_forward(xr, xc, xs, xt, mf)

    @staticmethod
    def backward(ctx, gxg: Tensor, glcon: Tensor) -> tuple[Tensor | None, ...]:
        return tuple(_triton().blend_context_loss_backward(gxg.contiguous(), glcon, *ctx.saved_tensors,
                                                           needs=ctx.needs_input_grad))


# ---- blend ---------------------------------------------------------------------------------

# Custom ops: what torch.compile sees (fake implementations, registered autograd).
@torch.library.custom_op("crgan::blend", mutates_args=())
def _blend_op(xr: Tensor, xc: Tensor, xs: Tensor) -> Tensor:
    return _triton().blend_forward(xr, xc, xs)


@_blend_op.register_fake
def _(xr: Tensor, xc: Tensor, xs: Tensor) -> Tensor:
    return xs.new_empty(xs.shape, dtype=promoted_dtype(xr, xc, xs))


@torch.library.custom_op("crgan::blend_backward", mutates_args=())
def _blend_backward_op(grad: Tensor, xr: Tensor, xc: Tensor, xs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    return tuple(_triton().blend_backward(grad.contiguous(), xr, xc, xs))


@_blend_backward_op.register_fake
def _(grad: Tensor, xr: Tensor, xc: Tensor, xs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    return torch.empty_like(xr), torch.empty_like(xc), torch.empty_like(xs)


def _blend_backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    return _blend_backward_op(grad, *ctx.saved_tensors)


_blend_op.register_autograd(_blend_backward, setup_context=_save_inputs)


def blend(xr: Tensor, xc: Tensor, xs: Tensor) -> Tensor:
    """XG = XR * XC + XS * (1 - XC): xr, xs [N, C, H, W], xc [N, 1, H, W]; differentiable in all three."""
    _check(xr, xc, xs)
    if not use_triton(xr, xc, xs):
        return ref.blend(xr, xc, xs)
    check_numel(xs.shape)
    return run_eager_or_compiled(_Blend, _blend_op, *contiguous(xr, xc, xs))


# ---- blend + context loss ------------------------------------------------------------------

@torch.library.custom_op("crgan::blend_context_loss", mutates_args=())
def _blend_con_op(xr: Tensor, xc: Tensor, xs: Tensor, xt: Tensor, mf: Tensor) -> tuple[Tensor, Tensor]:
    return _triton().blend_context_loss_forward(xr, xc, xs, xt, mf)


@_blend_con_op.register_fake
def _(xr: Tensor, xc: Tensor, xs: Tensor, xt: Tensor, mf: Tensor) -> tuple[Tensor, Tensor]:
    return xs.new_empty(xs.shape, dtype=promoted_dtype(xr, xc, xs)), xs.new_empty((), dtype=promoted_dtype(xr, xc, xs, xt, mf))


@torch.library.custom_op("crgan::blend_context_loss_backward", mutates_args=())
def _blend_con_backward_op(gxg: Tensor, glcon: Tensor, xr: Tensor, xc: Tensor, xs: Tensor, xt: Tensor,
                           mf: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    return tuple(_triton().blend_context_loss_backward(gxg.contiguous(), glcon, xr, xc, xs, xt, mf))


@_blend_con_backward_op.register_fake
def _(gxg, glcon, xr, xc, xs, xt, mf):
    return tuple(torch.empty_like(t) for t in (xr, xc, xs, xt, mf))


def _blend_con_backward(ctx, gxg: Tensor, glcon: Tensor) -> tuple[Tensor, ...]:
    return _blend_con_backward_op(gxg, glcon, *ctx.saved_tensors)


_blend_con_op.register_autograd(_blend_con_backward, setup_context=_save_inputs)


def blend_context_loss(xr: Tensor, xc: Tensor, xs: Tensor, xt: Tensor, mf: Tensor) -> tuple[Tensor, Tensor]:
    """(XG, Lcon): XG = blend(xr, xc, xs) and Lcon = mean(((XG-XS)*MF)^2) + mean(((XG-XT)*(1-MF))^2).

    xt has xs's shape, mf (XS's person mask) is [N, 1, H, W]. The Triton path reads every input
    once forward and once backward.
    """
    _check(xr, xc, xs, xt, mf)
    if not use_triton(xr, xc, xs, xt, mf):
        return ref.blend_context_loss(xr, xc, xs, xt, mf)
    check_numel(xs.shape)
    return run_eager_or_compiled(_BlendContextLoss, _blend_con_op, *contiguous(xr, xc, xs, xt, mf))
