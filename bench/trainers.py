"""Paper-size steps of every trainer: seconds per iteration, images per second, peak GPU memory.

    python -m bench.trainers                    # the paper preset's networks and batches, 50 steps each
    python -m bench.trainers --iterations 10 --small   # the default (CPU) sizes, a quick check

Each trainer runs through the same ``crgan`` command the workflow runs, with the paper preset
(ResNet50 at 256x128, the paper's generator, SPGAN and TAUDL batches) overlaid by a small
synthetic benchmark rendered at the paper's image size (real data is not needed to time a step),
ground-truth masks and short runs. The step of the shared training loop is timed (after a CUDA
synchronise); the first ``--warmup`` steps (cuDNN autotuning, Triton compiles, allocator growth)
are left out of the per-step figures. Peak memory is ``torch.cuda.max_memory_allocated`` over
the whole command, reset before each. Re-id training is timed per epoch (its loop's unit; three
epochs, the first left out). CR-GAN's steps make one G update in the first half of a run and two
in the second: both are reported. ``--host-reads`` counts, per step, the operators that make the
host wait for a GPU (a value read back, or an output sized by the data: ``SYNCING_OPS``; not
those on host tensors in a GPU run too: data loading, optimiser step counters); it counts the
same on a CPU, so a change that takes them out of the steps is measurable anywhere.
``--profile DIR`` keeps a torch.profiler trace of four steady steps of each trainer (trace.json.gz,
for chrome://tracing or Perfetto) and its operator table (operators.txt). ``--flops`` counts the
last warm-up step's floating-point operations (convolutions and matrix products, forward and
backward: ``torch.utils.flop_counter``; warm-up steps are not timed) and prints the
achieved rate beside this machine's matrix-product rate in the precision that trainer runs in
(float32, or bfloat16 where ``--precision`` gives the trainer's config section bfloat16 autocast:
``runtime.autocast_dtype``), measured in the same process on the jobs' thread count.
``--memory-format channels_last contiguous`` runs every trainer in each layout in turn (config key
``memory_format``) and prints each one's step time as a ratio to the first.
"""
from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import math
import platform
import shutil
import statistics
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from crgan import cli
from crgan.runs import synthetic_dir
from crgan.train.loop import TrainingLoop
from crgan.train.schedule import g_updates

REPO = Path(__file__).resolve().parents[1]
#: The synthetic stand-in: enough identities for TAUDL's 96 tracklets per batch on the target.
DOMAINS = {domain: {"train_ids": 60, "test_ids": 20, "distractor_ids": 0, "junk_images": 0, "validation_ids": 0}
           for domain in ("market1501", "dukemtmc")}


#: Re-id runs by the epoch: the first (loader start-up, cold caches) is left out of its figure.
REID_EPOCHS = 3


def overlay(work: Path, iterations: int, small: bool, device: str, precision: str, deterministic: bool,
            memory_format: str) -> dict:
    """The config overlaid on config.yaml (+ presets/paper.yaml unless ``small``)."""
    height, width = (64, 32) if small else (256, 128)
    over = {"device": device, "precision": precision, "deterministic": deterministic, "memory_format": memory_format,
            "data": {"source": "synthetic", "synthetic_root": str(work / "data"), "check_counts": False},
            "synthetic": {"height": height, "width": width, "domains": DOMAINS},
            "masks": {"method": "groundtruth"},
            "reid": {"epochs": REID_EPOCHS},
            "cluster_contrast": {"epochs": 2, "iterations": iterations},
            "crgan": {"iterations": iterations, "dcam_iterations": 2, "checkpoint_every": 10 ** 6},
            "finetune": {"iterations": iterations, "checkpoint_every": 10 ** 6},
            "spgan": {"iterations": iterations, "sia_start": 0, "checkpoint_every": 10 ** 6},
            "taudl": {"iterations": iterations, "checkpoint_every": 10 ** 6}}
    if small:
        over["data"]["workers"] = 0
    return over


