"""Process setup: the ``deterministic`` switch (config key) and what it sets."""
from __future__ import annotations

import torch

from crgan import runtime


def few_steps(deterministic: bool) -> list[torch.Tensor]:
    """A small conv net trained a few steps, with a scatter-add (an op with an atomic CUDA kernel)."""
    runtime.setup(1, 0, deterministic)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 6 * 6, 5))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(3):
        x = torch.randn(6, 3, 8, 8)
        features = net(x)
        pooled = torch.zeros(2, 5).index_add(0, torch.tensor([0, 1, 0, 1, 0, 1]), features)
        opt.zero_grad()
        pooled.square().mean().backward()
        opt.step()
    return [p.detach().clone() for p in net.parameters()]


def test_the_switch_sets_the_kernels_and_leaves_cpu_results_alone():
    """On a CPU both settings train to the same bits (on a GPU they may differ in the last bits)."""
    try:
        fast = few_steps(False)
        assert not torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.benchmark
        exact = few_steps(True)
        assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark
        assert not torch.utils.deterministic.fill_uninitialized_memory
    finally:
        runtime.setup(1, 0)
    assert all(torch.equal(a, b) for a, b in zip(fast, exact))
