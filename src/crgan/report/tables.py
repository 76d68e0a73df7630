"""Result tables: our numbers beside the paper's, one row per (method, pair, metric).

Each table's layout (:func:`layout`) is stated once: per pair, the methods in the paper's order,
each either ours (an :class:`Ours` row naming the evaluation behind it, or a :class:`Measured`
image-quality result) or :class:`Quoted` from the paper. The workflow's table rule takes its
inputs from the same layout (:func:`table_inputs`), so a new row is one entry here.

Columns are fixed (see COLUMNS). ``value`` is the mean over seeds (percent for re-id metrics),
``std`` the standard deviation over seeds (empty for one seed), ``paper_value`` the paper's
published value (``paper_results.csv``), ``status`` ``reproduced`` (we computed it) or
``reported-only`` (a method we do not run, quoted from the paper with its note) or
``published-elsewhere`` (Table 8's real-data references from later papers, not from the CR-GAN paper:
their published value in ``paper_value``, the source in ``notes``).
"""
from __future__ import annotations

import csv
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from crgan.io import read_json, write_csv
from crgan.records import EvaluationRecord, QualityRecord, read_record
from crgan.runs import CONTROLS, QUALITY_METHODS, TAUDL_STARTS, VARIANTS, Evaluation, Quality, Run

COLUMNS = ["table", "method", "source", "target", "metric", "value", "std", "paper_value", "data", "seeds", "init",
           "metric_backbone", "status", "notes"]
REID_METRICS = ("rank1", "rank5", "rank10", "map")


@lru_cache(maxsize=1)
def paper_rows() -> tuple[dict[str, str], ...]:
    """Every published value (Tables 1-7) with its group and note, in the paper's order."""
    text = resources.files("crgan.report").joinpath("paper_results.csv").read_text()
    return tuple(csv.DictReader(text.splitlines()))


@lru_cache(maxsize=1)
def paper_values() -> dict[tuple[int, str, str, str, str], str]:
    """(table, method, source, target, metric) -> the paper's value, as published."""
    return {(int(r["table"]), r["method"], r["source"], r["target"], r["metric"]): r["value"] for r in paper_rows()}


@dataclass(frozen=True)
class Ours:
    """A re-id row we compute: its name in the table, the evaluation behind it (every seed), the
    pooling of the features (``gap`` or ``lmp``) and what it is."""

    method: str
    evaluation: Evaluation
    pooling: str
    notes: str


@dataclass(frozen=True)
class Measured:
    """An image-quality row we compute (Tables 1 and 4)."""

    quality: Quality


@dataclass(frozen=True)
class Quoted:
    """A method we do not run: the paper's numbers with its note, no value of ours."""

    method: str


@dataclass(frozen=True)
class Published:
    """A real-data result published after the paper (Table 8's references): values by metric, and
    where they are published."""

    method: str
    values: dict[str, str]
    source: str


Entry = Ours | Measured | Quoted | Published

#: Every table: the pairs it covers (config key) and its metrics (quality tables: all measured).
TABLES = {1: ("pairs", ()), 2: ("pairs", REID_METRICS), 3: ("pairs", REID_METRICS), 4: ("pairs", ()),
          5: ("pairs", ("rank1", "map")), 6: ("pairs", REID_METRICS), 7: ("cuhk03_pairs", REID_METRICS),
          8: ("pairs", REID_METRICS)}
#: Where a table's rows find their paper values: Table 8 (beyond the paper) repeats Table 6's methods.
PAPER_TABLE = {8: 6}
#: Tables 1 and 4: the methods whose images they measure (keys of QUALITY_METHODS), in the paper's order.
QUALITY_TABLES = {1: ("source-target", "wo_dual", "crgan"), 4: ("source-target", "spgan", "crgan")}
#: Tables 5-7: the methods we run (the rest of the paper's rows are quoted).
COMPARISONS = {5: ("SPGAN", "CR-GAN", "SPGAN+LMP", "CR-GAN+LMP"),
               6: ("SPGAN+LMP", "CR-GAN+LMP", "TAUDL", "SPGAN+TAUDL", "CR-GAN+TAUDL"),
               7: ("SPGAN", "CR-GAN", "TAUDL", "CR-GAN+TAUDL")}

TRACKLETS = ("TAUDL tracklets: one per (person, camera) of the unlabelled target train set, i.e. per-camera "
             "identity labels and no cross-camera labels")
SPGAN_NOTE = "source model fine-tuned on the source train set translated once by SPGAN (source labels)"


CONTROL_NOTES = {
    "paste": "not in the paper: control without a GAN, Did fine-tuned as CR-GAN on XS * MF + XT * (1 - MF) (the "
             "source person pasted on a target image)",
    "adabn": "not in the paper: control without labels or training, the source model with BatchNorm statistics "
             "re-estimated on target training images (AdaBN)",
}


