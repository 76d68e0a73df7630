"""Result tables: our numbers beside the paper's, one row per (method, pair, metric).

Columns are fixed (see COLUMNS). ``value`` is the mean over seeds (percent for re-id metrics),
``paper_value`` comes from the paper's published tables (``paper_results.csv``), ``status`` is
``reproduced`` (we computed it) or ``reported-only`` (a method we do not run, quoted from the
paper with its note, and no value of ours).
"""
from __future__ import annotations

import csv
import statistics
from functools import lru_cache, partial
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from crgan.io import atomic_file

COLUMNS = ["table", "method", "source", "target", "metric", "value", "paper_value", "data", "seeds", "init",
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


def summary_row(table: int, method: str, source: str, target: str, metric: str, values: list[float],
                seeds: list[int], data: str, init: str, notes: str, metric_backbone: str = "",
                digits: int = 2) -> dict[str, Any]:
    """One reproduced row: the mean over seeds, the spread in the notes, the paper's value beside it
    (looked up under the paper's metric name; a substitute metric is ``<metric>_substitute``)."""
    if len(values) > 1:
        notes = "; ".join(x for x in (notes, f"std {statistics.stdev(values):.{digits}f} over {len(values)} seeds") if x)
    paper = paper_values().get((table, method, source, target, metric.removesuffix("_substitute")), "")
    return {"table": table, "method": method, "source": source, "target": target, "metric": metric,
            "value": f"{statistics.fmean(values):.{digits}f}", "paper_value": paper, "data": data,
            "seeds": ";".join(map(str, sorted(seeds))), "init": init, "metric_backbone": metric_backbone,
            "status": "reproduced", "notes": notes}


def metric_rows(table: int, method: str, source: str, target: str, per_seed: list[dict[str, Any]],
                metrics: Iterable[str], data: str, init: str, notes: str = "", pooling: str = "gap") -> list[dict]:
    """Re-id rows (percent) for one method and pair from per-seed evaluation results."""
    seeds = [r["seed"] for r in per_seed]
    return [summary_row(table, method, source, target, m, [r["metrics"][pooling][m] for r in per_seed], seeds,
                        data, init, notes) for m in metrics]


def reported_rows(table: int, method: str, source: str, target: str, metrics: Iterable[str]) -> list[dict]:
    """Rows quoting the paper for a method we do not run: no value of ours, the paper's note."""
    found = {r["metric"]: r for r in paper_rows() if (int(r["table"]), r["method"], r["source"], r["target"])
             == (table, method, source, target)}
    return [{"table": table, "method": method, "source": source, "target": target, "metric": m,
             "value": "", "paper_value": found[m]["value"], "data": "", "seeds": "", "init": "",
             "metric_backbone": "", "status": "reported-only",
             "notes": "; ".join(x for x in (found[m]["group"], "not run here: quoted from the paper",
                                            found[m]["note"]) if x)}
            for m in metrics if m in found]


#: CR-GAN variants by the name the paper's tables give them.
VARIANT_METHODS = {"crgan": "CR-GAN", "wo_dual": "w/o dual condition", "wo_id": "w/o identity loss",
                   "wo_cam": "w/o camera loss", "wo_con": "w/o context loss"}

#: An evaluation's identity: (method, source domain or None, test domain, CR-GAN variant or TAUDL start).
EvalKey = tuple[str, "str | None", str, "str | None"]


def eval_key(ev: dict[str, Any]) -> EvalKey:
    return ev["method"], ev["source"], ev["test_domain"], ev.get("variant") or ev.get("start")


def _by_key(evals: list[dict[str, Any]]) -> dict[EvalKey, list[dict[str, Any]]]:
    """Evaluations grouped by :func:`eval_key` (one entry per seed)."""
    out: dict[EvalKey, list[dict[str, Any]]] = {}
    for ev in evals:
        out.setdefault(eval_key(ev), []).append(ev)
    return out


#: A row group of ours: (method name in the table, evaluation key, pooling, notes).
Spec = tuple[str, EvalKey, str, str]


def _rows_for(table: int, by: dict, specs: list[Spec], src: str, tgt: str,
              metrics: Iterable[str] = REID_METRICS) -> list[dict]:
    rows: list[dict[str, Any]] = []
    for method, key, pooling, notes in specs:
        runs = by.get(key)
        if not runs:
            raise ValueError(f"table {table}: no evaluation for {method} ({key[0]} {key[1]}->{key[2]}, {key[3]})")
        data = "synthetic" if runs[0]["synthetic"] else "real"
        chance = runs[0]["metrics"]["chance_rank1"]
        if pooling == "lmp":
            notes = f"LMP P={runs[0]['metrics']['lmp_parts']}; {notes}"
        group = next((r["group"] for r in paper_rows() if int(r["table"]) == table and r["method"] == method), "")
        notes = "; ".join(x for x in (group, notes, f"chance rank1 {chance:.2f}") if x)
        rows += metric_rows(table, method, src, tgt, runs, metrics, data, runs[0]["init"], notes, pooling=pooling)
    return rows


def _rendered(src: str, tgt: str) -> str:
    return f"Did fine-tuned on renderings G(XS, X'T) of {src} persons in {tgt} contexts"


def table2_rows(evals: list[dict[str, Any]], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Table 2: Direct Transfer, w/o dual condition and CR-GAN (without and with LMP), plus the
    source->source and target-supervised reference rows."""
    by = _by_key(evals)
    rows: list[dict[str, Any]] = []
    for src, tgt in cfg["pairs"]:
        crgan, wo_dual = ("crgan", src, tgt, "crgan"), ("crgan", src, tgt, "wo_dual")
        rows += _rows_for(2, by, [
            ("Direct Transfer", ("reid", src, tgt, None), "gap", "source-trained model tested on the target"),
            (VARIANT_METHODS["wo_dual"], wo_dual, "gap", "G sees only XS"),
            (VARIANT_METHODS["crgan"], crgan, "gap", _rendered(src, tgt)),
            (VARIANT_METHODS["wo_dual"] + "+LMP", wo_dual, "lmp", "G sees only XS"),
            (VARIANT_METHODS["crgan"] + "+LMP", crgan, "lmp", _rendered(src, tgt)),
            ("Source->source (sanity)", ("reid", src, src, None), "gap",
             f"not in the paper: source model on the {src} test set"),
            ("Target-supervised (upper bound)", ("reid", tgt, tgt, None), "gap",
             f"not in the paper: trained with {tgt} labels"),
        ], src, tgt)
    return rows


def table3_rows(evals: list[dict[str, Any]], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Table 3: loss ablation (each loss removed in turn) against the full CR-GAN, GAP features."""
    by = _by_key(evals)
    rows: list[dict[str, Any]] = []
    for src, tgt in cfg["pairs"]:
        rows += _rows_for(3, by, [(VARIANT_METHODS[v], ("crgan", src, tgt, v), "gap", f"variant {v}")
                                  for v in ("wo_id", "wo_cam", "wo_con", "crgan")], src, tgt)
    return rows


TRACKLETS = ("TAUDL tracklets: one per (person, camera) of the unlabelled target train set, i.e. per-camera "
             "identity labels and no cross-camera labels")
SPGAN_NOTE = "source model fine-tuned on the source train set translated once by SPGAN (source labels)"


def comparison_specs(src: str, tgt: str) -> dict[str, Spec]:
    """Every method of Tables 5-7 we run, for one pair, by the name the paper gives it."""
    spgan, crgan = ("spgan", src, tgt, None), ("crgan", src, tgt, "crgan")
    specs: list[Spec] = [
        ("SPGAN", spgan, "gap", SPGAN_NOTE),
        ("SPGAN+LMP", spgan, "lmp", SPGAN_NOTE),
        ("CR-GAN", crgan, "gap", _rendered(src, tgt)),
        ("CR-GAN+LMP", crgan, "lmp", _rendered(src, tgt)),
        ("TAUDL", ("taudl", None, tgt, "plain"), "gap",
         f"plain initialisation, no source data; {TRACKLETS}; TAUDL embedding as feature"),
        ("SPGAN+TAUDL", ("taudl", src, tgt, "spgan"), "gap",
         f"TAUDL started from the SPGAN fine-tuned network; {TRACKLETS}"),
        ("CR-GAN+TAUDL", ("taudl", src, tgt, "crgan"), "gap",
         f"TAUDL started from the CR-GAN fine-tuned network; {TRACKLETS}"),
    ]
    return {spec[0]: spec for spec in specs}


#: Tables 5-7: the pairs they cover, their metrics, and the methods we run (the rest are quoted).
COMPARISONS = {
    5: ("pairs", ("rank1", "map"), ("SPGAN", "CR-GAN", "SPGAN+LMP", "CR-GAN+LMP")),
    6: ("pairs", REID_METRICS, ("SPGAN+LMP", "CR-GAN+LMP", "TAUDL", "SPGAN+TAUDL", "CR-GAN+TAUDL")),
    7: ("cuhk03_pairs", REID_METRICS, ("SPGAN", "CR-GAN", "TAUDL", "CR-GAN+TAUDL")),
}


def comparison_rows(table: int, evals: list[dict[str, Any]], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Tables 5-7: the paper's methods in the paper's order, ours computed and the rest quoted."""
    pairs_key, metrics, ours = COMPARISONS[table]
    by = _by_key(evals)
    methods = list(dict.fromkeys(r["method"] for r in paper_rows() if int(r["table"]) == table))
    rows: list[dict[str, Any]] = []
    for src, tgt in cfg[pairs_key]:
        specs = comparison_specs(src, tgt)
        for method in methods:
            if method in ours:
                rows += _rows_for(table, by, [specs[method]], src, tgt, metrics)
            else:
                rows += reported_rows(table, method, src, tgt, metrics)
    return rows


#: Methods measured for image quality (``crgan quality --method``), by the name Tables 1 and 4 give them.
QUALITY_METHODS = {"source-target": "source-target data", "wo_dual": "w/o dual condition", "crgan": "CR-GAN",
                   "spgan": "SPGAN"}
#: Tables 1 and 4: the methods whose images they measure (keys of QUALITY_METHODS), in the paper's order.
QUALITY_TABLES = {1: ("source-target", "wo_dual", "crgan"), 4: ("source-target", "spgan", "crgan")}
#: Row order of the quality metrics (by their paper name); the last two are not in the paper.
QUALITY_METRICS = ("lpips", "fid", "kid", "lpips_to_source")
QUALITY_NOTES = {
    "lpips": "LPIPS diversity: mean over source images of the mean LPIPS between its renderings into "
             "different target contexts (source-target data: LPIPS between source and target images)",
    "fid": "FID against real target images, raw (the paper's scale for FID is unstated)",
    "kid": "not in the paper: KID (unbiased, FID is biased on small sets), same features as FID",
    "lpips_to_source": "not in the paper: mean LPIPS between a source image and its renderings",
}


def quality_rows(table: int, evals: list[dict[str, Any]], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Tables 1 and 4: LPIPS and FID (plus KID and LPIPS-to-source) per method and pair, with the
    feature network each was computed with."""
    by: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for ev in evals:
        by.setdefault((ev["method"], ev["source"], ev["target"]), []).append(ev)
    rows: list[dict[str, Any]] = []
    for src, tgt in cfg["pairs"]:
        for method in QUALITY_TABLES[table]:
            runs = by.get((method, src, tgt))
            if not runs:
                raise ValueError(f"table {table}: no image-quality result for {method} {src}->{tgt}")
            measured = sorted(runs[0]["metrics"], key=lambda m: QUALITY_METRICS.index(m.removesuffix("_substitute")))
            for metric in measured:
                base = metric.removesuffix("_substitute")
                backbone = runs[0]["metric_backbone"]["lpips" if base.startswith("lpips") else "fid"]
                notes = [QUALITY_NOTES[base]]
                if metric != base:
                    notes.append("computed on a substitute feature network (ImageNet weights absent): "
                                 "not on the paper's scale")
                if base == "lpips" and method in ("wo_dual", "spgan"):
                    notes.append("G does not see XT, so one source image has one rendering: diversity 0 by definition")
                rows.append(summary_row(table, QUALITY_METHODS[method], src, tgt, metric,
                                        [r["metrics"][metric] for r in runs], [r["seed"] for r in runs],
                                        "synthetic" if runs[0]["synthetic"] else "real", "", "; ".join(notes),
                                        metric_backbone=backbone, digits=4))
    return rows


#: Table number -> builder(evaluations, config).
BUILDERS = {2: table2_rows, 3: table3_rows, **{t: partial(comparison_rows, t) for t in COMPARISONS},
            **{t: partial(quality_rows, t) for t in QUALITY_TABLES}}


def write_table(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write rows as CSV with the fixed columns, atomically."""
    with atomic_file(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
