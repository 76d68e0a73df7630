"""Result tables: our numbers beside the paper's, one CSV row per (method, pair, metric).

Which rows a table holds is the plan's (:mod:`crgan.plan`); this module turns the records of its
inputs into rows. Columns are fixed (see COLUMNS). ``value`` is the mean over seeds (percent for
re-id metrics), ``std`` the standard deviation over seeds (empty for one seed), ``paper_value`` the
paper's published value (:mod:`crgan.paper`), ``status`` ``reproduced`` (we computed it) or
``reported-only`` (a method we do not run, quoted from the paper with its note) or
``published-elsewhere`` (Table 8's real-data references from later papers, not from the CR-GAN paper:
their published value in ``paper_value``, the source in ``notes``).
"""
from __future__ import annotations

import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from crgan.budgets import budget_notes
from crgan.io import read_json, write_csv
from crgan.methods import label
from crgan.paper import paper_rows, paper_values
from crgan.plan import TABLES, Measured, Ours, Published, Quoted, layout
from crgan.provenance import code_provenance
from crgan.records import EvaluationRecord, QualityRecord, RecordError, read_record
from crgan.runs import Evaluation, Quality

COLUMNS = ["table", "method", "source", "target", "metric", "value", "std", "paper_value", "data", "seeds", "init",
           "metric_backbone", "status", "notes"]


def read_records(paths: Iterable[str | Path]) -> list[EvaluationRecord | QualityRecord]:
    """The evaluation and image-quality records tables and claims are built from; an evaluation on a
    validation split is refused (its labels choose budgets, they never reach a table or a claim)."""
    records = []
    for path in paths:
        record = read_record(read_json(path))
        if isinstance(record, EvaluationRecord) and record.split != "test":
            raise RecordError(f"{path} is an evaluation on the {record.split} split: validation labels only choose "
                              f"training budgets (results/budget_curves.csv), never a table or a claim")
        records.append(record)
    return records


def summary_row(table: int, row: str, source: str, target: str, metric: str, values: list[float],
                seeds: list[int], data: str, init: str, notes: str, metric_backbone: str = "",
                digits: int = 2) -> dict[str, Any]:
    """One reproduced row (by its row key, printed as its label): the mean over seeds and their standard
    deviation, the paper's value beside it (looked up under the paper's metric name; a substitute
    metric is ``<metric>_substitute``)."""
    paper = paper_values().get((TABLES[table].paper, row, source, target, metric.removesuffix("_substitute")), "")
    return {"table": table, "method": label(row), "source": source, "target": target, "metric": metric,
            "value": f"{statistics.fmean(values):.{digits}f}",
            "std": f"{statistics.stdev(values):.{digits}f}" if len(values) > 1 else "", "paper_value": paper,
            "data": data, "seeds": ";".join(map(str, sorted(seeds))), "init": init, "metric_backbone": metric_backbone,
            "status": "reproduced", "notes": notes}


#: The note of a method's row on a pair the paper does not report it on (Table 7: SPGAN from CUHK03 to Duke).
NOT_REPORTED = "not run here: the paper reports none for this pair"


def reported_rows(table: int, method: str, source: str, target: str, metrics: Iterable[str]) -> list[dict]:
    """Rows quoting the paper for a method we do not run: no value of ours, the paper's note. A method
    the paper gives on other pairs only gets empty rows that say so."""
    found = {r["metric"]: r for r in paper_rows() if (int(r["table"]), r["method"], r["source"], r["target"])
             == (table, method, source, target)}
    notes = {m: "; ".join(x for x in (r["group"], "not run here: quoted from the paper", r["note"]) if x)
             for m, r in found.items()} or dict.fromkeys(metrics, NOT_REPORTED)
    return [{"table": table, "method": method, "source": source, "target": target, "metric": m,
             "value": "", "std": "", "paper_value": found[m]["value"] if m in found else "", "data": "", "seeds": "",
             "init": "", "metric_backbone": "", "status": "reported-only", "notes": notes[m]}
            for m in metrics if m in notes]