def _rendered(src: str, tgt: str) -> str:
    return f"Did fine-tuned on renderings G(XS, X'T) of {src} persons in {tgt} contexts"


def table2_entries(src: str, tgt: str) -> list[Entry]:
    """Table 2: Direct Transfer, w/o dual condition and CR-GAN (without and with LMP), the paste and
    AdaBN controls, and the source->source and target-supervised reference rows."""
    crgan, wo_dual = Evaluation.of(Run.crgan(src, tgt)), Evaluation.of(Run.crgan(src, tgt, "wo_dual"))
    wo_dual_label, crgan_label = VARIANTS["wo_dual"].label, VARIANTS["crgan"].label
    return [
        Ours("Direct Transfer", Evaluation.of(Run.reid(src), tgt), "gap", "source-trained model tested on the target"),
        Ours(wo_dual_label, wo_dual, "gap", "G sees only XS"),
        Ours(crgan_label, crgan, "gap", _rendered(src, tgt)),
        Ours(f"{wo_dual_label}+LMP", wo_dual, "lmp", "G sees only XS"),
        Ours(f"{crgan_label}+LMP", crgan, "lmp", _rendered(src, tgt)),
        *[Ours(f"{CONTROLS[control]}{suffix}", Evaluation.of(Run.control(control, src, tgt)), pooling,
               CONTROL_NOTES[control]) for control in CONTROLS for pooling, suffix in (("gap", ""), ("lmp", "+LMP"))],
        Ours("Source->source (sanity)", Evaluation.of(Run.reid(src), src), "gap",
             f"not in the paper: source model on the {src} test set"),
        Ours("Target-supervised (upper bound)", Evaluation.of(Run.reid(tgt), tgt), "gap",
             f"not in the paper: trained with {tgt} labels"),
    ]


def table3_entries(src: str, tgt: str) -> list[Entry]:
    """Table 3: loss ablation (each loss removed in turn) against the full CR-GAN, GAP features."""
    return [Ours(VARIANTS[v].label, Evaluation.of(Run.crgan(src, tgt, v)), "gap", f"variant {v}")
            for v in ("wo_id", "wo_cam", "wo_con", "crgan")]


def comparison_methods(src: str, tgt: str) -> dict[str, Ours]:
    """Every method of Tables 5-7 we run, for one pair, by the name the paper gives it."""
    spgan, crgan = Evaluation.of(Run.spgan(src, tgt)), Evaluation.of(Run.crgan(src, tgt))
    taudl = {start: Evaluation.of(Run.taudl(tgt, start, None if start in ("plain", "untrained") else src))
             for start in TAUDL_STARTS}
    rows = [
        Ours("SPGAN", spgan, "gap", SPGAN_NOTE),
        Ours("SPGAN+LMP", spgan, "lmp", SPGAN_NOTE),
        Ours("CR-GAN", crgan, "gap", _rendered(src, tgt)),
        Ours("CR-GAN+LMP", crgan, "lmp", _rendered(src, tgt)),
        Ours("Untrained network (floor)", taudl["untrained"], "gap",
             "not in the paper: TAUDL's network as initialised, no training: the floor TAUDL numbers are read against"),
        Ours("TAUDL", taudl["plain"], "gap",
             f"plain initialisation, no source data; {TRACKLETS}; TAUDL embedding as feature"),
        Ours("SPGAN+TAUDL", taudl["spgan"], "gap", f"TAUDL started from the SPGAN fine-tuned network; {TRACKLETS}"),
        Ours("CR-GAN+TAUDL", taudl["crgan"], "gap", f"TAUDL started from the CR-GAN fine-tuned network; {TRACKLETS}"),
    ]
    return {row.method: row for row in rows}


def comparison_entries(table: int, src: str, tgt: str) -> list[Entry]:
    """Tables 5-7: the paper's methods in the paper's order, ours computed and the rest quoted
    (Table 7 first gives Direct Transfer, which the paper's Table 7 lacks, for its domain gap)."""
    ours = comparison_methods(src, tgt)
    methods = dict.fromkeys(r["method"] for r in paper_rows() if int(r["table"]) == table)
    direct = [Ours("Direct Transfer", Evaluation.of(Run.reid(src), tgt), "gap",
                   "not in the paper's Table 7: the source model tested on the target")] if table == 7 else []
    floor = [ours["Untrained network (floor)"]] if table in (6, 7) else []
    reported = {(method, (source, target)) for (t, method, source, target, _) in paper_values() if t == table}
    # a method the paper does not report on this pair is not run for it either (Table 7: SPGAN from CUHK03 to Duke)
    return direct + floor + [ours[m] if m in COMPARISONS[table] and (m, (src, tgt)) in reported else Quoted(m)
                             for m in methods]


