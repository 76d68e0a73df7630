"""What float32 subnormal operands cost this CPU, and what flushing them to zero buys back.

    python -m bench.subnormals

A network trained for a while carries gradients, momenta and softmax tails that decay below
1.2e-38 (the float32 subnormal range); many x86 cores take a slow path for each such operand.
Every job flushes them (``crgan.runtime.flush_subnormals``). This times, on one thread, the
element-wise update an optimiser makes and a matrix product, with operands that are normal and with
operands that are subnormal, first as the CPU computes by default and then with subnormals
flushed, and prints each as a ratio to the normal operands' time in the same setting (1.0: no
penalty). The trainer-level effect (TAUDL and Cluster Contrast from a trained network) is measured
in the verdict run and recorded in bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import time

import torch

from crgan.runtime import flush_subnormals


def seconds(work, repeats: int) -> float:
    """Best of ``repeats`` timings of ``work()`` (after one untimed call)."""
    work()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def operand_costs(scale: float, repeats: int) -> dict[str, float]:
    """Seconds of a momentum-style update (``a * 0.9 + b``) on 4M elements and of a 512x512
    matrix product, with every operand of magnitude about ``scale``."""
    generator = torch.Generator().manual_seed(0)
    vector = torch.rand(1 << 22, generator=generator) * scale
    other = torch.rand(1 << 22, generator=generator) * scale
    matrix = torch.rand(512, 512, generator=generator) * scale
    return {"update": seconds(lambda: vector * 0.9 + other, repeats),
            "matmul": seconds(lambda: matrix @ matrix, repeats)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    normal, subnormal = 1.0, 1e-39
    print("setting               op      subnormal / normal operands (time ratio)")
    for setting in ("default", "flushed"):
        if setting == "flushed" and not flush_subnormals():
            print("flushed               this CPU cannot flush subnormals (not x86 with SSE3)")
            break
        base = operand_costs(normal, args.repeats)
        slow = operand_costs(subnormal, args.repeats)
        for op in base:
            print(f"{setting:<21} {op:<7} {slow[op] / base[op]:.2f}")


if __name__ == "__main__":
    main()
