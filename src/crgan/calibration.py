"""Calibration of the synthetic world (``results/calibration.csv``): how close its method-free
baselines are to the real datasets'.

Two anchors, touched by no method (docs/assumptions.md, "Calibration"): the supervised in-domain
rank-1 of each domain (its source model on its own validation split) and, for each pair, Direct
Transfer as a share of the target's in-domain rank-1 (the source model on the target's validation
split, over the target's own model there). Both come from the re-id budget curve's points at the
configured ``reid.epochs``, on the world seeds ``calibration.seeds`` (never bundle 0's draw, whose
tables the world must not be tuned to). The test split of the default run gives the same anchors for
bundle 0 (:func:`anchors_on_test_split`), shown beside them.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crgan.budgets import POINT_FILE
from crgan.io import read_json, write_csv

COLUMNS = ["anchor", "subject", "epochs", "seeds", "values", "mean", "std", "target", "within_target", "real",
           "real_source", "train_accuracy"]


@dataclass(frozen=True)
class Anchor:
    """One anchor of one domain or pair: the range the world should reach, and the real-data value
    behind it with its source."""

    anchor: str  # "in-domain rank-1" or "direct transfer / in-domain"
    subject: str  # a domain, or "source->target"
    low: float
    high: float
    real: str
    source: str

    def within(self, value: float) -> bool:
        return self.low <= value <= self.high


IN_DOMAIN, RATIO = "in-domain rank-1", "direct transfer / in-domain"
#: The targets (issue 32). In-domain: ImageNet ResNet-50 baselines of the paper's era on the real
#: datasets; the ratio: the paper's Direct Transfer (Table 2) over those in-domain values.
ANCHORS = {(anchor.anchor, anchor.subject): anchor for anchor in (
    Anchor(IN_DOMAIN, "market1501", 80, 90, "~88", "ResNet-50 (ImageNet) re-id baselines of 2018-2019, Market1501"),
    Anchor(IN_DOMAIN, "dukemtmc", 70, 82, "~80", "ResNet-50 (ImageNet) re-id baselines of 2018-2019, DukeMTMC-reID"),
    Anchor(RATIO, "market1501->dukemtmc", 0.40, 0.50, "0.46 (36.9 of ~80)", "CR-GAN Table 2, Direct Transfer"),
    Anchor(RATIO, "dukemtmc->market1501", 0.48, 0.58, "0.54 (47.5 of ~88)", "CR-GAN Table 2, Direct Transfer"),
)}


def points(cfg: dict[str, Any]) -> list[str]:
    """The re-id budget points the calibration reads: both pairs at ``reid.epochs``, each calibration seed."""
    return [POINT_FILE.format(curve="reid", source=source, target=target, budget=cfg["reid"]["epochs"], seed=seed)
            for source, target in cfg["pairs"] for seed in cfg["calibration"]["seeds"]]


def anchor_values(results: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[int, float]]:
    """Each anchor's value per seed from re-id points (each: a source model's rank-1 on its own and on
    the target's validation split)."""
    results = list(results)
    in_domain = {(r["source"], r["seed"]): r["source_rank1"] for r in results}
    values: dict[tuple[str, str], dict[int, float]] = {}
    for (domain, seed), rank1 in in_domain.items():
        values.setdefault((IN_DOMAIN, domain), {})[seed] = rank1
    for r in results:
        target_rank1 = in_domain.get((r["target"], r["seed"]))
        if target_rank1:  # the target's own model of that seed is among the points
            values.setdefault((RATIO, f"{r['source']}->{r['target']}"), {})[r["seed"]] = r["rank1"] / target_rank1
    return values


def _row(key: tuple[str, str], by_seed: dict[int, float], epochs: int, accuracy: str) -> dict[str, Any]:
    anchor = ANCHORS.get(key)
    values = [by_seed[seed] for seed in sorted(by_seed)]
    mean = statistics.fmean(values)
    digits = 1 if key[0] == IN_DOMAIN else 3
    return {"anchor": key[0], "subject": key[1], "epochs": epochs, "seeds": " ".join(map(str, sorted(by_seed))),
            "values": " ".join(f"{v:.{digits}f}" for v in values), "mean": f"{mean:.{digits}f}",
            "std": f"{statistics.stdev(values):.{digits}f}" if len(values) > 1 else "",
            "target": f"{anchor.low:g}-{anchor.high:g}" if anchor else "",
            "within_target": ("yes" if anchor.within(mean) else "no") if anchor else "",
            "real": anchor.real if anchor else "", "real_source": anchor.source if anchor else "",
            "train_accuracy": accuracy}


def calibration_rows(results: Iterable[dict[str, Any]], epochs: int) -> list[dict[str, Any]]:
    """One row per anchor and domain or pair: its values per seed, mean and std, beside its target
    range and the real-data value (in-domain rows also give the source models' final training accuracy
    on augmented batches, mean over seeds)."""
    results = list(results)
    accuracy = defaultdict(list)
    for r in results:
        if r.get("train_accuracy") is not None:
            accuracy[r["source"]].append(r["train_accuracy"])
    rows = []
    for key, by_seed in sorted(anchor_values(results).items()):
        seen = accuracy.get(key[1], []) if key[0] == IN_DOMAIN else []
        rows.append(_row(key, by_seed, epochs, f"{statistics.fmean(seen):.3f}" if seen else ""))
    return rows


def write_calibration(paths: Iterable[str | Path], epochs: int, out: str | Path) -> list[dict[str, Any]]:
    """Read the re-id points and write the calibration CSV atomically."""
    rows = calibration_rows([read_json(path) for path in paths], epochs)
    write_csv(out, COLUMNS, rows)
    return rows


def anchors_on_test_split(rank1: dict[tuple[str, str], float], epochs: int) -> list[dict[str, Any]]:
    """The same anchors on the run's own test split (bundle 0), from ``{(model domain, test domain):
    rank-1}`` of its source models: in-domain where they agree, Direct Transfer over the target's."""
    values: dict[tuple[str, str], dict[int, float]] = {}
    for (model, test), value in rank1.items():
        if model == test:
            values[(IN_DOMAIN, model)] = {0: value}
        elif rank1.get((test, test)):
            values[(RATIO, f"{model}->{test}")] = {0: value / rank1[(test, test)]}
    return [_row(key, by_seed, epochs, "") for key, by_seed in sorted(values.items())]
