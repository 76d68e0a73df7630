"""The precision check (``results/precision_check.csv``, issue 31): does a trainer's result move when
its steps run in bfloat16 instead of float32?

Each checked trainer is one budget curve at its configured budget (:mod:`crgan.budget_curves`): its
chain runs twice per pair and seed bundle, once with the trainer's own section at ``precision:
float32`` and once at ``bfloat16``; every other step of the chain (the source model, the fine-tuning
after a generator) runs as configured in both. The two networks are tested on the target's
validation split, so the effect is a paired difference per (pair, bundle), judged by the t-test of
:mod:`crgan.report.significance`. The rule, stated before the check ran (docs/assumptions.md,
"Precision"): a trainer's results **move beyond noise** when the 95 % interval of the bfloat16 -
float32 rank-1 difference excludes 0, or its mean is larger in size than the float32 runs'
bundle-to-bundle standard deviation (averaged over the pairs); such a trainer, or one bfloat16 does
not make faster, stays in float32 (:data:`crgan.runtime.CPU_BFLOAT16_SECTIONS` lists the others).
Validation records never reach a table or a claim.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from crgan.budgets import CURVES
from crgan.io import read_json, write_csv
from crgan.report.significance import paired_t_test

PRECISIONS = ("float32", "bfloat16")
#: One check point: a curve's chain at its configured budget with its trainer in ``precision``.
CHECK_DIR = "results/precision_check/{precision}/{curve}/{source}-{target}/seed{seed}"
CHECK_FILE = f"{CHECK_DIR}/validation.json"
COLUMNS = ["curve", "label", "section", "units", "float32_rank1", "bfloat16_rank1", "difference", "interval_low",
           "interval_high", "p_value", "seed_std", "float32_map", "bfloat16_map", "map_difference",
           "float32_seconds", "bfloat16_seconds", "speedup", "moves", "choice"]


def points(cfg: dict[str, Any]) -> list[str]:
    """Every check point's validation file: each checked curve, pair, bundle and precision."""
    check = cfg["precision_check"]
    return [CHECK_FILE.format(precision=precision, curve=curve, source=source, target=target, seed=seed)
            for curve in check["curves"] for source, target in cfg["pairs"] for seed in check["seeds"]
            for precision in PRECISIONS]


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.fmean(values) if values else float("nan")


def bundle_spread(float32: dict[tuple[str, int], dict[str, Any]]) -> float:
    """The float32 runs' bundle-to-bundle standard deviation of rank-1, averaged over the pairs (NaN
    where no pair has two bundles)."""
    by_pair: dict[str, list[float]] = defaultdict(list)
    for (pair, _), result in float32.items():
        by_pair[pair].append(result["rank1"])
    return _mean(statistics.stdev(values) for values in by_pair.values() if len(values) > 1)


def curve_row(curve: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    """One curve's row: both precisions' means, the paired difference with its interval, the float32
    bundle spread, the trainer's seconds in each precision, and the choice by the module's rule."""
    spec = CURVES[curve]
    runs: dict[str, dict[tuple[str, int], dict[str, Any]]] = {precision: {} for precision in PRECISIONS}
    for result in results:
        runs[result["precision"]][(f"{result['source']}->{result['target']}", result["seed"])] = result
    units = sorted(set(runs["float32"]) & set(runs["bfloat16"]))
    if not units:
        raise ValueError(f"the precision check of {curve} has no (pair, bundle) run in both precisions")
    float32, bfloat16 = ([runs[precision][unit] for unit in units] for precision in PRECISIONS)
    test = paired_t_test([b["rank1"] - f["rank1"] for f, b in zip(float32, bfloat16)])
    spread = bundle_spread({unit: runs["float32"][unit] for unit in units})
    seconds = {precision: _mean(r["train_seconds"][spec.section] for r in rs if spec.section in r["train_seconds"])
               for precision, rs in zip(PRECISIONS, (float32, bfloat16))}
    speedup = seconds["float32"] / seconds["bfloat16"] if seconds["bfloat16"] > 0 else float("nan")
    interval_excludes_zero = test.interval is not None and (test.interval[0] > 0 or test.interval[1] < 0)
    moves = interval_excludes_zero or abs(test.mean) > spread
    choice = "float32 (results move)" if moves else "bfloat16" if speedup > 1 else "float32 (no faster)"
    return {
        "curve": curve, "label": spec.label, "section": spec.section, "units": len(units),
        "float32_rank1": f"{_mean(r['rank1'] for r in float32):.2f}",
        "bfloat16_rank1": f"{_mean(r['rank1'] for r in bfloat16):.2f}",
        "difference": f"{test.mean:.2f}",
        "interval_low": f"{test.interval[0]:.2f}" if test.interval else "",
        "interval_high": f"{test.interval[1]:.2f}" if test.interval else "",
        "p_value": f"{test.p_value:.3g}" if test.p_value is not None else "",
        "seed_std": f"{spread:.2f}",
        "float32_map": f"{_mean(r['map'] for r in float32):.2f}",
        "bfloat16_map": f"{_mean(r['map'] for r in bfloat16):.2f}",
        "map_difference": f"{_mean(b['map'] - f['map'] for f, b in zip(float32, bfloat16)):.2f}",
        "float32_seconds": f"{seconds['float32']:.1f}", "bfloat16_seconds": f"{seconds['bfloat16']:.1f}",
        "speedup": f"{speedup:.2f}", "moves": "yes" if moves else "no", "choice": choice}


def write_check(paths: Iterable[str | Path], out: str | Path) -> list[dict[str, Any]]:
    """Read every check point's ``validation.json`` and write the check's CSV atomically."""
    by_curve: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in paths:
        result = read_json(path)
        by_curve[result["curve"]].append(result)
    rows = [curve_row(curve, results) for curve, results in by_curve.items()]
    write_csv(out, COLUMNS, rows)
    return rows
