"""One command for a GPU owner: compiled kernel tests, kernel benchmarks, paper-size trainer steps.

    make gpu-check                 # or: python -m bench.gpu_check [--iterations 50] [--results FILE]

Runs, each in its own process and in this order: ``pytest tests/kernels`` (Triton compiled for
this GPU, not interpreted), ``python -m crgan.kernels.compile_check`` for this GPU's target,
``python -m bench.kernels`` and ``python -m bench.trainers`` three times (with a torch.profiler
trace of each trainer kept under bench/profiles/<date>/; with ``deterministic: false``; counting
the host reads of each step); then appends a dated section with the machine, the commit and every
command's output to bench/RESULTS.md. Exits non-zero if any
step failed (the section is written all the same, saying which).
"""
from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=50, help="steps of each trainer")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "RESULTS.md")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu-check: no CUDA device here (torch.cuda.is_available() is False)", file=sys.stderr)
        return 2
    major, minor = torch.cuda.get_device_capability()
    arch = 90 if major >= 9 else 80
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    profiles = REPO / "bench" / "profiles" / datetime.date.today().isoformat()
    steps = [("pytest tests/kernels (compiled on the GPU)", [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                                             "tests/kernels"]),
             (f"compile_check for sm_{arch}", [sys.executable, "-m", "crgan.kernels.compile_check", "--arch", str(arch)]),
             ("python -m bench.kernels", [sys.executable, "-m", "bench.kernels"]),
             (f"python -m bench.trainers --iterations {args.iterations} --profile {profiles}",
              [sys.executable, "-m", "bench.trainers", "--iterations", str(args.iterations), "--profile", str(profiles)]),
             (f"python -m bench.trainers --iterations {args.iterations} --deterministic false",
              [sys.executable, "-m", "bench.trainers", "--iterations", str(args.iterations), "--deterministic", "false"]),
             ("python -m bench.trainers --iterations 10 --warmup 3 --host-reads",
              [sys.executable, "-m", "bench.trainers", "--iterations", "10", "--warmup", "3", "--host-reads"])]
    name = torch.cuda.get_device_name()
    memory = torch.cuda.get_device_properties(0).total_memory / 2 ** 30
    import triton
    with args.results.open("a") as handle:  # written as the steps finish: a run cut short keeps what it measured
        handle.write(f"\n## `make gpu-check` on {name} ({datetime.date.today().isoformat()})\n\n"
                     f"Commit {_commit()}, {name} (sm_{major}{minor}, {memory:.0f} GiB), torch {torch.__version__}, "
                     f"Triton {triton.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} CPU cores.\n\n")
    failed = []
    for title, command in steps:
        print(f"== {title}", flush=True)
        start = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        output = done.stdout if title.startswith("python") else done.stdout[-4000:]
        print(output + done.stderr[-2000:], flush=True)
        lines = [line for line in output.splitlines() if "it/s" not in line and "s/it" not in line]
        status = "ok" if done.returncode == 0 else f"FAILED (exit {done.returncode})"
        if done.returncode != 0:
            failed.append(title)
            lines += ["--- stderr (end) ---", *done.stderr[-3000:].splitlines()]
        with args.results.open("a") as handle:
            handle.write(f"### `{title}`: {status}, {seconds:.0f} s\n\n```\n" + "\n".join(lines).strip() + "\n```\n\n")
    with args.results.open("a") as handle:
        handle.write("All steps passed.\n" if not failed else f"Failed: {', '.join(failed)}.\n")
    print(f"appended to {args.results}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
