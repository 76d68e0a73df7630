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


#: CR-GAN variants by the name the paper's tables give them.
VARIANT_METHODS = {"crgan": "CR-GAN", "wo_dual": "w/o dual condition", "wo_id": "w/o identity loss",
                   "wo_cam": "w/o camera loss", "wo_con": "w/o context loss"}


def _by_key(evals: list[dict[str, Any]]) -> dict[tuple[str, str, str | None], list[dict[str, Any]]]:
    """Evaluations grouped by (model's source domain, test domain, CR-GAN variant or None)."""
    out: dict[tuple[str, str, str | None], list[dict[str, Any]]] = {}
    for ev in evals:
        out.setdefault((ev["model_domain"], ev["test_domain"], ev.get("variant")), []).append(ev)
    return out


def _rows_for(table: int, by: dict, specs: list[tuple[str, tuple, str, str]], src: str, tgt: str) -> list[dict]:
    rows: list[dict[str, Any]] = []
    for method, key, pooling, notes in specs:
        runs = by.get(key)
        if not runs:
            raise ValueError(f"table {table}: no evaluation for {method} ({key[0]} model on {key[1]})")
        data = "synthetic" if runs[0]["synthetic"] else "real"
        chance = runs[0]["metrics"]["chance_rank1"]
        if pooling == "lmp":
            notes = f"LMP P={runs[0]['metrics']['lmp_parts']}; {notes}"
        rows += metric_rows(table, method, src, tgt, runs, REID_METRICS, data, runs[0]["init"],
                            f"{notes}; chance rank1 {chance:.2f}", pooling=pooling)
    return rows


def table2_rows(evals: list[dict[str, Any]], pairs: list[list[str]]) -> list[dict[str, Any]]:
    """Table 2: Direct Transfer, w/o dual condition and CR-GAN (without and with LMP), plus the
    source->source and target-supervised reference rows."""
    by = _by_key(evals)
    rows: list[dict[str, Any]] = []
    for src, tgt in pairs:
        rendered = f"Did fine-tuned on renderings G(XS, X'T) of {src} persons in {tgt} contexts"
        rows += _rows_for(2, by, [
            ("Direct Transfer", (src, tgt, None), "gap", "source-trained model tested on the target"),
            (VARIANT_METHODS["wo_dual"], (src, tgt, "wo_dual"), "gap", "G sees only XS"),
            (VARIANT_METHODS["crgan"], (src, tgt, "crgan"), "gap", rendered),
            (VARIANT_METHODS["wo_dual"] + "+LMP", (src, tgt, "wo_dual"), "lmp", "G sees only XS"),
            (VARIANT_METHODS["crgan"] + "+LMP", (src, tgt, "crgan"), "lmp", rendered),
            ("Source->source (sanity)", (src, src, None), "gap", f"not in the paper: source model on the {src} test set"),
            ("Target-supervised (upper bound)", (tgt, tgt, None), "gap", f"not in the paper: trained with {tgt} labels"),
        ], src, tgt)
    return rows


def table3_rows(evals: list[dict[str, Any]], pairs: list[list[str]]) -> list[dict[str, Any]]:
    """Table 3: loss ablation (each loss removed in turn) against the full CR-GAN, GAP features."""
    by = _by_key(evals)
    rows: list[dict[str, Any]] = []
    for src, tgt in pairs:
        rows += _rows_for(3, by, [(VARIANT_METHODS[v], (src, tgt, v), "gap", f"variant {v}")
                                  for v in ("wo_id", "wo_cam", "wo_con", "crgan")], src, tgt)
    return rows


def write_table(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write rows as CSV with the fixed columns, atomically."""
    with atomic_file(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
