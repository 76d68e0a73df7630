"""Compile every launched Triton kernel ahead of time for real GPU targets, without a GPU.

    python -m crgan.kernels.compile_check                 # sm_90 and sm_80, test and paper shapes
    python -m crgan.kernels.compile_check --arch 90 --shapes paper

The interpreter that runs the kernel tests on a CPU is more permissive than the compiler (a
branch it never takes, a dtype it upcasts), so this module runs each op's launcher exactly as
the ops do, on CPU tensors of every dtype the launchers accept and of the test and paper shapes,
with a stand-in Triton driver for the chosen target: each launch is specialised and compiled
by Triton's own JIT path (Triton IR -> PTX -> ptxas cubin) and then not run. It prints one line
per compiled kernel with its registers, spills and shared memory (from ptxas), and exits 1 on
any compile error or resource overflow. Triton must not be in interpreter mode in this process.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import torch

#: Per-block shared memory a kernel may use, and multiprocessors, per compute capability.
DEVICE_LIMITS = {80: {"max_shared_mem": 166912, "multiprocessor_count": 108},
                 90: {"max_shared_mem": 232448, "multiprocessor_count": 132}}
#: Dtypes of the floating-point kernels' inputs (``crgan.kernels._dispatch.KERNEL_DTYPES``).
DTYPES = (torch.float32, torch.bfloat16, torch.float16)


@dataclass
class Compiled:
    """One compiled kernel: name, target, what it was specialised for, and its ptxas resources."""

    name: str
    arch: int
    case: str
    registers: int
    spill_bytes: int
    shared_bytes: int


class _Utils:
    """The driver's utilities: device limits, and 'loading' a cubin (its shared memory recorded, never loaded)."""

    def __init__(self, limits: dict[str, int]) -> None:
        self.limits = limits
        self.shared: list[tuple[str, int]] = []

    def get_device_properties(self, device: int) -> dict[str, int]:
        return dict(self.limits)

    def load_binary(self, name: str, cubin: bytes, shared: int, device: int) -> tuple[str, None, int, int, int]:
        self.shared.append((name, shared))
        return "not loaded", None, 0, 0, 1024  # a module that is not None: Triton loads each kernel once

    def unload_module(self, module: str) -> None:
        """Nothing was loaded."""


class CompileOnlyDriver:
    """A Triton driver for one GPU target that compiles kernels and skips their launch."""

    def __init__(self, arch: int) -> None:
        from triton.backends.compiler import GPUTarget
        self.target = GPUTarget("cuda", arch, 32)
        self.utils = _Utils(DEVICE_LIMITS[arch])

    def get_current_target(self):
        return self.target

    def get_current_device(self) -> int:
        return 0

    def get_current_stream(self, device: int | None = None) -> int:
        return 0

    def launcher_cls(self, src, metadata) -> Callable[..., None]:
        return lambda *args, **kwargs: None


def _kernels() -> list:
    """Every @triton.jit kernel the launchers use."""
    import triton

    from crgan.kernels import blend_triton, distance_triton, ranking_triton, residual_norm_triton
    found = []
    for module in (blend_triton, distance_triton, ranking_triton, residual_norm_triton):
        found += [v for v in vars(module).values() if isinstance(v, triton.runtime.jit.JITFunction)]
    return found


def _ptxas_resources(log: str) -> list[tuple[str, int, int]]:
    """(function, registers, spill bytes) per function in a ``ptxas -v`` log."""
    out = []
    for block in re.split(r"Compiling entry function '", log)[1:]:
        name = block.split("'", 1)[0]
        regs = re.search(r"Used (\d+) registers", block)
        spills = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", block)
        out.append((name, int(regs.group(1)) if regs else -1, int(spills.group(1)) + int(spills.group(2)) if spills else 0))
    return out


def _in_turn(*calls: Callable[[], object]) -> Callable[[], None]:
    """One launch case made of several launcher calls (a forward and its backward)."""
    def launch() -> None:
        for call in calls:
            call()
    return launch


