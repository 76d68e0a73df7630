"""residual_instance_norm: Triton kernel against the PyTorch reference and nn.InstanceNorm2d."""
from __future__ import annotations

import pytest
import torch
from kernel_checks import assert_matches, inputs
from torch import nn

from crgan import kernels
from crgan.kernels import _reference as ref

# N = C = 1 with two values, H or W = 1, odd sizes, and a row longer than one block (2048)
SHAPES = [(1, 1, 1, 2), (2, 3, 5, 7), (1, 4, 1, 9), (3, 2, 11, 1), (1, 2, 50, 51)]


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
