"""Which implementation an op runs: a Triton kernel or its PyTorch reference.

``CRGAN_KERNELS`` chooses: ``auto`` (default: Triton when every tensor is on CUDA and Triton is
installed, the reference otherwise), ``torch`` (always the reference) or ``triton`` (always
Triton; CPU tensors then run under Triton's interpreter, which Triton only supports when
``TRITON_INTERPRET=1`` is in the environment before it is first imported: the caller sets it, as
``tests/conftest.py`` does; this module reads the environment and never changes it).

The floating-point kernels take float32, bfloat16 and float16 (``KERNEL_DTYPES``); other dtypes
(float64, for gradient checks) always run the reference, and forcing Triton on them is an error.
"""
from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Sequence

import torch

ENV = "CRGAN_KERNELS"
CHOICES = ("auto", "torch", "triton")
#: Floating dtypes the Triton kernels are written and compiled for (float32 accumulation in each).
KERNEL_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def requested() -> str:
    """The value of ``CRGAN_KERNELS`` (``auto`` when unset), checked."""
    mode = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if mode not in CHOICES:
        raise ValueError(f"{ENV}={os.environ[ENV]!r}: expected one of {', '.join(CHOICES)}")
    return mode


#: Looked up once: torch.compile cannot trace importlib's find_spec inside an op's dispatch.
_TRITON_INSTALLED = importlib.util.find_spec("triton") is not None


def triton_installed() -> bool:
    return _TRITON_INSTALLED


def interpreting() -> bool:
    """True when Triton kernels run under the interpreter (``TRITON_INTERPRET`` set)."""
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "on", "yes")


def _require_interpreter() -> None:
    if not interpreting():
        raise RuntimeError(f"{ENV}=triton on CPU tensors runs Triton's interpreter, which Triton enables only when "
                           "TRITON_INTERPRET=1 is in the environment before it is imported: start the process "
                           "with TRITON_INTERPRET=1 (or run these tensors on CUDA)")


def use_triton(*tensors: torch.Tensor) -> bool:
    """Whether an op on ``tensors`` runs its Triton kernel (see the module docstring)."""
    mode = requested()
    if mode == "torch":
        return False
    on_cuda = all(t.is_cuda for t in tensors)
    kernel_dtypes = all(t.dtype in KERNEL_DTYPES for t in tensors if t.is_floating_point())
    if mode == "auto":
        return on_cuda and kernel_dtypes and triton_installed()
    if not kernel_dtypes:
        found = sorted({str(t.dtype) for t in tensors if t.dtype not in KERNEL_DTYPES and t.is_floating_point()})
        raise ValueError(f"{ENV}=triton: the Triton kernels take {', '.join(map(str, KERNEL_DTYPES))}, "
                         f"got {', '.join(found)} (unset {ENV} to run the PyTorch reference)")
    if not triton_installed():
        raise RuntimeError(f"{ENV}=triton but Triton is not installed (pip install 'triton>=3.6')")
    if not on_cuda:
        _require_interpreter()
    return True


def backend(*tensors: torch.Tensor) -> str:
    """'triton', 'triton-interpreter' or 'torch': what an op on ``tensors`` would run, for logs and provenance."""
    if not use_triton(*tensors):
        return "torch"
    return "triton-interpreter" if interpreting() else "triton"


def promoted_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """The dtype eager PyTorch gives a result computed from ``tensors``."""
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def same_dtype_contiguous(*tensors: torch.Tensor) -> list[torch.Tensor]:
    """The tensors in their promoted common dtype and contiguous, as the kernels index raw memory."""
    dtype = promoted_dtype(*tensors)
    return [t.to(dtype).contiguous() for t in tensors]


def skipped_as(outputs: list[torch.Tensor | None], stand_in: torch.Tensor) -> list[torch.Tensor]:
    """A kernel's optional outputs as pointers: ``stand_in`` for each one skipped (None), which the
    kernel's constexpr flag keeps unwritten."""
    return [stand_in if t is None else t for t in outputs]


def contiguous(*tensors: torch.Tensor) -> list[torch.Tensor]:
    """The tensors contiguous, each in its own dtype (the elementwise kernels read mixed dtypes)."""
    return [t.contiguous() for t in tensors]


def run_eager_or_compiled(function: type[torch.autograd.Function], op, *inputs):
    """An op's Triton path: ``function`` (a ``torch.autograd.Function`` calling the launchers) in eager
    mode, where a custom op's dispatch would cost more than the kernels at this project's sizes; the
    custom op ``op`` while ``torch.compile`` traces, whose fake implementation the compiler needs."""
    if torch.compiler.is_compiling():
        return op(*inputs)
    return function.apply(*inputs)


def check_numel(*shapes: Sequence[int]) -> None:
    """The kernels index with 32-bit offsets: every tensor (by shape) must have fewer than 2^31 elements."""
    for shape in shapes:
        if math.prod(shape) >= 2 ** 31:
            raise ValueError(f"a tensor of shape {tuple(shape)} is too large for the Triton kernels (< 2^31 elements)")
