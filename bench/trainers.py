"""Paper-size steps of every trainer: seconds per iteration, images per second, peak GPU memory.

    python -m bench.trainers                    # the paper preset's networks and batches, 50 steps each
    python -m bench.trainers --iterations 10 --small   # the default (CPU) sizes, a quick check

Each trainer runs through the same ``crgan`` command the workflow runs, with the paper preset
(ResNet50 at 256x128, the paper's generator, SPGAN and TAUDL batches) overlaid by a small
synthetic benchmark rendered at the paper's image size (real data is not needed to time a step),
ground-truth masks and short runs. The step of the shared training loop is timed (after a CUDA
synchronise); the first ``--warmup`` steps (cuDNN autotuning, Triton compiles, allocator growth)
are left out of the per-step figures. Peak memory is ``torch.cuda.max_memory_allocated`` over
the whole command, reset before each. Re-id training is timed per epoch (its loop's unit).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch
import yaml

from crgan import cli
from crgan.train.loop import TrainingLoop

REPO = Path(__file__).resolve().parents[1]
#: The synthetic stand-in: enough identities for TAUDL's 96 tracklets per batch on the target.
DOMAINS = {"market1501": {"train_ids": 60, "test_ids": 20, "distractor_ids": 0, "junk_images": 0},
           "dukemtmc": {"train_ids": 60, "test_ids": 20, "distractor_ids": 0, "junk_images": 0}}


def overlay(work: Path, iterations: int, small: bool, device: str, precision: str) -> dict:
    """The config overlaid on config.yaml (+ presets/paper.yaml unless ``small``)."""
    height, width = (64, 32) if small else (256, 128)
    over = {"device": device, "precision": precision,
            "data": {"source": "synthetic", "synthetic_root": str(work / "data"), "check_counts": False},
            "synthetic": {"height": height, "width": width, "domains": DOMAINS},
            "masks": {"method": "groundtruth"},
            "reid": {"epochs": 1},
            "crgan": {"iterations": iterations, "dcam_iterations": 2, "checkpoint_every": 10 ** 6},
            "finetune": {"iterations": iterations, "checkpoint_every": 10 ** 6},
            "spgan": {"iterations": iterations, "sia_start": 0, "checkpoint_every": 10 ** 6},
            "taudl": {"iterations": iterations, "checkpoint_every": 10 ** 6}}
    if small:
        over["data"]["workers"] = 0
    return over


@contextlib.contextmanager
def timed_steps(times: list[float], device: torch.device) -> Iterator[None]:
    """Record the seconds of each step of every TrainingLoop run inside the block."""
    original = TrainingLoop.run

    def run(self, step, lr_at=None):
        def timed(i):
            start = time.perf_counter()
            row = step(i)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - start)
            return row
        return original(self, timed, lr_at)

    TrainingLoop.run = run
    try:
        yield
    finally:
        TrainingLoop.run = original


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.trainers", description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5, help="first steps left out of the per-step figures")
    parser.add_argument("--small", action="store_true", help="config.yaml's sizes instead of the paper preset's")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--only", nargs="*", help="trainers to run (default: all)")
    parser.add_argument("--precision", choices=("auto", "float32", "bfloat16"), default="auto",
                        help="config key precision (auto: bfloat16 autocast on CUDA)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    work = Path(tempfile.mkdtemp(prefix="crgan-bench-"))
    over = work / "overlay.yaml"
    over.write_text(yaml.safe_dump(overlay(work, args.iterations, args.small, args.device, args.precision)))
    configs = ["config.yaml"] + ([] if args.small else ["presets/paper.yaml"]) + [str(over)]
    common = [f"--config={REPO / c}" for c in configs]  # an absolute path stays itself
    cfg = cli._config(cli.build_parser().parse_args(["validate-config", *common]))
    threads = ["--threads", str(cfg["threads"]["train"])]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"crgan trainers on {name} (torch {torch.__version__}), {'config.yaml' if args.small else 'paper preset'} "
          f"at {cfg['data']['height']}x{cfg['data']['width']}, {args.iterations} steps each, workers "
          f"{cfg['data']['workers']}, precision {args.precision}")

    def crgan(command: str, **paths: Path | str) -> None:
        argv = [command, *common, *threads] + [x for k, v in paths.items() for x in (f"--{k.replace('_', '-')}", str(v))]
        if cli.main(argv) != 0:
            raise SystemExit(f"bench.trainers: crgan {command} failed")

    idx, masks = {}, {}
    for domain in DOMAINS:  # data: not timed
        crgan("synth", domain=domain, out=work / "data" / domain)
        idx[domain], masks[domain] = work / f"{domain}.json", work / "masks" / domain
        crgan("index", domain=domain, out=idx[domain])
        crgan("masks", index=idx[domain], out=masks[domain])
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
    }
    print(f"{'trainer':<26}{'s/step':>9}{'img/s':>9}{'peak GiB':>10}{'wall s':>9}")
    for label, (command, paths, images) in trainers.items():
        if args.only and label not in args.only and command not in args.only:
            continue
        times: list[float] = []
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        with timed_steps(times, device):
            crgan(command, **paths)
        wall = time.perf_counter() - start
        steady = times[args.warmup:] if len(times) > args.warmup else times
        per_step = statistics.median(steady)
        if images is None:  # re-id: one step is an epoch over the source training split
            images = len(json.loads(Path(idx[src]).read_text())["splits"]["train"])
        peak = torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.type == "cuda" else float("nan")
        rate = f"{images / per_step:9.1f}" if images else f"{'-':>9}"
        print(f"{label:<26}{per_step:9.3f}{rate}{peak:10.2f}{wall:9.1f}")


if __name__ == "__main__":
    main()
