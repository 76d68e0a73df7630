"""Helpers of the kernel tests: inputs on the test device, and kernel-vs-reference comparison."""
from __future__ import annotations

import inspect

import torch
from torch.utils._python_dispatch import TorchDispatchMode

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
#: (atol, rtol) for kernel vs reference, atol relative to the largest reference value: float32 math
#: either way; with bfloat16 the outputs and the incoming gradients are rounded to 8 bits.
TOL = {torch.float32: (2e-5, 1e-5), torch.bfloat16: (2e-2, 2e-2)}


def inputs(*shapes: tuple[int, ...], dtype: torch.dtype = torch.float32, seed: int = 0,
           unit: tuple[int, ...] = ()) -> list[torch.Tensor]:
    """Leaf tensors on the test device; those whose index is in ``unit`` are in [0, 1] (masks)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i, shape in enumerate(shapes):
        t = torch.rand(shape, generator=gen) if i in unit else torch.randn(shape, generator=gen)
        out.append(t.to(device=DEVICE, dtype=dtype).requires_grad_())
    return out


def run(fn, args: list[torch.Tensor], seed: int = 1) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Outputs of ``fn(*args)`` and the gradients of a random weighting of every output."""
    outs = fn(*args)
    outs = list(outs) if isinstance(outs, tuple) else [outs]
    gen = torch.Generator().manual_seed(seed)
    total = sum((o.float() * torch.randn(o.shape, generator=gen).to(o.device)).sum() for o in outs)
    return [o.detach() for o in outs], list(torch.autograd.grad(total, args))


def assert_matches(kernel_fn, reference_fn, args: list[torch.Tensor], dtype: torch.dtype,
                   out_dtype: torch.dtype | None = None) -> None:
    """Kernel on ``args`` vs reference on float32 copies of them: outputs (in ``out_dtype``, default
    ``dtype``) and gradients (in ``dtype``)."""
    ref_args = [a.detach().float().requires_grad_() for a in args]
    outs, grads = run(kernel_fn, args)
    ref_outs, ref_grads = run(reference_fn, ref_args)
    atol, rtol = TOL[dtype]
    for got, want, expected in zip(outs + grads, ref_outs + ref_grads, [out_dtype or dtype] * len(outs) + [dtype] * len(grads)):
        assert got.dtype == expected
        scale = max(1.0, want.abs().max().item()) if want.numel() else 1.0
        torch.testing.assert_close(got.float(), want, atol=atol * scale, rtol=rtol)


class RecordOps(TorchDispatchMode):
    """Records the namespace::name of every operator dispatched inside the ``with`` block."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.add(f"{func.namespace}::{func._opname}")
        return func(*args, **(kwargs or {}))


class LaunchRecorder:
    """Records the keyword arguments of every call of the Triton launchers (the public functions of
    the ``*_triton`` modules) inside the ``with`` block, by launcher name: ``calls[name]``."""

    def __init__(self) -> None:
        self.calls: dict[str, list[dict]] = {}
        self._saved: list[tuple[object, str, object]] = []

    def __enter__(self) -> LaunchRecorder:
        from crgan.kernels import blend_triton, distance_triton, ranking_triton, residual_norm_triton
        for module in (blend_triton, distance_triton, ranking_triton, residual_norm_triton):
            for name, fn in vars(module).items():
                if inspect.isfunction(fn) and fn.__module__ == module.__name__ and not name.startswith("_"):
                    self._saved.append((module, name, fn))
                    setattr(module, name, self._recording(name, fn))
        return self

    def _recording(self, name: str, fn):
        signature = inspect.signature(fn)

        def launch(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            self.calls.setdefault(name, []).append(dict(bound.arguments))
            return fn(*args, **kwargs)
        return launch

    def __exit__(self, *exc) -> None:
        for module, name, fn in self._saved:
            setattr(module, name, fn)