#: Operators that make the host wait for a CUDA device (a value read back, or an output whose size
#: depends on the data); counted per step on any device with :class:`HostReads`.
SYNCING_OPS = {"aten::_local_scalar_dense", "aten::nonzero", "aten::_unique2", "aten::unique_dim",
               "aten::masked_select", "aten::repeat_interleave", "aten::unique_consecutive"}


def _on_the_host(stack: list[traceback.FrameSummary]) -> bool:
    """Whether an operator runs on host tensors in a GPU run too: inside a data loader (decoding and
    augmenting images) or reading an optimiser's step counter (a CPU tensor unless capturable)."""
    return any("torch/utils/data/" in f.filename or (f.name == "_get_value" and f.filename.endswith("optimizer.py"))
               for f in stack)


class HostReads(TorchDispatchMode):
    """Counts the operators of :data:`SYNCING_OPS` dispatched inside the block, except those that
    run on host tensors in a GPU run as well (:func:`_on_the_host`)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if f"{func.namespace}::{func._opname}" in SYNCING_OPS and not _on_the_host(traceback.extract_stack()):
            self.count += 1
        return func(*args, **(kwargs or {}))


@dataclass
class Step:
    """One timed step of a training loop: its seconds, host reads, and which loop and step it was."""

    seconds: float
    host_reads: int
    index: int
    total: int
    flops: int | None = None  # counted on this step (a warm-up step: its time carries the counter's cost)


@contextlib.contextmanager
def timed_steps(steps: list[Step], device: torch.device, count_reads: bool = False,
                profile: tuple[Path, range] | None = None, count_flops_at: int | None = None) -> Iterator[None]:
    """Record every step of every TrainingLoop run inside the block; with ``profile`` (folder,
    steps), a torch.profiler trace of those steps of the first loop is written there; with
    ``count_flops_at``, that step's floating-point operations are counted."""
    original = TrainingLoop.run

    def run(self, step, lr_at=None):
        profiler = None

        def timed(i):
            nonlocal profiler
            if profile and i == profile[1].start and profiler is None:
                activities = [torch.profiler.ProfilerActivity.CPU] + (
                    [torch.profiler.ProfilerActivity.CUDA] if device.type == "cuda" else [])
                profiler = torch.profiler.profile(activities=activities, record_shapes=True)
                profiler.__enter__()
            reads = HostReads() if count_reads else contextlib.nullcontext()
            counter = FlopCounterMode(display=False) if i == count_flops_at else contextlib.nullcontext()
            start = time.perf_counter()
            with reads, counter:
                row = step(i)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            flops = counter.get_total_flops() if i == count_flops_at else None
            steps.append(Step(time.perf_counter() - start, reads.count if count_reads else -1, i, self.total, flops))
            if profiler is not None and i + 1 == min(profile[1].stop, self.total):
                profiler.__exit__(None, None, None)
                profile[0].mkdir(parents=True, exist_ok=True)
                trace = profile[0] / "trace.json"
                profiler.export_chrome_trace(str(trace))
                with trace.open("rb") as raw, gzip.open(f"{trace}.gz", "wb") as packed:
                    shutil.copyfileobj(raw, packed)
                trace.unlink()
                (profile[0] / "operators.txt").write_text(
                    profiler.key_averages().table(sort_by="self_cuda_time_total" if device.type == "cuda"
                                                  else "self_cpu_time_total", row_limit=40))
            return row
        return original(self, timed, lr_at)

    TrainingLoop.run = run
    try:
        yield
    finally:
        TrainingLoop.run = original


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def matmul_rate(device: torch.device, dtype: torch.dtype = torch.float32, size: int = 512, repeats: int = 20) -> float:
    """This machine's matrix-product rate in ``dtype``, in FLOP/s (``repeats`` products of size x size
    matrices, the best of three rounds), on the threads torch has now."""
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    best = math.inf
    for _ in range(3):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 * repeats / best


#: Each trainer command's config section (its own ``precision``).
SECTIONS = {"train-reid": "reid", "train-crgan": "crgan", "finetune": "finetune", "train-spgan": "spgan",
            "train-taudl": "taudl", "train-cluster-contrast": "cluster_contrast"}


