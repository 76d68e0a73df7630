"""Speed of evaluate_rank against a per-query loop on a Market-size random problem, same run.

    python -m bench.ranking            # 3,368 queries x 15,913 gallery (Market1501's test set)
    python -m bench.ranking --small    # a quick look

Prints the ratio loop / vectorised; both produce the same CMC and mAP (checked here too).
"""
from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from crgan.eval.ranking import evaluate_rank
from crgan.kernels._reference import rank_metrics_per_query


def problem(m: int, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    q_pids = rng.integers(1, 751, m)
    g_pids = np.concatenate([rng.integers(1, 751, n - 2798), np.zeros(2798, np.int64)])  # + distractors
    return (rng.random((m, n), dtype=np.float32), q_pids, g_pids, rng.integers(0, 6, m), rng.integers(0, 6, n))


def timed(fn, *args, repeats: int = 3):
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    m, n = (500, 3000) if args.small else (3368, 15913)
    data = problem(m, n)
    t_loop, (cmc_a, map_a) = timed(rank_metrics_per_query, *data)
    t_vec, (cmc_b, map_b) = timed(evaluate_rank, *data)
    assert np.allclose(cmc_a, cmc_b) and abs(map_a - map_b) < 1e-9, "implementations disagree"
    machine = platform.processor() or platform.machine()
    print(f"evaluate_rank on {m} x {n} ({machine}, {args.threads} threads, best of 3)")
    print(f"  per-query loop : {t_loop * 1000:8.1f} ms")
    print(f"  vectorised     : {t_vec * 1000:8.1f} ms")
    print(f"  speed-up       : {t_loop / t_vec:8.2f}x")


if __name__ == "__main__":
    main()
