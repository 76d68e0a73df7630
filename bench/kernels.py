"""Speed of the crgan.kernels Triton ops against the eager PyTorch they replace, same run.

    python -m bench.kernels            # paper-like sizes (below)
    python -m bench.kernels --small    # a quick look

Sizes: CR-GAN images at batch 32 x 3 x 256 x 128 (blend, blend + context loss, forward and
backward); the paper preset's generator residual blocks, 32 x 512 x 8 x 4 (and one larger map,
32 x 128 x 64 x 32, for the fusion's behaviour on bigger planes); Market1501's test set for
ranking, 3,368 queries x 15,913 gallery with 2048-d features that cluster by identity and camera
as a trained network's do (the ranking must be exact: CMC equal at every rank, mAP within 1e-6). Memory-bound ops also print their
achieved bandwidth as a fraction of a device-to-device copy measured in the same run.

On a machine without a GPU only the reference (eager PyTorch) path runs: Triton needs CUDA.
"""
from __future__ import annotations

import argparse
import importlib
import platform
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from crgan import kernels
from crgan.eval.ranking import evaluate_rank
from crgan.kernels import _reference as ref


def timed(fn: Callable[[], object], dev: torch.device, repeats: int) -> float:
    """Median seconds per call (CUDA: triton.testing.do_bench, which flushes L2 between calls)."""
    if dev.type == "cuda":
        import triton.testing
        return triton.testing.do_bench(fn, warmup=25, rep=200, return_mode="median") / 1e3
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def fwd_bwd(fn: Callable[..., object], args: list[torch.Tensor]) -> Callable[[], object]:
    """A closure running ``fn`` forward and backward (all outputs, weights of one)."""
    def run() -> object:
        outs = fn(*args)
        outs = outs if isinstance(outs, tuple) else (outs,)
        return torch.autograd.grad(outs, [a for a in args if a.requires_grad], [torch.ones_like(o) for o in outs])
    return run


