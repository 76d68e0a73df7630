"""The domain-gap sweep (beyond the paper): one pair over a range of ``synthetic.context_gap``
values, for Direct Transfer, the paste control, CR-GAN, Cluster Contrast and target-supervised.

Each gap is the whole workflow run in its own folder (``results/gap_sweep/gap<g>/``, data
generated there at that gap) for just the evaluations the sweep compares; ``results/gap_sweep.csv``
gathers them, one row per (gap, method): rank-1 and mAP, mean and standard deviation over seeds.
It answers when rendering into target contexts pays and when clustering alone is enough.
"""
from __future__ import annotations

import copy
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from crgan.io import read_json, write_csv
from crgan.methods import label
from crgan.plan import named_rows
from crgan.records import EvaluationRecord
from crgan.runs import Evaluation

#: Where the workflow runs for one gap (``{gap}`` as written in ``gap_sweep.gaps``).
POINT_DIR = "results/gap_sweep/gap{gap}"
#: The rows the sweep compares, by their row keys in the plan (Tables 2 and 8).
METHODS = ("direct_transfer", "paste", "crgan", "cluster_contrast", "target_supervised")
COLUMNS = ["gap", "method", "row", "source", "target", "rank1", "rank1_std", "map", "map_std", "seeds", "data"]


def gap_name(gap: float | str) -> str:
    """A gap as its folder writes it: ``0.25`` -> ``0.25``, ``1`` -> ``1.0``."""
    return repr(float(gap))


def evaluations(src: str, tgt: str) -> dict[str, Evaluation]:
    """The sweep's rows and their evaluations for a pair, by row key, as the plan defines them."""
    rows = named_rows(src, tgt)
    return {key: rows[key].evaluation for key in METHODS}


def point_config(cfg: dict[str, Any], gap: float | str) -> dict[str, Any]:
    """The workflow's config for one gap: the same settings, the data generated at ``gap``, only the
    sweep's pair (no CUHK03 pairs)."""
    point = copy.deepcopy(cfg)
    point["synthetic"]["context_gap"] = float(gap)
    point["pairs"], point["cuhk03_pairs"] = [list(cfg["gap_sweep"]["pair"])], []
    return point


def point_targets(cfg: dict[str, Any]) -> list[str]:
    """The evaluation files of one gap's run, relative to its folder (every method, every seed)."""
    src, tgt = cfg["gap_sweep"]["pair"]
    return [evaluation.at(seed).path for evaluation in evaluations(src, tgt).values() for seed in cfg["seeds"]]


def point_outputs(cfg: dict[str, Any], gap: str = "{gap}") -> list[str]:
    """The same files as the sweep's rules name them (inside ``results/gap_sweep/gap<g>/``)."""
    return [f"{POINT_DIR.format(gap=gap)}/{path}" for path in point_targets(cfg)]


def sweep_rows(paths: Iterable[str | Path], pair: tuple[str, str]) -> list[dict[str, Any]]:
    """One row per (gap, method) from the evaluation records of every gap and seed."""
    keys = {evaluation: key for key, evaluation in evaluations(*pair).items()}
    grouped: dict[tuple[float, str], list[EvaluationRecord]] = defaultdict(list)
    for path in paths:
        found = re.search(r"gap_sweep/gap([0-9.]+)/", Path(path).as_posix())
        if found is None:
            raise ValueError(f"{path} is not inside a gap folder (results/gap_sweep/gap<g>/)")
        record = EvaluationRecord.from_dict(read_json(path))
        grouped[(float(found.group(1)), keys[record.evaluation.key])].append(record)
    rows = []
    for (gap, key), records in sorted(grouped.items(), key=lambda item: (item[0][0], METHODS.index(item[0][1]))):
        values = {m: [r.metrics["gap"][m] for r in records] for m in ("rank1", "map")}
        rows.append({"gap": gap, "method": label(key), "row": key, "source": pair[0], "target": pair[1],
                     **{k: f"{statistics.fmean(v):.2f}" for k, v in values.items()},
                     **{f"{k}_std": f"{statistics.stdev(v):.2f}" if len(v) > 1 else "" for k, v in values.items()},
                     "seeds": ";".join(str(r.run.seed) for r in sorted(records, key=lambda r: r.run.seed)),
                     "data": "synthetic" if records[0].synthetic else "real"})
    return rows


def write_sweep(path: str | Path, rows: list[dict[str, Any]]) -> None:
    write_csv(path, COLUMNS, rows)
