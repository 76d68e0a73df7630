"""Result tables: our numbers beside the paper's, one row per (method, pair, metric).

Columns are fixed (see COLUMNS). ``value`` is the mean over seeds (percent for re-id metrics),
``paper_value`` comes from the paper's published tables (``paper_results.csv``), ``status`` is
``reproduced`` (we computed it), ``reported-only`` (quoted from the paper) or ``failed``.
"""
from __future__ import annotations

import csv
import statistics
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from crgan.io import atomic_file

COLUMNS = ["table", "method", "source", "target", "metric", "value", "paper_value", "data", "seeds", "init",
           "status", "notes"]
REID_METRICS = ("rank1", "rank5", "rank10", "map")


@lru_cache(maxsize=1)
def paper_values() -> dict[tuple[int, str, str, str, str], str]:
    """(table, method, source, target, metric) -> the paper's value, as published."""
    text = resources.files("crgan.report").joinpath("paper_results.csv").read_text()
    return {(int(r["table"]), r["method"], r["source"], r["target"], r["metric"]): r["value"]
            for r in csv.DictReader(text.splitlines())}


def metric_rows(table: int, method: str, source: str, target: str, per_seed: list[dict[str, Any]],
                metrics: Iterable[str], data: str, init: str, notes: str = "", pooling: str = "gap") -> list[dict]:
    """Rows for one method and pair from per-seed evaluation results (mean, spread in notes)."""
    rows = []
    seeds = sorted(r["seed"] for r in per_seed)
    for metric in metrics:
        values = [r["metrics"][pooling][metric] for r in per_seed]
        note = notes
        if len(values) > 1:
            note = f"{note}; " if note else ""
            note += f"std {statistics.stdev(values):.2f} over {len(values)} seeds"
        rows.append({
            "table": table, "method": method, "source": source, "target": target, "metric": metric,
            "value": f"{statistics.fmean(values):.2f}",
            "paper_value": paper_values().get((table, method, source, target, metric), ""),
            "data": data, "seeds": ";".join(map(str, seeds)), "init": init, "status": "reproduced", "notes": note,
        })
    return rows


def _by_key(evals: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for ev in evals:
        out.setdefault((ev["model_domain"], ev["test_domain"]), []).append(ev)
    return out


def table2_rows(evals: list[dict[str, Any]], pairs: list[list[str]]) -> list[dict[str, Any]]:
    """Table 2 so far: Direct Transfer per pair, with the source->source and target-supervised rows."""
    by = _by_key(evals)
    rows: list[dict[str, Any]] = []
    for src, tgt in pairs:
        for method, key, notes in [
            ("Direct Transfer", (src, tgt), "source-trained model tested on the target"),
            ("Source->source (sanity)", (src, src), f"not in the paper: source model on the {src} test set"),
            ("Target-supervised (upper bound)", (tgt, tgt), f"not in the paper: trained with {tgt} labels"),
        ]:
            runs = by.get(key)
            if not runs:
                raise ValueError(f"table 2: no evaluation of the {key[0]} model on {key[1]}")
            data = "synthetic" if runs[0]["synthetic"] else "real"
            chance = runs[0]["metrics"]["chance_rank1"]
            rows += metric_rows(2, method, src, tgt, runs, REID_METRICS, data, runs[0]["init"],
                                f"{notes}; chance rank1 {chance:.2f}")
    return rows


def write_table(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write rows as CSV with the fixed columns, atomically."""
    with atomic_file(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
