"""pairwise_distance: Triton kernel against the PyTorch reference."""
from __future__ import annotations

import pytest
import torch
from kernel_checks import assert_matches, inputs

from crgan import kernels
from crgan.kernels import _reference as ref

# one row each, D = 1, and several 64 x 64 tiles with ragged edges and D not a multiple of 32
SHAPES = [(1, 1, 1), (7, 70, 45), (65, 2, 33), (3, 130, 100)]


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("m,n,d", SHAPES)
def test_pairwise_distance(triton_kernels, m, n, d, dtype, metric):
    q, g = inputs((m, d), (n, d), dtype=dtype)
    if metric == "euclidean" and d == 1:
        q, g = (t.detach() + 3 * i for i, t in enumerate((q, g)))  # keep away from the clamp at 0
        q, g = q.requires_grad_(), g.requires_grad_()
    assert_matches(lambda a, b: kernels.pairwise_distance(a, b, metric),
                   lambda a, b: ref.pairwise_distance(a, b, metric), [q, g], dtype)


def test_euclidean_is_squared_distance():
    q, g = torch.tensor([[0.0, 0.0], [1.0, 1.0]]), torch.tensor([[3.0, 4.0]])
    assert kernels.pairwise_distance(q, g).tolist() == [[25.0], [13.0]]
    torch.testing.assert_close(kernels.pairwise_distance(q[1:], g, "cosine"), torch.tensor([[1 - 7 / (50 ** 0.5)]]))


def test_bad_metric_and_shapes():
    with pytest.raises(ValueError, match="unknown distance metric 'l1'"):
        kernels.pairwise_distance(torch.zeros(2, 3), torch.zeros(2, 3), "l1")
    with pytest.raises(ValueError, match=r"expected \[M, D\] and \[N, D\]"):
        kernels.pairwise_distance(torch.zeros(2, 3), torch.zeros(2, 4))
