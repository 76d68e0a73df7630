"""The domain-gap sweep (beyond the paper): one pair, one knob of the synthetic benchmark at a time
(``synthetic.style_gap``, ``context_diversity``, ``population_shift``, ``occlusion``; the others at
their configured values), for Direct Transfer, the paste control, CR-GAN, Cluster Contrast and
target-supervised.

Each point is the whole workflow run in its own folder (``results/gap_sweep/<knob>_<value>/``, data
generated there at that setting; the configured setting itself is the point ``default``, shared by
every knob's line) for just the evaluations the sweep compares; ``results/gap_sweep.csv`` gathers
them, one row per (knob, value, method): rank-1 and mAP, mean and standard deviation over seeds. It
answers which property of the benchmark decides when rendering into target contexts pays.
"""
from __future__ import annotations

import copy
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from crgan.data.synthetic_world import KNOBS
from crgan.io import read_json, write_csv
from crgan.methods import label
from crgan.plan import named_rows
from crgan.records import EvaluationRecord
from crgan.runs import Evaluation

#: Where the workflow runs for one point (``{point}``: ``default`` or ``<knob>_<value>``).
POINT_DIR = "results/gap_sweep/{point}"
DEFAULT_POINT = "default"
#: The rows the sweep compares, by their row keys in the plan (Tables 2 and 8).
METHODS = ("direct_transfer", "paste", "crgan", "cluster_contrast", "target_supervised")
COLUMNS = ["knob", "value", "method", "row", "source", "target", "rank1", "rank1_std", "map", "map_std", "seeds",
           "data"]
#: A point's folder name: the knob and its value as Python writes the float (``style_gap_0.5``).
POINT_NAME = re.compile(rf"(?P<knob>{'|'.join(KNOBS)})_(?P<value>[0-9]+\.[0-9]+)")
#: The point wildcard's constraint (no named groups: Snakemake's wildcard syntax has its own).
POINT_WILDCARD = rf"{DEFAULT_POINT}|(?:{'|'.join(KNOBS)})_[0-9]+\.[0-9]+"


def point_name(knob: str, value: float | str) -> str:
    """A point's folder name: ``point_name("occlusion", 0) == "occlusion_0.0"``."""
    return f"{knob}_{float(value)!r}"


def points(cfg: dict[str, Any]) -> list[str]:
    """Every point of the sweep: the configured setting, then each knob's listed values that differ from it."""
    return [DEFAULT_POINT] + [point_name(knob, value) for knob, values in cfg["gap_sweep"]["knobs"].items()
                              for value in values if float(value) != float(cfg["synthetic"][knob])]


def setting(cfg: dict[str, Any], point: str) -> dict[str, float]:
    """The knobs' values at a point."""
    knobs = {knob: float(cfg["synthetic"][knob]) for knob in KNOBS}
    if point != DEFAULT_POINT:
        found = POINT_NAME.fullmatch(point)
        if found is None:
            raise ValueError(f"{point!r} is not a sweep point (default or <knob>_<value>, knob one of {', '.join(KNOBS)})")
        knobs[found["knob"]] = float(found["value"])
    return knobs


def evaluations(src: str, tgt: str) -> dict[str, Evaluation]:
    """The sweep's rows and their evaluations for a pair, by row key, as the plan defines them."""
    rows = named_rows(src, tgt)
    return {key: rows[key].evaluation for key in METHODS}


def point_config(cfg: dict[str, Any], point: str) -> dict[str, Any]:
    """The workflow's config at one point: the same settings, the data generated at the point's knobs,
    only the sweep's pair (no CUHK03 pairs)."""
    out = copy.deepcopy(cfg)
    out["synthetic"].update(setting(cfg, point))
    out["pairs"], out["cuhk03_pairs"] = [list(cfg["gap_sweep"]["pair"])], []
    return out


def point_targets(cfg: dict[str, Any]) -> list[str]:
    """The evaluation files of one point's run, relative to its folder (every method, every seed)."""
    src, tgt = cfg["gap_sweep"]["pair"]
    return [evaluation.at(seed).path for evaluation in evaluations(src, tgt).values() for seed in cfg["seeds"]]


def point_outputs(cfg: dict[str, Any], point: str = "{point}") -> list[str]:
    """The same files as the sweep's rules name them (inside ``results/gap_sweep/<point>/``)."""
    return [f"{POINT_DIR.format(point=point)}/{path}" for path in point_targets(cfg)]


def sweep_rows(paths: Iterable[str | Path], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (knob, value, method) from the evaluation records of every point and seed; the
    default point's rows appear in every knob's line, at that knob's configured value."""
    pair = tuple(cfg["gap_sweep"]["pair"])
    keys = {evaluation: key for key, evaluation in evaluations(*pair).items()}
    grouped: dict[tuple[str, str], list[EvaluationRecord]] = defaultdict(list)
    for path in paths:
        found = re.search(r"gap_sweep/([^/]+)/", Path(path).as_posix())
        if found is None:
            raise ValueError(f"{path} is not inside a sweep point's folder (results/gap_sweep/<point>/)")
        setting(cfg, found.group(1))  # a known point
        record = EvaluationRecord.from_dict(read_json(path))
        grouped[(found.group(1), keys[record.evaluation.key])].append(record)
    measured = sorted({point for point, _ in grouped})
    lines = [(knob, point) for knob in cfg["gap_sweep"]["knobs"] for point in measured
             if point == DEFAULT_POINT or point.startswith(f"{knob}_")]
    rows = []
    for knob, point in lines:
        value = setting(cfg, point)[knob]
        for key in METHODS:
            records = grouped.get((point, key))
            if not records:
                continue
            values = {m: [r.metrics["gap"][m] for r in records] for m in ("rank1", "map")}
            rows.append({"knob": knob, "value": value, "method": label(key), "row": key, "source": pair[0],
                         "target": pair[1], **{k: f"{statistics.fmean(v):.2f}" for k, v in values.items()},
                         **{f"{k}_std": f"{statistics.stdev(v):.2f}" if len(v) > 1 else "" for k, v in values.items()},
                         "seeds": ";".join(str(r.run.seed) for r in sorted(records, key=lambda r: r.run.seed)),
                         "data": "synthetic" if records[0].synthetic else "real"})
    return sorted(rows, key=lambda r: (KNOBS.index(r["knob"]), r["value"], METHODS.index(r["row"])))


def write_sweep(path: str | Path, rows: list[dict[str, Any]]) -> None:
    write_csv(path, COLUMNS, rows)