def training_dtype(cfg: dict, device: torch.device, section: str) -> torch.dtype:
    """The precision the trainer of config ``section`` computes its products in (its autocast's)."""
    from crgan import runtime

    return runtime.autocast_dtype(cfg, device, section) or torch.float32


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.trainers", description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5, help="first steps left out of the per-step figures")
    parser.add_argument("--small", action="store_true", help="config.yaml's sizes instead of the paper preset's")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--only", nargs="*", help="trainers to run (default: all)")
    parser.add_argument("--precision", choices=("auto", "float32", "bfloat16"), default="auto",
                        help="config key precision (auto: bfloat16 on CUDA, and on a CPU that computes it for "
                             "re-id, CR-GAN and the fine-tuning: crgan.runtime.CPU_BFLOAT16_SECTIONS)")
    parser.add_argument("--deterministic", choices=("true", "false"), default="true",
                        help="config key deterministic (false: cuDNN autotuning and atomic kernels)")
    parser.add_argument("--host-reads", action="store_true",
                        help="count the operators that make the host wait for the GPU, per step (slows the steps)")
    parser.add_argument("--memory-format", nargs="+", choices=("channels_last", "contiguous"),
                        default=["channels_last"], help="config key memory_format; several: each trainer in each, "
                                                        "ratios to the first")
    parser.add_argument("--flops", action="store_true",
                        help="count one step's FLOPs and print the achieved rate against the matrix-product rate")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="write a torch.profiler trace (trace.json, operators.txt) of steps warmup..warmup+4 "
                             "of each trainer under DIR/<command>")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    work = Path(tempfile.mkdtemp(prefix="crgan-bench-"))
    common: dict[str, list[str]] = {}  # per memory format: the command line's config files
    for layout in args.memory_format:
        over = work / f"overlay-{layout}.yaml"
        over.write_text(yaml.safe_dump(overlay(work, args.iterations, args.small, args.device, args.precision,
                                                   args.deterministic == "true", layout)))
        configs = ["config.yaml"] + ([] if args.small else ["presets/paper.yaml"]) + [str(over)]
        common[layout] = [f"--config={REPO / c}" for c in configs]  # an absolute path stays itself
    first = args.memory_format[0]
    cfg = cli._config(cli.build_parser().parse_args(["validate-config", *common[first]]))
    threads = ["--threads", str(cfg["threads"]["train"])]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"crgan trainers on {name} (torch {torch.__version__}), {'config.yaml' if args.small else 'paper preset'} "
          f"at {cfg['data']['height']}x{cfg['data']['width']}, {args.iterations} steps each, workers "
          f"{cfg['data']['workers']}, precision {args.precision}, deterministic {args.deterministic}, "
          f"memory format {' then '.join(args.memory_format)}")

    def crgan(command: str, layout: str = first, **paths: Path | str) -> None:
        argv = [command, *common[layout], *threads] + [x for k, v in paths.items()
                                                      for x in (f"--{k.replace('_', '-')}", str(v))]
        if cli.main(argv) != 0:
            raise SystemExit(f"bench.trainers: crgan {command} failed")

    idx, masks = {}, {}
    for domain in DOMAINS:  # data: not timed
        crgan("synth", domain=domain, out=synthetic_dir(work / "data", domain, 0))
        idx[domain], masks[domain] = work / f"{domain}.json", work / "masks" / domain
        crgan("index", domain=domain, out=idx[domain])
        crgan("masks", index=idx[domain], out=masks[domain])
    rates: dict[torch.dtype, float] = {}  # the matrix-product rate in each precision a trainer runs in
    if args.flops:
        torch.set_num_threads(cfg["threads"]["train"])
        for dtype in dict.fromkeys(training_dtype(cfg, device, section) for section in SECTIONS.values()):
            rates[dtype] = matmul_rate(device, dtype)
            print(f"{str(dtype).removeprefix('torch.')} matrix products ({cfg['threads']['train']} thread(s)): "
                  f"{rates[dtype] / 1e9:.1f} GFLOP/s")
    src, tgt = "market1501", "dukemtmc"
    pair = dict(source_index=idx[src], target_index=idx[tgt], source_masks=masks[src], target_masks=masks[tgt])
    m = work / "models"
    trainers = {  # name: (command, arguments, images per step)
        "re-id (Did)": ("train-reid", dict(index=idx[src], out=m / "did.pt"), None),
        "CR-GAN G": ("train-crgan", dict(did=m / "did.pt", out=m / "G.pt", variant="crgan", **pair),
                     2 * cfg["crgan"]["batch_size"]),
        "fine-tune on renderings": ("finetune", dict(generator=m / "G.pt", did=m / "did.pt", out=m / "ft.pt", **pair),
                                    cfg["finetune"]["batch_size"]),
        "SPGAN": ("train-spgan", dict(source_index=idx[src], target_index=idx[tgt], out=m / "spgan.pt"),
                  2 * cfg["spgan"]["batch_size"]),
        "TAUDL": ("train-taudl", dict(index=idx[tgt], out=m / "taudl.pt"),
                  cfg["taudl"]["tracklets_per_batch"] * cfg["taudl"]["images_per_tracklet"]),
        "Cluster Contrast": ("train-cluster-contrast", dict(index=idx[tgt], init=m / "did.pt", out=m / "cc.pt"),
                             cfg["cluster_contrast"]["batch_size"]),
    }
    print(f"{'trainer':<40}{'s/step':>9}{'img/s':>9}{'reads/step':>11}{'peak GiB':>10}{'wall s':>9}"
          f"{'GFLOP/step':>11}{'of matmul':>10}{'speed-up':>9}")
    for label, (command, paths, images) in trainers.items():
        if args.only and label not in args.only and command not in args.only:
            continue
        firsts: dict[str, float] = {}
        for layout in args.memory_format:
            rate = rates.get(training_dtype(cfg, device, SECTIONS[command]))
            run_trainer(args, device, crgan, label, command, paths, images, layout, idx[src], rate, firsts)


