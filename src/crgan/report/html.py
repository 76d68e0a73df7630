"""``results/report.html``: one self-contained page (images inlined, no scripts) with what ran, every
table as the paper lays it out (ours beside the paper's), sample grids, training and CMC curves, and
per-rule run times. Each table cell carries its CSV row's values as ``data-*`` attributes, so a test
can check that the page and the CSVs agree.
"""
from __future__ import annotations

import base64
import csv
import os
import platform
import re
import statistics
import tempfile
from collections import defaultdict
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2
from PIL import Image

from crgan import runtime
from crgan.config import config_hash
from crgan.eval.ranked_lists import draw_lists
from crgan.io import atomic_file, read_json
from crgan.records import EvaluationRecord
from crgan.report.plots import line_plot
from crgan.report.tables import named_evaluations
from crgan.runs import QUALITY_METHODS, Quality, Run, pair_name, seed_of

TABLE_TITLES = {
    1: "Image quality: LPIPS and FID, w/o dual condition vs CR-GAN",
    2: "Ablation of the dual condition in re-id (%)",
    3: "Ablation of each loss in re-id (%)",
    4: "Image quality: LPIPS and FID, SPGAN vs CR-GAN",
    5: "GAN-based methods in the cross-domain setting (%)",
    6: "Market1501 / DukeMTMC-reID against unsupervised cross-domain methods (%)",
    7: "CUHK03 to Market1501 / DukeMTMC-reID (%)",
    8: "Beyond the paper: Cluster Contrast, and CR-GAN + Cluster Contrast (%)",
}
METRIC_NAMES = {"rank1": "R1", "rank5": "R5", "rank10": "R10", "map": "mAP", "lpips": "LPIPS", "fid": "FID",
                "kid": "KID", "lpips_diversity": "LPIPS diversity"}
#: Row labels of the sample grids (as the paper's Figures 1 and 4, and SPGAN's own rows).
GRID_ROWS = {"crgan": ["XS", "XT", "X'T", "XC", "XR", "XG"], "spgan": ["xS", "G(xS)", "F(G(xS))", "xT", "F(xT)"]}
#: A colour per method family in CMC plots (its +LMP curve dashed in the same colour).
CMC_COLOURS = {"Direct Transfer": "#7f7f7f", "w/o dual condition": "#E69F00", "CR-GAN": "#0072B2",
               "SPGAN": "#009E73", "TAUDL": "#000000", "SPGAN+TAUDL": "#56B4E9", "CR-GAN+TAUDL": "#CC79A7",
               "Paste (control)": "#D55E00", "AdaBN (control)": "#F0E442", "Cluster Contrast": "#882255",
               "CR-GAN+Cluster Contrast": "#44AA99"}
#: Curves drawn in the CMC plots, in this order (an evaluation's label, "+LMP" for LMP features).
CMC_SERIES = ("Direct Transfer", "AdaBN (control)", "Paste (control)", "w/o dual condition", "CR-GAN", "CR-GAN+LMP",
              "SPGAN", "SPGAN+LMP", "TAUDL", "SPGAN+TAUDL", "CR-GAN+TAUDL", "Cluster Contrast",
              "CR-GAN+Cluster Contrast")


def metric_label(metric: str) -> str:
    base = metric.removesuffix("_substitute")
    return METRIC_NAMES.get(base, base) + ("*" if base != metric else "")


def data_uri(path: Path) -> str:
    mime = "jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else "png"
    return f"data:image/{mime};base64," + base64.b64encode(path.read_bytes()).decode()