#: Table 8's real-data references (mAP, rank-1), verified against their sources, by (source, target).
PUBLISHED = {
    ("MMT", "Ge, Chen, Li, ICLR 2020 (as listed in OpenUnReID's docs/LEADERBOARD.md)"): {
        ("market1501", "dukemtmc"): {"map": "65.1", "rank1": "78.0"},
        ("dukemtmc", "market1501"): {"map": "71.2", "rank1": "87.7"}},
    ("SpCL", "Ge, Zhu, Chen, Zhao, Li, NeurIPS 2020 (OpenUnReID's docs/LEADERBOARD.md)"): {
        ("market1501", "dukemtmc"): {"map": "68.8", "rank1": "82.9"},
        ("dukemtmc", "market1501"): {"map": "76.7", "rank1": "90.3"}},
    ("DG-Net++", "Zou, Yang, Yu, Kumar, Kautz, ECCV 2020 (NVlabs/DG-Net-PP README)"): {
        ("market1501", "dukemtmc"): {"map": "64.4", "rank1": "79.3"},
        ("dukemtmc", "market1501"): {"map": "64.0", "rank1": "82.6"}},
}
CLUSTER_NOTE = ("not in the paper: Cluster Contrast (Dai et al.) on the unlabelled target train set: DBSCAN "
                "pseudo-labels on k-reciprocal Jaccard distances, contrastive cluster memory")


def table8_entries(src: str, tgt: str) -> list[Entry]:
    """Table 8 (beyond the paper): the paper's best rows against Cluster Contrast from the source model
    and from CR-GAN's fine-tuned network, the untrained floor, and published real-data references."""
    ours = comparison_methods(src, tgt)
    reference = {row.method: row for row in table2_entries(src, tgt)}
    cluster = {start: Evaluation.of(Run.cluster_contrast(tgt, start, None if start == "untrained" else src))
               for start in ("untrained", "reid", "crgan")}
    return [
        reference["Direct Transfer"],
        Ours("Untrained network (floor)", cluster["untrained"], "gap",
             "not in the paper: Cluster Contrast's network as initialised, no training"),
        ours["CR-GAN+LMP"], ours["TAUDL"], ours["CR-GAN+TAUDL"],
        Ours("Cluster Contrast", cluster["reid"], "gap", f"{CLUSTER_NOTE}; started from the {src} source model"),
        Ours("CR-GAN+Cluster Contrast", cluster["crgan"], "gap",
             f"{CLUSTER_NOTE}; started from the CR-GAN fine-tuned network"),
        reference["Target-supervised (upper bound)"],
        *[Published(method, values[(src, tgt)], source) for (method, source), values in PUBLISHED.items()
          if (src, tgt) in values],
    ]


def entries(table: int, src: str, tgt: str) -> list[Entry]:
    """The rows of ``table`` for one pair."""
    if table in QUALITY_TABLES:
        return [Measured(Quality(method, src, tgt)) for method in QUALITY_TABLES[table]]
    if table == 2:
        return table2_entries(src, tgt)
    if table == 3:
        return table3_entries(src, tgt)
    if table == 8:
        return table8_entries(src, tgt)
    return comparison_entries(table, src, tgt)


def named_evaluations(src: str, tgt: str) -> dict[str, Evaluation]:
    """Every re-id row with GAP features of the tables for a pair, by its name in the tables: the one
    place that says which evaluation "CR-GAN" or "Cluster Contrast" is (the sweep and the report's
    ranked lists read it)."""
    return {row.method: row.evaluation for table in (2, 5, 6, 7, 8) for row in entries(table, src, tgt)
            if isinstance(row, Ours) and row.pooling == "gap"}


def layout(table: int, cfg: dict[str, Any]) -> list[tuple[str, str, list[Entry]]]:
    """Per configured pair of ``table``: (source, target, its rows)."""
    if table not in TABLES:
        raise ValueError(f"no table {table} (tables: {', '.join(map(str, TABLES))})")
    return [(src, tgt, entries(table, src, tgt)) for src, tgt in cfg[TABLES[table][0]]]


def table_inputs(table: int, cfg: dict[str, Any]) -> list[str]:
    """The result files ``table`` is built from, for every configured seed."""
    files = []
    for _, _, rows in layout(table, cfg):
        for entry in rows:
            if isinstance(entry, Ours):
                files += [entry.evaluation.at(seed).path for seed in cfg["seeds"]]
            elif isinstance(entry, Measured):
                files += [entry.quality.at(seed).path for seed in cfg["seeds"]]
    return list(dict.fromkeys(files))