def _cases(shapes: str) -> Iterator[tuple[str, Callable[[], object]]]:
    """(description, launch) for every launcher, dtype and shape of the chosen set."""
    from crgan.kernels import blend_triton, distance_triton, ranking_triton, residual_norm_triton
    images = {"test": [(2, 3, 17, 33), (1, 3, 1, 1)], "paper": [(32, 3, 256, 128)]}
    planes = {"test": [(1, 1, 1, 2), (2, 3, 5, 7), (1, 2, 50, 51)], "paper": [(32, 512, 8, 4), (32, 128, 64, 32)]}
    features = {"test": [(7, 70, 45), (65, 2, 33)], "paper": [(3368, 15913, 2048)]}
    galleries = {"test": [(23, 1500), (1, 40)], "paper": [(3368, 15913)]}
    for dtype in DTYPES:
        name = str(dtype).removeprefix("torch.")
        for n, c, h, w in images[shapes]:
            xr, xs, xt = (torch.zeros(n, c, h, w, dtype=dtype) for _ in range(3))
            xc, mf = (torch.zeros(n, 1, h, w, dtype=dtype) for _ in range(2))
            lcon = torch.zeros((), dtype=dtype)
            yield f"blend {name} {n}x{c}x{h}x{w}", _in_turn(partial(blend_triton.blend_forward, xr, xc, xs),
                                                           partial(blend_triton.blend_backward, xs, xr, xc, xs))
            yield f"blend_context_loss {name} {n}x{c}x{h}x{w}", _in_turn(
                partial(blend_triton.blend_context_loss_forward, xr, xc, xs, xt, mf),
                partial(blend_triton.blend_context_loss_backward, xs, lcon, xr, xc, xs, xt, mf))
            if dtype == torch.bfloat16:  # CR-GAN's step under autocast: a bfloat16 rendering, float32 data
                data = torch.zeros(n, c, h, w)
                yield f"blend_context_loss {name}+float32 {n}x{c}x{h}x{w} crgan", _in_turn(
                    partial(blend_triton.blend_context_loss_forward, xr, xc, data, data, mf.float()),
                    partial(blend_triton.blend_context_loss_backward, data, lcon.float(), xr, xc, data, data,
                            mf.float(), needs=(True, True, False, False, False)))
        for n, c, h, w in planes[shapes]:
            x, hh = torch.zeros(n, c, h, w, dtype=dtype), torch.zeros(n, c, h, w, dtype=dtype)
            weight, bias = torch.ones(c, dtype=dtype), torch.zeros(c, dtype=dtype)
            stats = torch.zeros(n * c, dtype=torch.float32)
            yield f"residual_instance_norm {name} {n}x{c}x{h}x{w}", _in_turn(
                partial(residual_norm_triton.forward, x, hh, weight, bias, 1e-5),
                partial(residual_norm_triton.backward, x, hh, weight, stats, stats))
        for m, n, d in features[shapes]:
            q, g = torch.zeros(m, d, dtype=dtype), torch.zeros(n, d, dtype=dtype)
            for cosine in (False, True):
                for precision in (("ieee", "tf32x3") if dtype == torch.float32 else ("ieee",)):
                    yield (f"pairwise_distance {name} {m}x{n}x{d} {'cosine' if cosine else 'euclidean'} {precision}",
                           partial(distance_triton.distance, q, g, cosine, precision))
    for m, n in galleries[shapes]:
        labels = [torch.zeros(k, dtype=torch.long) for k in (m, n, m, n)]
        yield f"rank_query_stats {m}x{n}", partial(ranking_triton.query_stats, torch.zeros(m, n), *labels)


def compile_all(arch: int, shapes: str) -> list[Compiled]:
    """Compile every launch of ``shapes`` ('test' or 'paper') for sm_<arch>; raises on any error."""
    import triton
    from triton import knobs
    from triton.runtime.driver import driver

    kernels = _kernels()
    compiled: list[Compiled] = []
    stand_in = CompileOnlyDriver(arch)
    driver.set_active(stand_in)
    knobs.nvidia.dump_ptxas_log = True
    knobs.compilation.always_compile = True  # ptxas runs (and logs) even where Triton's disk cache has the kernel
    try:
        for kernel in kernels:
            kernel.device_caches.clear()  # compiled per target: start each target afresh
        for case, launch in _cases(shapes):
            log = io.StringIO()
            with contextlib.redirect_stdout(log):
                try:
                    launch()
                except (triton.CompilationError, triton.runtime.errors.OutOfResources, RuntimeError) as err:
                    raise RuntimeError(f"sm_{arch}, {case}: {type(err).__name__}: {err}") from err
            resources = _ptxas_resources(log.getvalue())
            shared, stand_in.utils.shared = stand_in.utils.shared, []
            if [name for name, _ in shared] != [name for name, *_ in resources]:
                raise RuntimeError(f"sm_{arch}, {case}: ptxas logged {resources}, the launches loaded {shared}")
            compiled += [Compiled(name, arch, case, regs, spills, smem)
                         for (name, regs, spills), (_, smem) in zip(resources, shared)]
    finally:
        knobs.nvidia.dump_ptxas_log = False
        knobs.compilation.always_compile = False
        _restore_driver(driver)
        for kernel in kernels:
            kernel.device_caches.clear()
    return compiled


def _restore_driver(driver) -> None:
    """Make the machine's own driver active again; without a GPU there is none, and the stand-in stays."""
    with contextlib.suppress(RuntimeError):
        driver.reset_active()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crgan.kernels.compile_check", description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, action="append", choices=sorted(DEVICE_LIMITS),
                        help="compute capability x 10 (repeatable; default 90 and 80)")
    parser.add_argument("--shapes", choices=("test", "paper", "all"), default="all")
    args = parser.parse_args(argv)
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        print("compile_check: unset TRITON_INTERPRET (the interpreter compiles nothing)", file=sys.stderr)
        return 2
    import triton
    print(f"Triton {triton.__version__}, torch {torch.__version__}")
    failed = False
    for arch in args.arch or [90, 80]:
        for shapes in (("test", "paper") if args.shapes == "all" else (args.shapes,)):
            try:
                compiled = compile_all(arch, shapes)
            except RuntimeError as err:
                print(f"FAILED {err}", file=sys.stderr)
                failed = True
                continue
            for c in compiled:
                print(f"sm_{c.arch}  {c.name:<16} {c.case:<58} registers {c.registers:>3}  spills {c.spill_bytes:>4} B"
                      f"  shared {c.shared_bytes:>6} B")
            print(f"sm_{arch} {shapes} shapes: {len(compiled)} kernels compiled, "
                  f"{sum(c.spill_bytes > 0 for c in compiled)} with spills")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