def _float(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def table_view(number: int, rows: list[dict[str, str]]) -> dict[str, Any]:
    """One table as the paper lays it out: methods down, (pair, metric) across, each cell ours,
    the paper's and the difference (only where both exist and the metric is the paper's)."""
    pairs = list(dict.fromkeys((r["source"], r["target"]) for r in rows))
    order = list(METRIC_NAMES)
    metrics = sorted(dict.fromkeys(r["metric"] for r in rows),
                     key=lambda m: order.index(m.removesuffix("_substitute")) if m.removesuffix("_substitute") in order
                     else len(order))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    cell = {(r["method"], r["source"], r["target"], r["metric"]): r for r in rows}
    body = []
    for method in methods:
        cells, status = [], set()
        for src, tgt in pairs:
            for metric in metrics:
                r = cell.get((method, src, tgt, metric))
                if r is None:
                    cells.append(None)
                    continue
                status.add(r["status"])
                ours, paper = _float(r["value"]), _float(r["paper_value"])
                cells.append({"row": r, "std": r["std"],
                              "diff": f"{ours - paper:+.{len(r['value'].split('.')[-1])}f}"
                              if ours is not None and paper is not None and not metric.endswith("_substitute")
                              else ""})
        parts = [part for r in rows if r["method"] == method for part in r["notes"].split("; ") if part]
        notes = "; ".join(dict.fromkeys(parts))
        body.append({"method": method, "cells": cells, "status": "reproduced" if "reproduced" in status
                     else min(status, default="reported-only"), "notes": notes})  # min: the same pick every run
    backbones = sorted({r["metric_backbone"] for r in rows if r["metric_backbone"]})
    return {"number": number, "title": TABLE_TITLES.get(number, f"Table {number}"),
            "pairs": [pair_name(*p) for p in pairs], "metrics": [(m, metric_label(m)) for m in metrics],
            "body": body, "backbones": backbones, "substitute": any(m.endswith("_substitute") for m in metrics),
            "data": sorted({r["data"] for r in rows if r["data"]})}


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def read_curve(path: Path) -> tuple[str, dict[str, list[tuple[float, float]]]]:
    """x column name and every ``loss*`` column of a training log CSV (empty cells skipped: a loss
    that starts late, such as SPGAN's SiaNet term)."""
    rows = read_rows(path)
    if not rows:
        return "", {}
    x = next(iter(rows[0]))
    return x, {c: [(float(r[x]), float(r[c])) for r in rows if r[c] != ""] for c in rows[0] if c.startswith("loss")}


#: Kinds of training-log plot, in the order shown.
CURVE_KINDS = ("re-id", "CR-GAN losses", "fine-tuning", "SPGAN losses", "TAUDL", "Cluster Contrast")


def curve_of(path: Path) -> tuple[str, str, str, bool] | None:
    """Where a training log is plotted: (kind, plot title, series label, plot every loss column or
    just ``loss``), or None for logs not plotted."""
    run = Run.from_path(path.as_posix())
    if run is None:
        return None
    pair = pair_name(run.source, run.target) if run.source and run.target else ""
    if run.method == "reid":
        return "re-id", "Re-id training (source models)", run.source, False
    if run.method == "taudl":
        return "TAUDL", f"TAUDL on {run.target}", run.start_name, False
    if run.method == "cluster_contrast":
        return "Cluster Contrast", f"Cluster Contrast on {run.target} (per epoch)", run.start_name, False
    if path.name == "reid.pt.log.csv":
        return "fine-tuning", f"Fine-tuning Did, {pair}", run.variant or run.method, False
    if run.method == "spgan":
        return "SPGAN losses", f"SPGAN losses, {pair}", "", True
    return ("CR-GAN losses", f"CR-GAN losses, {pair}", "", True) if run.variant == "crgan" else None


def first_seed(paths: list[Path]) -> list[Path]:
    """The paths of the lowest seed among them, sorted: figures and curves show one run."""
    seeds = {seed_of(p.as_posix()) for p in paths} - {None}
    return sorted(p for p in paths if seeds and seed_of(p.as_posix()) == min(seeds))


def curve_plots(paths: list[Path]) -> list[str]:
    """SVG plots of the first seed's training logs, grouped as :func:`curve_of` says."""
    plots: dict[str, dict[str, Any]] = {}
    for path in first_seed(paths):
        where = curve_of(path)
        if where is None:
            continue
        kind, title, label, every = where
        x, cols = read_curve(path)
        plot = plots.setdefault(title, {"x": x, "series": {}, "kind": kind})
        for col, pts in cols.items():
            if every:
                plot["series"][col.removeprefix("loss_")] = pts
            elif col == "loss":
                plot["series"][label] = pts
    ordered = sorted(plots.items(), key=lambda item: (CURVE_KINDS.index(item[1]["kind"]), item[0]))
    return [line_plot(p["series"], title, p["x"], "loss") for title, p in ordered if p["series"]]


def cmc_plots(records: list[EvaluationRecord], pairs: list[tuple[str, str]], ranks: int = 20) -> list[str]:
    """One CMC plot per pair: the mean CMC over seeds of each method of CMC_SERIES."""
    plots = []
    for src, tgt in pairs:
        curves: dict[str, list[list[float]]] = defaultdict(list)
        for record in records:
            if record.evaluation.test != tgt or record.run.source not in (src, None):  # plain TAUDL has no source
                continue
            for pooling, suffix in (("gap", ""), ("lmp", "+LMP")):
                label = record.evaluation.label + suffix
                if label in CMC_SERIES:
                    curves[label].append(record.metrics[pooling]["cmc"][:ranks])
        order = [v for v in CMC_SERIES if v in curves]
        series = {name: [(i + 1, statistics.fmean(c[i] for c in curves[name])) for i in range(len(curves[name][0]))]
                  for name in order}
        colours = {name: CMC_COLOURS[name.removesuffix("+LMP")] for name in series}
        plots.append(line_plot(series, f"CMC, {pair_name(src, tgt)}", "rank", "matching rate (%)", colours=colours,
                               dashed=frozenset(n for n in series if n.endswith("+LMP"))))
    return plots


#: Quality strips in the order shown, with their labels.
STRIP_LABELS = {**QUALITY_METHODS, "source-target": "XS, then target instances XT"}
STRIP_ORDER = ("source-target", "wo_dual", "spgan", "crgan")


def image(path: Path, scale: int = 2) -> dict[str, Any]:
    """An image inlined as a data URI, with its display size (pixels scaled up, not smoothed)."""
    with Image.open(path) as im:
        width, height = im.size
    return {"src": data_uri(path), "width": width * scale, "height": height * scale}


def figures(paths: list[Path]) -> dict[str, list[dict[str, Any]]]:
    """Sample grids and the quality strips of the first seed, by kind, with their row labels."""
    out: dict[str, list[dict[str, Any]]] = {"crgan": [], "spgan": [], "quality": []}
    for path in first_seed(paths):
        quality, run = Quality.from_path(path.as_posix()), Run.from_path(path.as_posix())
        if quality is not None:
            out["quality"].append({"pair": pair_name(quality.source, quality.target), "method": quality.method,
                                   "label": STRIP_LABELS[quality.method], "order": STRIP_ORDER.index(quality.method),
                                   **image(path)})
        elif run is not None and path.name == "G.pt.grid.png":
            entry = {"pair": pair_name(run.source, run.target), "rows": GRID_ROWS[run.method], **image(path)}
            out[run.method].append({**entry, "variant": run.variant} if run.method == "crgan" else entry)
    return out


#: Methods whose ranked lists the report shows, in this order (an evaluation's label, GAP features).
RANKED_METHODS = ("Direct Transfer", "AdaBN (control)", "Paste (control)", "CR-GAN", "SPGAN", "TAUDL", "CR-GAN+TAUDL",
                  "Cluster Contrast", "CR-GAN+Cluster Contrast", "Target-supervised (upper bound)")


def ranked_strips(records: list[EvaluationRecord], pairs: list[tuple[str, str]], indexes: dict[str, dict],
                  workdir: Path) -> list[dict[str, Any]]:
    """Per pair, the first seed's ranked lists of each method of RANKED_METHODS (the same queries for
    every method), drawn from the target's images."""
    seed = min((r.run.seed for r in records), default=None)
    by_evaluation = {r.evaluation.key: r for r in records if r.run.seed == seed and "ranked" in r.metrics}
    out = []
    for src, tgt in pairs:
        if tgt not in indexes:
            continue
        found = {name: by_evaluation[evaluation].metrics["ranked"]["lists"]
                 for name, evaluation in named_evaluations(src, tgt).items() if evaluation in by_evaluation}
        strips = []
        for label in (m for m in RANKED_METHODS if m in found):
            # JPEG: photographs of people compress ten times better than as PNG in a self-contained page
            jpeg = draw_lists(indexes[tgt], found[label], workdir / f"{src}-{tgt}-{len(strips)}.jpg")
            strips.append({"method": label, **image(jpeg, scale=1)})
        if strips:
            out.append({"pair": pair_name(src, tgt), "strips": strips})
    return out


def gap_sweep_plots(path: Path | None) -> list[str]:
    """Rank-1 and mAP against the context gap, one line per method (results/gap_sweep.csv, when run)."""
    if path is None or not path.is_file():
        return []
    rows = read_rows(path)
    pair = pair_name(rows[0]["source"], rows[0]["target"]) if rows else ""
    colours = {**CMC_COLOURS, "Target-supervised (upper bound)": "#999933"}
    plots = []
    for metric, label in (("rank1", "rank-1 (%)"), ("map", "mAP (%)")):
        series: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for r in rows:
            series[r["method"]].append((float(r["gap"]), float(r[metric])))
        plots.append(line_plot(dict(series), f"{label.split(' ')[0]} against the context gap, {pair}", "context gap",
                               label, colours={m: colours[m] for m in series if m in colours}))
    return plots


def run_times(benchmarks: Path) -> list[dict[str, Any]]:
    """Per rule: jobs, mean, max and total wall seconds from Snakemake's benchmark files."""
    out = []
    for rule_dir in sorted(p for p in benchmarks.glob("*") if p.is_dir()):
        secs = [float(rows[0]["s"]) for f in sorted(rule_dir.glob("*.tsv"))
                if (rows := list(csv.DictReader(f.read_text().splitlines(), delimiter="\t")))]
        if secs:
            out.append({"rule": rule_dir.name, "jobs": len(secs), "mean": statistics.fmean(secs), "max": max(secs),
                        "total": sum(secs)})
    return out


def versions() -> dict[str, str]:
    found = {}
    for pkg in ("crgan-repro", "torch", "torchvision", "triton", "snakemake", "numpy", "lpips", "pytorch-fid"):
        try:
            found[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            found[pkg] = "not installed"
    return {"python": platform.python_version(), **found}


def build_report(cfg: dict[str, Any], configfiles: list[str], tables: list[Path], figure_paths: list[Path],
                 curve_paths: list[Path], eval_paths: list[Path], benchmarks: Path, out: Path,
                 claims: Path | None = None, index_paths: list[Path] = (), gap_sweep: Path | None = None) -> None:
    """Render the report from the workflow's outputs and write it atomically."""
    rows = {int(re.search(r"table(\d+)\.csv$", p.name).group(1)): read_rows(p) for p in tables}
    views = [table_view(n, rows[n]) for n in sorted(rows)]
    all_rows = [r for n in rows for r in rows[n] if r["status"] == "reproduced"]
    provenance = [read_json(f"{p}.provenance.json") for p in tables if Path(f"{p}.provenance.json").is_file()]
    evals = [EvaluationRecord.from_dict(read_json(p)) for p in eval_paths]
    pairs = [tuple(p) for p in cfg["pairs"] + cfg["cuhk03_pairs"]]
    summary = {
        "data": ", ".join(sorted({r["data"] for r in all_rows})) or "none",
        "domains": sorted({d for p in pairs for d in p}), "pairs": [pair_name(*p) for p in pairs],
        "configfiles": [os.path.relpath(f) if Path(f).resolve().is_relative_to(Path.cwd()) else f for f in configfiles],
        "seeds": cfg["seeds"], "config_hash": config_hash(cfg),
        "git_commit": runtime.git_commit(),
        "inits": sorted({record.init for record in evals}),
        "metric_backbones": sorted({r["metric_backbone"] for r in all_rows if r["metric_backbone"]}),
        "substitute": any(r["metric"].endswith("_substitute") for r in all_rows),
        "devices": sorted({e.get("device") or "" for pv in provenance for e in pv.get("evaluations", [])} - {""}),
        "kernels": sorted({e.get("kernels") or "" for pv in provenance for e in pv.get("evaluations", [])} - {""}),
        "machine": f"{platform.platform()} ({platform.machine()}, {os.cpu_count()} CPUs)",
        "versions": versions(),
    }
    env = jinja2.Environment(loader=jinja2.PackageLoader("crgan.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    times = run_times(benchmarks)
    claim_rows = [{**c, "pair": pair_name(c["source"], c["target"])} for c in (read_rows(claims) if claims else [])]
    indexes = {index["domain"]: index for index in map(read_json, index_paths)}
    with tempfile.TemporaryDirectory() as workdir:
        ranked = ranked_strips(evals, pairs, indexes, Path(workdir))
    page = env.get_template("report.html.j2").render(
        summary=summary, tables=views, claims=claim_rows, figures=figures(figure_paths),
        curves=curve_plots(curve_paths), cmc=cmc_plots(evals, pairs), ranked=ranked, sweep=gap_sweep_plots(gap_sweep),
        times=times,
        total_time=sum(t["total"] for t in times))
    with atomic_file(out) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