def copy_bandwidth(nbytes: int, dev: torch.device, repeats: int) -> float:
    """Bytes per second of a device copy of ``nbytes`` (read + write counted)."""
    src = torch.empty(nbytes // 4, device=dev)
    dst = torch.empty_like(src)
    return 2 * src.numel() * 4 / timed(lambda: dst.copy_(src), dev, repeats)


def image_inputs(n: int, h: int, w: int, dev: torch.device) -> tuple[list[torch.Tensor], int]:
    """(xr, xc, xs, xt, mf) with gradients on the first four, and the pixel count."""
    gen = torch.Generator().manual_seed(0)
    make = [(3, False), (1, True), (3, False), (3, False), (1, True)]
    ts = [(torch.rand(n, c, h, w, generator=gen) if unit else torch.randn(n, c, h, w, generator=gen)).to(dev)
          for c, unit in make]
    for t in ts[:4]:
        t.requires_grad_()
    return ts, n * h * w


def report(name: str, t_triton: float | None, t_eager: float, nbytes: int | None, copy_bw: float) -> None:
    cells = [f"{name:<44}", f"eager {t_eager * 1e3:9.3f} ms"]
    if t_triton is not None:
        cells += [f"triton {t_triton * 1e3:9.3f} ms", f"speed-up {t_eager / t_triton:6.2f}x"]
    if nbytes is not None:
        best = t_triton if t_triton is not None else t_eager
        cells.append(f"{nbytes / best / copy_bw:6.1%} of copy bandwidth")
    print("  ".join(cells))


def clustered_features(labels: list[np.ndarray], dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Query and gallery features that cluster as a trained network's do (an identity centre, a camera
    shift and noise, L2-normalised), for ``labels`` = (q_pids, g_pids, q_cams, g_cams): many near
    ties between an identity's images, where an inexact ranking would show."""
    gen = torch.Generator().manual_seed(2)
    q_pids, g_pids, q_cams, g_cams = (torch.as_tensor(x) for x in labels)
    centres = torch.randn(int(max(q_pids.max(), g_pids.max())) + 1, dim, generator=gen)
    shifts = 0.5 * torch.randn(int(max(q_cams.max(), g_cams.max())) + 1, dim, generator=gen)

    def features(pids: torch.Tensor, cams: torch.Tensor) -> torch.Tensor:
        return F.normalize(centres[pids] + shifts[cams] + 0.8 * torch.randn(len(pids), dim, generator=gen), dim=1)

    return features(q_pids, q_cams), features(g_pids, g_cams)


def print_op_layer_cost(dev: torch.device, calls: int = 2000) -> None:
    """Host time of the op layer alone, per forward + backward of blend_context_loss with the launchers
    stubbed (no kernel runs): the eager path (a torch.autograd.Function) against the custom op that
    torch.compile sees. At CR-GAN's sizes this is what a kernel pair of tens of microseconds pays."""
    from crgan.kernels import blend_triton

    module = importlib.import_module("crgan.kernels.blend")
    saved = blend_triton.blend_context_loss_forward, blend_triton.blend_context_loss_backward
    blend_triton.blend_context_loss_forward = lambda xr, xc, xs, xt, mf: (torch.empty_like(xs), xs.new_zeros(()))
    blend_triton.blend_context_loss_backward = lambda gxg, glcon, *inputs, needs=(True,) * 5: [
        torch.empty_like(t) if need else None for t, need in zip(inputs, needs)]
    xr, xs, xt = (torch.randn(2, 3, 4, 4, device=dev) for _ in range(3))
    xc, mf = torch.rand(2, 1, 4, 4, device=dev), torch.rand(2, 1, 4, 4, device=dev)
    xr.requires_grad_(), xc.requires_grad_()
    paths = {"autograd.Function (eager)": lambda: module._BlendContextLoss.apply(xr, xc, xs, xt, mf),
             "custom op (torch.compile's)": lambda: module._blend_con_op(xr, xc, xs, xt, mf)}
    try:
        cost = {}
        for label, path in list(paths.items()) * 2:  # interleaved, the second round kept
            def run(path=path) -> None:
                xg, lcon = path()
                torch.autograd.grad((xg.sum() + lcon,), (xr, xc))
            run()
            start = time.perf_counter()
            for _ in range(calls):
                run()
            cost[label] = (time.perf_counter() - start) / calls
    finally:
        blend_triton.blend_context_loss_forward, blend_triton.blend_context_loss_backward = saved
    eager, custom = cost.values()
    print(f"{'  op layer alone (launchers stubbed), host':<44}  autograd.Function {eager * 1e6:7.1f} us  "
          f"custom op {custom * 1e6:7.1f} us  ({custom / eager:.2f}x) per fwd+bwd")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="smaller sizes, for a quick look")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per measurement on CPU")
    args = parser.parse_args()
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    use_triton = dev.type == "cuda" and kernels._dispatch.triton_installed()
    name = torch.cuda.get_device_name() if dev.type == "cuda" else (platform.processor() or platform.machine())
    print(f"crgan.kernels on {name} ({dev.type}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads)")
    if not use_triton:
        print("No GPU with Triton here: timing the PyTorch reference path only (the Triton kernels need CUDA).")
    n, h, w = (8, 128, 64) if args.small else (32, 256, 128)
    (xr, xc, xs, xt, mf), pixels = image_inputs(n, h, w, dev)
    el = 4  # bytes per float32 element
    copy_bw = copy_bandwidth(39 * pixels * el, dev, args.repeats)
    print(f"device copy: {copy_bw / 1e9:.1f} GB/s")

    def compare(label: str, triton_fn, eager_fn, inputs, nbytes=None) -> None:
        t_eager = timed(fwd_bwd(eager_fn, inputs), dev, args.repeats)
        t_triton = timed(fwd_bwd(triton_fn, inputs), dev, args.repeats) if use_triton else None
        report(label, t_triton, t_eager, nbytes, copy_bw)

    # bytes each fused op must move at least, forward + backward (float32): see the kernels' docstrings
    compare(f"blend fwd+bwd {n}x3x{h}x{w}", kernels.blend, ref.blend, [xr, xc, xs], 24 * pixels * el)
    compare(f"blend_context_loss fwd+bwd {n}x3x{h}x{w}", kernels.blend_context_loss, ref.blend_context_loss,
            [xr, xc, xs, xt, mf], 39 * pixels * el)
    # as in CR-GAN's step under autocast: a bfloat16 rendering (XR, XC), float32 data (XS, XT, MF) that
    # needs no gradient; eager PyTorch promotes as it computes
    crgan_inputs = [xr.detach().bfloat16().requires_grad_(), xc.detach().bfloat16().requires_grad_(),
                    xs.detach(), xt.detach(), mf]
    # bytes a pixel: forward reads XR, XC (bf16) and XS, XT, MF (f32), writes XG (f32): 36 + 12; backward
    # reads the gradient of XG and the five inputs again, writes the gradients of XR and XC (bf16): 48 + 8
    compare("  CR-GAN's mix: bf16 XR, XC; f32 data", kernels.blend_context_loss,
            ref.blend_context_loss, crgan_inputs, 104 * pixels)
    print_op_layer_cost(dev)
    if use_triton:  # the launches alone, without the Python of the op, its autograd and dispatch
        from crgan.kernels import blend_triton as bt
        raw = [t.detach() for t in (xr, xc, xs, xt, mf)]
        gxg, glcon = torch.ones_like(xs), torch.ones((), device=dev)
        t_raw = timed(lambda: (bt.blend_forward(*raw[:3]), bt.blend_backward(gxg, *raw[:3])), dev, args.repeats)
        report("  blend kernels alone (fwd + bwd launches)", t_raw, timed(fwd_bwd(ref.blend, [xr, xc, xs]), dev,
               args.repeats), 24 * pixels * el, copy_bw)
        t_raw = timed(lambda: (bt.blend_context_loss_forward(*raw), bt.blend_context_loss_backward(gxg, glcon, *raw)),
                      dev, args.repeats)
        report("  blend_context_loss kernels alone", t_raw, timed(fwd_bwd(ref.blend_context_loss, [xr, xc, xs, xt, mf]),
               dev, args.repeats), 39 * pixels * el, copy_bw)

    for c, fh, fw in ([(512, 8, 4), (128, 64, 32)] if not args.small else [(128, 16, 8)]):
        gen = torch.Generator().manual_seed(1)
        x, hh = (torch.randn(n, c, fh, fw, generator=gen).to(dev).requires_grad_() for _ in range(2))
        wt, b = (torch.randn(c, generator=gen).to(dev).requires_grad_() for _ in range(2))
        # forward reads x, h and writes y; backward reads gy, h (twice) and writes gh: 7 passes over [N,C,H,W]
        compare(f"residual_instance_norm fwd+bwd {n}x{c}x{fh}x{fw}", kernels.residual_instance_norm,
                lambda x, h, w_, b_: x + F.instance_norm(h, weight=w_, bias=b_), [x, hh, wt, b],
                7 * x.numel() * el)

    m, g_n, d = (500, 3000, 512) if args.small else (3368, 15913, 2048)
    rng = np.random.default_rng(0)
    labels = [rng.integers(1, 751, m), np.concatenate([rng.integers(1, 751, g_n - g_n // 6), np.zeros(g_n // 6, int)]),
              rng.integers(0, 6, m), rng.integers(0, 6, g_n)]
    q, g = clustered_features(labels, d)
    dist_cpu = ref.pairwise_distance(q, g)
    t_cpu_rank = timed(lambda: evaluate_rank(dist_cpu, *labels), torch.device("cpu"), max(1, args.repeats // 2))
    t_cpu_all = timed(lambda: evaluate_rank(ref.pairwise_distance(q, g), *labels), torch.device("cpu"), 1)
    print(f"{'ranking ' + f'{m}x{g_n}x{d}':<44}  CPU evaluate_rank {t_cpu_rank * 1e3:9.1f} ms"
          f"  CPU distance + evaluate_rank {t_cpu_all * 1e3:9.1f} ms")
    if use_triton:
        qd, gd = q.to(dev), g.to(dev)
        dl = [torch.as_tensor(x, device=dev) for x in labels]
        want = evaluate_rank(dist_cpu, *labels)
        got = kernels.rank_metrics(kernels.pairwise_distance(qd, gd), *dl)
        exact = np.array_equal(got[0], want[0]) and abs(got[1] - want[1]) < 1e-6
        t_gpu = timed(lambda: kernels.rank_metrics(kernels.pairwise_distance(qd, gd), *dl), dev, args.repeats)
        t_gpu_eager = timed(lambda: ref.rank_metrics(ref.pairwise_distance(qd, gd), *dl), dev, args.repeats)
        dist_gpu = kernels.pairwise_distance(qd, gd)
        t_count = timed(lambda: kernels.rank_metrics(dist_gpu, *dl), dev, args.repeats)
        t_sort = timed(lambda: ref.rank_metrics(dist_gpu, *dl), dev, args.repeats)
        t_dist = timed(lambda: kernels.pairwise_distance(qd, gd), dev, args.repeats)
        from crgan.kernels import distance_triton
        t_dist_kernel = timed(lambda: distance_triton.distance(qd, gd, False, "ieee"), dev, args.repeats)
        print(f"{'':<44}  GPU distance + rank_metrics {t_gpu * 1e3:8.2f} ms"
              f" ({t_cpu_rank / t_gpu:.1f}x CPU evaluate_rank, {t_gpu_eager / t_gpu:.2f}x eager torch on the GPU); "
              f"CMC {'equal at every rank' if np.array_equal(got[0], want[0]) else 'NOT equal'} to the CPU's, "
              f"mAP {100 * (got[1] - want[1]):+.6f} points: {'exact' if exact else 'NOT exact'}")
        print(f"{'':<44}  GPU rank_metrics alone: counting kernel {t_count * 1e3:.2f} ms, sorting reference "
              f"{t_sort * 1e3:.2f} ms ({t_sort / t_count:.2f}x)")
        print(f"{'':<44}  GPU distance alone: as dispatched (cuBLAS for float32) {t_dist * 1e3:.2f} ms, "
              f"Triton IEEE kernel {t_dist_kernel * 1e3:.2f} ms")
        # the other products: float32 by three TF32 products, and bfloat16 features (distances stay float32)
        for label, a, b, precision in (("tf32x3", qd, gd, "tf32x3"), ("bfloat16 features", qd.bfloat16(), gd.bfloat16(),
                                                                        "ieee")):
            cmc, m_ap = kernels.rank_metrics(kernels.pairwise_distance(a, b, precision=precision), *dl)
            t_other = timed(lambda a=a, b=b, p=precision: kernels.pairwise_distance(a, b, precision=p), dev, args.repeats)
            same = np.array_equal(cmc, want[0]) and abs(m_ap - want[1]) < 1e-5
            print(f"{'':<44}  GPU distance {label}: {t_other * 1e3:.2f} ms ({t_dist / t_other:.2f}x cuBLAS float32); "
                  f"CMC/mAP {'equal to' if same else 'differ from'} the CPU's (rank-1 {100 * (cmc[0] - want[0][0]):+.3f}, "
                  f"mAP {100 * (m_ap - want[1]):+.4f} points)")


if __name__ == "__main__":
    main()