def published_rows(table: int, entry: Published, source: str, target: str, metrics: Iterable[str]) -> list[dict]:
    """A later paper's real-data result: its value in ``paper_value``, none of ours."""
    return [{"table": table, "method": entry.label, "source": source, "target": target, "metric": m, "value": "",
             "std": "", "paper_value": entry.values[m], "data": "real", "seeds": "", "init": "", "metric_backbone": "",
             "status": "published-elsewhere",
             "notes": f"not from the CR-GAN paper and not run here: published by {entry.source}, real data"}
            for m in metrics if m in entry.values]


def init_text(record: EvaluationRecord) -> str:
    """How a network started: its backbone's initialisation, after the network a TAUDL or Cluster
    Contrast run began from."""
    start = record.run.start_run
    if start is None:
        return record.init
    if start.target is None:  # a source re-id model
        return f"{start.label} ({record.init})"
    return f"{start.label} {start.source}->{start.target} ({record.init})"


def ours_rows(table: int, row: Ours, records: list[EvaluationRecord], src: str, tgt: str,
              metrics: Iterable[str]) -> list[dict[str, Any]]:
    """A computed re-id row's metrics, from its evaluation's per-seed records."""
    if not records:
        ev = row.evaluation
        raise ValueError(f"table {table}: no evaluation for {row.label} ({ev.path.replace('{seed}', '*')})")
    first = records[0]
    notes = row.notes
    if row.pooling == "lmp":
        notes = f"LMP P={first.metrics['lmp_parts']}; {notes}"
    group = next((r["group"] for r in paper_rows() if int(r["table"]) == table and r["row"] == row.key), "")
    rerank = first.metrics.get("rerank")
    if rerank:
        notes = (f"{notes}; k-reciprocal re-ranking (eval.rerank: k1 {rerank['k1']}, k2 {rerank['k2']}, "
                 f"lambda {rerank['lambda']}), not the paper's protocol")
    notes = "; ".join(x for x in (group, notes, f"chance rank1 {first.metrics['chance_rank1']:.2f}") if x)
    data = "synthetic" if first.synthetic else "real"
    seeds = [r.seed for r in records]
    return [summary_row(table, row.key, src, tgt, m, [r.metrics[row.pooling][m] for r in records], seeds, data,
                        init_text(first), notes) for m in metrics]


#: Row order of the quality metrics (by their paper name); all but LPIPS and FID are not in the paper.
QUALITY_METRICS = ("lpips", "lpips_person", "lpips_background", "fid", "kid", "lpips_diversity",
                   "lpips_diversity_person", "lpips_diversity_background")
_PERSON = "; over the source person only (its mask MF), not in the paper"
_BACKGROUND = "; over the background only (1 - MF), not in the paper"
_LPIPS = ("LPIPS, the paper's translation diversity: mean LPIPS between each source image XS and its rendering XG "
          "over every (source, context) pair (source-target data: LPIPS(XS, XT) over the same pairs, the upper bound)")
_DIVERSITY = ("not in the paper: per source image, mean LPIPS between its renderings into different target "
              "contexts (source-target data: between its target instances)")
QUALITY_NOTES = {
    "lpips": _LPIPS,
    "lpips_person": _LPIPS + _PERSON,
    "lpips_background": _LPIPS + _BACKGROUND,
    "fid": "FID against real target images, raw (the paper's scale for FID is unstated); distinct samples: each "
           "source image rendered into one context",
    "kid": "not in the paper: KID (unbiased, FID is biased on small sets), same features and samples as FID",
    "lpips_diversity": _DIVERSITY,
    "lpips_diversity_person": _DIVERSITY + _PERSON,
    "lpips_diversity_background": _DIVERSITY + _BACKGROUND,
}