def read_records(paths: Iterable[str | Path]) -> list[EvaluationRecord | QualityRecord]:
    """The evaluation and image-quality records tables and claims are built from."""
    return [read_record(read_json(path)) for path in paths]


def summary_row(table: int, method: str, source: str, target: str, metric: str, values: list[float],
                seeds: list[int], data: str, init: str, notes: str, metric_backbone: str = "",
                digits: int = 2) -> dict[str, Any]:
    """One reproduced row: the mean over seeds and their standard deviation, the paper's value beside
    it (looked up under the paper's metric name; a substitute metric is ``<metric>_substitute``)."""
    paper = paper_values().get((PAPER_TABLE.get(table, table), method, source, target, metric.removesuffix("_substitute")),
                               "")
    return {"table": table, "method": method, "source": source, "target": target, "metric": metric,
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
    return [{"table": table, "method": entry.method, "source": source, "target": target, "metric": m, "value": "",
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
        raise ValueError(f"table {table}: no evaluation for {row.method} ({ev.path.replace('{seed}', '*')})")
    first = records[0]
    notes = row.notes
    if row.pooling == "lmp":
        notes = f"LMP P={first.metrics['lmp_parts']}; {notes}"
    group = next((r["group"] for r in paper_rows() if int(r["table"]) == table and r["method"] == row.method), "")
    rerank = first.metrics.get("rerank")
    if rerank:
        notes = (f"{notes}; k-reciprocal re-ranking (eval.rerank: k1 {rerank['k1']}, k2 {rerank['k2']}, "
                 f"lambda {rerank['lambda']}), not the paper's protocol")
    notes = "; ".join(x for x in (group, notes, f"chance rank1 {first.metrics['chance_rank1']:.2f}") if x)
    data = "synthetic" if first.synthetic else "real"
    seeds = [r.seed for r in records]
    return [summary_row(table, row.method, src, tgt, m, [r.metrics[row.pooling][m] for r in records], seeds, data,
                        init_text(first), notes) for m in metrics]


#: Row order of the quality metrics (by their paper name); the last two are not in the paper.
QUALITY_METRICS = ("lpips", "fid", "kid", "lpips_diversity")
QUALITY_NOTES = {
    "lpips": "LPIPS, the paper's translation diversity: mean LPIPS between each source image XS and its "
             "rendering XG over every (source, context) pair (source-target data: LPIPS(XS, XT) over the same "
             "pairs, the upper bound)",
    "fid": "FID against real target images, raw (the paper's scale for FID is unstated); distinct samples: each "
           "source image rendered into one context",
    "kid": "not in the paper: KID (unbiased, FID is biased on small sets), same features and samples as FID",
    "lpips_diversity": "not in the paper: per source image, mean LPIPS between its renderings into different "
                       "target contexts (source-target data: between its target instances)",
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
        if base == "lpips_diversity" and quality.method in ("wo_dual", "spgan"):
            notes.append("G does not see XT, so one source image has one rendering: diversity 0 by definition")
        rows.append(summary_row(table, QUALITY_METHODS[quality.method], quality.source, quality.target, metric,
                                [r.metrics[metric] for r in records], [r.seed for r in records],
                                "synthetic" if first.synthetic else "real", "", "; ".join(notes),
                                metric_backbone=first.metric_backbone["lpips" if base.startswith("lpips") else "fid"],
                                digits=4))
    return rows


def _key(record: EvaluationRecord | QualityRecord) -> Evaluation | Quality:
    if isinstance(record, QualityRecord):
        return Quality(record.method, record.source, record.target)
    return record.evaluation.key


def build_table(table: int, records: list[EvaluationRecord | QualityRecord], cfg: dict[str, Any]
                ) -> list[dict[str, Any]]:
    """Every row of ``table`` from the records of its inputs (:func:`table_inputs`)."""
    by: dict[Evaluation | Quality, list] = {}
    for record in records:
        by.setdefault(_key(record), []).append(record)
    metrics = TABLES[table][1]
    rows: list[dict[str, Any]] = []
    for src, tgt, table_entries in layout(table, cfg):
        for entry in table_entries:
            if isinstance(entry, Quoted):
                rows += reported_rows(table, entry.method, src, tgt, metrics)
            elif isinstance(entry, Published):
                rows += published_rows(table, entry, src, tgt, metrics)
            elif isinstance(entry, Measured):
                rows += measured_rows(table, entry.quality, by.get(entry.quality, []))
            else:
                rows += ours_rows(table, entry, by.get(entry.evaluation, []), src, tgt, metrics)
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
