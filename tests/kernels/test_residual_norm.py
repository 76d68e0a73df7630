"""residual_instance_norm: Triton kernel against the PyTorch reference and nn.InstanceNorm2d."""
from __future__ import annotations

import pytest
import torch
from kernel_checks import LaunchRecorder, assert_matches, inputs
from torch import nn

from crgan import kernels
from crgan.kernels import _reference as ref

# N = C = 1 with two values, H or W = 1, odd sizes, a row longer than one block (2048), and the
# paper generator's small maps: many rows a program, the last program part-filled
SHAPES = [(1, 1, 1, 2), (2, 3, 5, 7), (1, 4, 1, 9), (3, 2, 11, 1), (1, 2, 50, 51), (4, 70, 8, 4), (3, 5, 1, 2)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("n,c,h,w", SHAPES)
def test_residual_instance_norm(triton_kernels, n, c, h, w, dtype):
    args = inputs((n, c, h, w), (n, c, h, w), (c,), (c,), dtype=dtype)
    assert_matches(kernels.residual_instance_norm, ref.residual_instance_norm, args, dtype)


def test_reference_is_instance_norm_plus_residual():
    norm = nn.InstanceNorm2d(4, affine=True)
    nn.init.normal_(norm.weight), nn.init.normal_(norm.bias)
    x, h = torch.randn(2, 4, 3, 5), torch.randn(2, 4, 3, 5)
    torch.testing.assert_close(kernels.residual_instance_norm(x, h, norm.weight, norm.bias, norm.eps), x + norm(h))


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="more than one value per channel"):
        kernels.residual_instance_norm(torch.zeros(1, 3, 1, 1), torch.zeros(1, 3, 1, 1), torch.ones(3), torch.ones(3))
    with pytest.raises(ValueError, match=r"weight and bias must be \[3\]"):
        kernels.residual_instance_norm(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2), torch.ones(4), torch.ones(3))


def test_mixed_dtypes_and_only_the_gradients_asked_for(triton_kernels):
    """x float32 (the residual stream) and h bfloat16 (a convolution under autocast) are read as they
    come; frozen affine weights are not differentiated (the launch is told so)."""
    x, h = inputs((2, 3, 5, 7), (2, 3, 5, 7))
    h = h.detach().bfloat16().requires_grad_()
    weight, bias = (t.detach() for t in inputs((3,), (3,), seed=2))
    with LaunchRecorder() as launches:
        y = kernels.residual_instance_norm(x, h, weight, bias)
        y.square().sum().backward()
    assert y.dtype == torch.float32 and h.grad.dtype == torch.bfloat16
    assert launches.calls["backward"][0]["need_affine"] is False
    want = [t.detach().float().requires_grad_() for t in (x, h)]
    ref.residual_instance_norm(*want, weight, bias).square().sum().backward()
    torch.testing.assert_close(x.grad, want[0].grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(h.grad.float(), want[1].grad, atol=5e-2, rtol=2e-2)
