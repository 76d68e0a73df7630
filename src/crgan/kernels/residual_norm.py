"""Residual Instance-Norm fusion y = x + IN(h) * weight + bias (the generator's residual blocks).

The eager composition reads h twice and writes the normalised tensor before the add; the
Triton op reads x and h once per pass and writes y, forward and backward. Eager calls run the
launchers through a ``torch.autograd.Function``, ``torch.compile`` sees a custom op (see
``crgan.kernels.blend``); x and h keep their dtypes, and the backward pass computes only the
gradients autograd asks for.
"""
from __future__ import annotations

import torch

from crgan.kernels import _reference as ref
from crgan.kernels._dispatch import check_numel, contiguous, run_eager_or_compiled, use_triton

Tensor = torch.Tensor


def _triton():
    from crgan.kernels import residual_norm_triton
    return residual_norm_triton


class _ResidualInstanceNorm(torch.autograd.Function):
    """The eager path: the launchers called directly."""

    @staticmethod
    def forward(ctx, x: Tensor, h: Tensor, weight: Tensor, bias: Tensor, eps: float) -> Tensor:
        y, mean, rstd = _triton().forward(x, h, weight, bias, eps)
        ctx.save_for_backward(h, weight, mean, rstd)
        return y

    @staticmethod
    def backward(ctx, gy: Tensor) -> tuple[Tensor | None, ...]:
        need_x, need_h, need_weight, need_bias, _ = ctx.needs_input_grad
        gh, gw, gb = _triton().backward(gy.contiguous(), *ctx.saved_tensors, need_h=need_h,
                                        need_affine=need_weight or need_bias)
        return gy if need_x else None, gh, gw if need_weight else None, gb if need_bias else None, None


def _residual_instance_norm_op(x: Tensor, h: Tensor, weight: Tensor, bias: Tensor, eps: float) -> Tensor:
    """The custom op's output y (its other outputs are the saved statistics)."""
    return _res_in_op(x, h, weight, bias, eps)[0]


# Custom ops: what torch.compile sees (fake implementations, registered autograd).
@torch.library.custom_op("crgan::residual_instance_norm", mutates_args=())
def _res_in_op(x: Tensor, h: Tensor, weight: Tensor, bias: Tensor, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    return _triton().forward(x, h, weight, bias, eps)


@_res_in_op.register_fake
def _(x: Tensor, h: Tensor, weight: Tensor, bias: Tensor, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    stats = h.new_empty(h.shape[0] * h.shape[1], dtype=torch.float32)
    return x.new_empty(x.shape, dtype=torch.promote_types(x.dtype, h.dtype)), stats, torch.empty_like(stats)


@torch.library.custom_op("crgan::residual_instance_norm_backward", mutates_args=())
def _res_in_backward_op(gy: Tensor, h: Tensor, weight: Tensor, mean: Tensor, rstd: Tensor
                        ) -> tuple[Tensor, Tensor, Tensor]:
    return _triton().backward(gy.contiguous(), h, weight, mean, rstd)


@_res_in_backward_op.register_fake
def _(gy: Tensor, h: Tensor, weight: Tensor, mean: Tensor, rstd: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    return torch.empty_like(h), torch.empty_like(weight), torch.empty_like(weight)


def _setup(ctx, inputs, output) -> None:
    _, h, weight, _, _ = inputs
    _, mean, rstd = output
    ctx.mark_non_differentiable(mean, rstd)
    ctx.save_for_backward(h, weight, mean, rstd)


def _backward(ctx, gy: Tensor, _gmean: Tensor, _grstd: Tensor) -> tuple[Tensor | None, ...]:
    gh, gw, gb = _res_in_backward_op(gy, *ctx.saved_tensors)
    return gy, gh, gw, gb, None


_res_in_op.register_autograd(_backward, setup_context=_setup)


def residual_instance_norm(x: Tensor, h: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    """x + InstanceNorm(h) * weight + bias; x, h [N, C, H, W], weight and bias [C]; fused forward and backward."""
    if h.dim() != 4 or x.shape != h.shape:
        raise ValueError(f"residual_instance_norm: x and h must both be [N, C, H, W], "
                         f"got {tuple(x.shape)} and {tuple(h.shape)}")
    if weight.shape != (h.shape[1],) or bias.shape != (h.shape[1],):
        raise ValueError(f"residual_instance_norm: weight and bias must be [{h.shape[1]}], "
                         f"got {list(weight.shape)} and {list(bias.shape)}")
    if h.shape[2] * h.shape[3] < 2:
        raise ValueError(f"residual_instance_norm: instance norm needs more than one value per channel, "
                         f"got spatial size {tuple(h.shape[2:])}")
    if not use_triton(x, h, weight, bias):
        return ref.residual_instance_norm(x, h, weight, bias, eps)
    check_numel(h.shape)
    return run_eager_or_compiled(_ResidualInstanceNorm, _residual_instance_norm_op, *contiguous(x, h, weight, bias),
                                 float(eps))