def measured_rows(table: int, quality: Quality, records: list[QualityRecord]) -> list[dict[str, Any]]:
    """One method's image-quality metrics for a pair, with the feature network each was computed with."""
    if not records:
        raise ValueError(f"table {table}: no image-quality result for {quality.method} {quality.source}->"
                         f"{quality.target}")
    first, rows = records[0], []
    for metric in sorted(first.metrics, key=lambda m: QUALITY_METRICS.index(m.removesuffix("_substitute"))):
        base = metric.removesuffix("_substitute")
        notes = [QUALITY_NOTES[base]]
        if metric != base:
            notes.append("computed on a substitute feature network (ImageNet weights absent): not on the paper's scale")
        if base.startswith("lpips_diversity") and quality.method in ("wo_dual", "spgan"):
            notes.append("G does not see XT, so one source image has one rendering: diversity 0 by definition")
        rows.append(summary_row(table, quality.method, quality.source, quality.target, metric,
                                [r.metrics[metric] for r in records], [r.seed for r in records],
                                "synthetic" if first.synthetic else "real", "", "; ".join(notes),
                                metric_backbone=first.metric_backbone["lpips" if base.startswith("lpips") else "fid"],
                                digits=4))
    return rows


def _key(record: EvaluationRecord | QualityRecord) -> Evaluation | Quality:
    if isinstance(record, QualityRecord):
        return Quality(record.method, record.source, record.target)
    return record.evaluation.key


def build_table(table: int, records: list[EvaluationRecord | QualityRecord], cfg: dict[str, Any],
                budgets: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every row of ``table`` from the records of its inputs (:func:`table_inputs`); a row of ours notes
    the budgets its runs were trained below their plateau or with no plateau measured
    (``budgets``: :func:`crgan.budgets.budget_status`)."""
    by: dict[Evaluation | Quality, list] = {}
    for record in records:
        by.setdefault(_key(record), []).append(record)
    metrics = TABLES[table].metrics
    rows: list[dict[str, Any]] = []
    for src, tgt, table_entries in layout(table, cfg):
        for entry in table_entries:
            if isinstance(entry, Quoted):
                rows += reported_rows(table, entry.label, src, tgt, metrics)
            elif isinstance(entry, Published):
                rows += published_rows(table, entry, src, tgt, metrics)
            elif isinstance(entry, Measured):
                rows += measured_rows(table, entry.quality, by.get(entry.quality, []))
            else:
                found = ours_rows(table, entry, by.get(entry.evaluation, []), src, tgt, metrics)
                notes = budget_notes(entry.evaluation.run.budgets, budgets)
                for row in found if notes else ():
                    row["notes"] = "; ".join(x for x in (row["notes"], *notes) if x)
                rows += found
    if is_rehearsal(cfg):
        for row in rows:
            if row["status"] == "reproduced":
                row.update(status="rehearsal", notes="; ".join(x for x in (REHEARSAL_NOTE, row["notes"]) if x))
    return rows


#: What a rehearsal row is (see presets/rehearsal.yaml).
REHEARSAL_NOTE = "rehearsal: data and training cut short by data.rehearsal_identities, not a result"


def is_rehearsal(cfg: dict[str, Any]) -> bool:
    """Whether ``cfg`` is a rehearsal (``data.rehearsal_identities`` > 0): its numbers are not results."""
    return bool(cfg.get("data", {}).get("rehearsal_identities"))


def write_table(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write rows as CSV with the fixed columns, atomically."""
    write_csv(path, COLUMNS, rows)


def provenance(table: int, paths: list[str], records: list[EvaluationRecord | QualityRecord],
               cfg: dict[str, Any]) -> dict[str, Any]:
    """What produced a table: this step's provenance, and each input's file, seed and config hash."""
    return {"table": table, **code_provenance(cfg),
            "evaluations": [{"file": path, **{k: record.provenance.get(k) for k in
                                              ("config_hash", "git_commit", "seed", "device", "cpu", "kernels",
                                                                 "torch", "training_precision")}}
                            for path, record in zip(paths, records)]}
