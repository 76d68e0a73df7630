"""The PyTorch references against numerical gradients (float64), and the custom ops' registration."""
from __future__ import annotations

import pytest
import torch
from kernel_checks import DEVICE

from crgan import kernels
from crgan.kernels import _reference as ref


def f64(*shapes: tuple[int, ...], unit: tuple[int, ...] = ()) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return [(torch.rand(s, generator=gen, dtype=torch.float64) if i in unit
             else torch.randn(s, generator=gen, dtype=torch.float64)).requires_grad_() for i, s in enumerate(shapes)]


@pytest.mark.parametrize("name,fn,args", [
    ("blend", ref.blend, lambda: f64((2, 3, 3, 5), (2, 1, 3, 5), (2, 3, 3, 5), unit=(1,))),
    ("blend_context_loss", ref.blend_context_loss,
     lambda: f64((2, 3, 3, 5), (2, 1, 3, 5), (2, 3, 3, 5), (2, 3, 3, 5), (2, 1, 3, 5), unit=(1, 4))),
    ("residual_instance_norm", ref.residual_instance_norm, lambda: f64((2, 3, 3, 5), (2, 3, 3, 5), (3,), (3,))),
    ("pairwise_distance euclidean", ref.pairwise_distance, lambda: f64((4, 6), (5, 6))),
    ("pairwise_distance cosine", lambda q, g: ref.pairwise_distance(q, g, "cosine"), lambda: f64((4, 6), (5, 6))),
])
def test_reference_gradcheck(name, fn, args):
    assert torch.autograd.gradcheck(fn, args(), eps=1e-6, atol=1e-6)


# The custom ops (the Triton path) under torch.library.opcheck: schema, fake tensors, autograd; on the
# test device, so that on a GPU machine the compiled kernels are checked (on CPU, the interpreter).
def _ops_args(*specs: tuple[tuple[int, ...], bool]) -> list[torch.Tensor]:
    """Tensors on the test device: ``(shape, unit)``, unit ones in [0, 1] (masks), others normal."""
    return [(torch.rand(shape) if unit else torch.randn(shape)).to(DEVICE) for shape, unit in specs]


IMAGE, MASK = ((1, 3, 2, 3), False), ((1, 1, 2, 3), True)
OPS = {
    "blend": lambda: (torch.ops.crgan.blend, _ops_args(IMAGE, MASK, IMAGE)),
    "blend_context_loss": lambda: (torch.ops.crgan.blend_context_loss, _ops_args(IMAGE, MASK, IMAGE, IMAGE, MASK)),
    "residual_instance_norm": lambda: (torch.ops.crgan.residual_instance_norm,
                                       [*_ops_args(((1, 2, 2, 3), False), ((1, 2, 2, 3), False), ((2,), False),
                                                   ((2,), False)), 1e-5]),
    "pairwise_distance": lambda: (torch.ops.crgan.pairwise_distance,
                                  [*_ops_args(((3, 4), False), ((5, 4), False)), False, "ieee"]),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_custom_op_registration(triton_kernels, name):
    op, args = OPS[name]()
    args = [a.requires_grad_() if isinstance(a, torch.Tensor) else a for a in args]
    torch.library.opcheck(op, args)


def test_torch_compile_traces_the_ops(triton_kernels):
    """torch.compile sees the Triton ops as custom ops (fake kernels, registered autograd)."""
    torch._dynamo.reset()
    xr, xs, xt = (torch.randn(2, 3, 4, 4, device=DEVICE, requires_grad=True) for _ in range(3))
    xc, mf = torch.rand(2, 1, 4, 4, device=DEVICE, requires_grad=True), torch.rand(2, 1, 4, 4, device=DEVICE)

    def step(xr, xc, xs, xt, mf):
        xg, lcon = kernels.blend_context_loss(xr, xc, xs, xt, mf)
        return xg.square().mean() + lcon

    compiled = torch.compile(step, backend="aot_eager", fullgraph=True)
    got = compiled(xr, xc, xs, xt, mf)
    grads = torch.autograd.grad(got, (xr, xc, xs, xt))
    want = step(xr, xc, xs, xt, mf)
    torch.testing.assert_close(got, want)
    for a, b in zip(grads, torch.autograd.grad(want, (xr, xc, xs, xt))):
        torch.testing.assert_close(a, b)