def run_trainer(args: argparse.Namespace, device: torch.device, crgan, label: str, command: str, paths: dict,
                images: int | None, layout: str, source_index: Path, rate: float | None,
                firsts: dict[str, float]) -> None:
    """Run one trainer in one memory format and print its rows (``firsts``: the first format's step
    time per row, for the ratios)."""
    steps: list[Step] = []
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    warmup = 1 if command in ("train-reid", "train-cluster-contrast") else args.warmup  # their steps are epochs
    profile = (args.profile / layout / command, range(warmup, warmup + 4)) if args.profile else None
    start = time.perf_counter()
    with timed_steps(steps, device, args.host_reads, profile, warmup - 1 if args.flops else None):
        crgan(command, layout, **paths)
    wall = time.perf_counter() - start
    if images is None:  # re-id: one step is an epoch over the source training split
        images = len(json.loads(Path(source_index).read_text())["splits"]["train"])
    peak = torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.type == "cuda" else float("nan")
    counted = next((s for s in steps if s.flops is not None), None)  # a warm-up step: never timed
    measured = [s for s in steps if s.index >= warmup] or steps
    kinds = {label: lambda s: True}
    if command == "train-crgan":  # one G update per step in the first half, two in the second
        kinds = {f"{label} ({n} G update{'s' * (n > 1)})": lambda s, n=n: g_updates(s.index, s.total) == n
                 for n in (1, 2)}
    for name, of_kind in kinds.items():
        group = [s for s in measured if of_kind(s)]
        per_step = median([s.seconds for s in group])
        reads = f"{median([s.host_reads for s in group]):11.0f}" if args.host_reads else f"{'-':>11}"
        speed = f"{images / per_step:9.1f}" if images else f"{'-':>9}"
        flops = f"{'-':>11}{'-':>10}"
        if counted and rate and of_kind(counted):  # the counted step's kind only
            flops = f"{counted.flops / 1e9:11.2f}{counted.flops / per_step / rate:10.1%}"
        firsts.setdefault(name, per_step)
        print(f"{name + (f' [{layout}]' if len(args.memory_format) > 1 else ''):<40}{per_step:9.3f}{speed}{reads}"
              f"{peak:10.2f}{wall:9.1f}{flops}{firsts[name] / per_step:9.2f}")


if __name__ == "__main__":
    main()
