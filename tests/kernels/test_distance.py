"""pairwise_distance: Triton kernel against the PyTorch reference."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from kernel_checks import DEVICE, RecordOps, assert_matches, inputs

from crgan import kernels
from crgan.eval.ranking import evaluate_rank
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
                   lambda a, b: ref.pairwise_distance(a, b, metric), [q, g], dtype, out_dtype=torch.float32)


@pytest.mark.parametrize("precision", ["ieee", "tf32x3"])
def test_rankings_equal_the_cpu_reference(triton_kernels, precision):
    """CMC and mAP from the kernel's distances (either precision) equal those of the float32 CPU reference."""
    gen = torch.Generator().manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(60, 128, generator=gen), dim=1)
    g = torch.nn.functional.normalize(torch.randn(400, 128, generator=gen), dim=1)
    labels = [torch.randint(0, 30, (n,), generator=gen) for n in (60, 400)] + \
             [torch.randint(0, 4, (n,), generator=gen) for n in (60, 400)]
    got = kernels.pairwise_distance(q.to(DEVICE), g.to(DEVICE), precision=precision).cpu()
    want_cmc, want_map = evaluate_rank(ref.pairwise_distance(q, g), *labels, max_rank=20)
    got_cmc, got_map = evaluate_rank(got, *labels, max_rank=20)
    assert np.array_equal(got_cmc, want_cmc) and abs(got_map - want_map) < 1e-6


def test_float64_runs_the_reference_and_cannot_be_forced(monkeypatch):
    q, g = torch.randn(3, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    monkeypatch.delenv("CRGAN_KERNELS", raising=False)
    torch.testing.assert_close(kernels.pairwise_distance(q.to(DEVICE), g.to(DEVICE)).cpu(), ref.pairwise_distance(q, g))
    monkeypatch.setenv("CRGAN_KERNELS", "triton")
    with pytest.raises(ValueError, match="the Triton kernels take torch.float32, torch.bfloat16, torch.float16, "
                                         "got torch.float64"):
        kernels.pairwise_distance(q, g)


def test_euclidean_is_squared_distance():
    q, g = torch.tensor([[0.0, 0.0], [1.0, 1.0]]), torch.tensor([[3.0, 4.0]])
    assert kernels.pairwise_distance(q, g).tolist() == [[25.0], [13.0]]
    torch.testing.assert_close(kernels.pairwise_distance(q[1:], g, "cosine"), torch.tensor([[1 - 7 / (50 ** 0.5)]]))


def test_bad_metric_and_shapes():
    with pytest.raises(ValueError, match="unknown distance metric 'l1'"):
        kernels.pairwise_distance(torch.zeros(2, 3), torch.zeros(2, 3), "l1")
    with pytest.raises(ValueError, match=r"expected \[M, D\] and \[N, D\]"):
        kernels.pairwise_distance(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="unknown distance precision 'tf32'"):
        kernels.pairwise_distance(torch.zeros(2, 3), torch.zeros(2, 3), precision="tf32")


def test_auto_float32_ieee_takes_the_library(monkeypatch):
    """Under CRGAN_KERNELS=auto, float32 IEEE distances run the library's matrix product (cuBLAS on
    a GPU: faster than the kernel there); bfloat16 features still take the kernel on a GPU."""
    monkeypatch.delenv("CRGAN_KERNELS", raising=False)
    q, g = torch.randn(5, 8, device=DEVICE), torch.randn(7, 8, device=DEVICE)
    with RecordOps() as ops:
        kernels.pairwise_distance(q, g)
    assert "crgan::pairwise_distance" not in ops.names and "aten::mm" in ops.names
    with RecordOps() as ops:
        kernels.pairwise_distance(q.bfloat16(), g.bfloat16())
    assert ("crgan::pairwise_distance" in ops.names) == (DEVICE == "cuda")
