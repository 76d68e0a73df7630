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

from crgan.config import config_hash
from crgan.eval.ranked_lists import draw_lists
from crgan.io import atomic_file, read_json, read_rows
from crgan.methods import CMC_ROWS, CURVE_KINDS, LMP, METHODS, RANKED_ROWS, colour, label, sample_grid
from crgan.plan import TABLES, named_rows
from crgan.provenance import git_commit
from crgan.records import EvaluationRecord
from crgan.runs import QUALITY_METHODS, Evaluation, Quality, Run, pair_name, seed_of

METRIC_NAMES = {"rank1": "R1", "rank5": "R5", "rank10": "R10", "map": "mAP", "lpips": "LPIPS",
                "lpips_person": "LPIPS (MF)", "lpips_background": "LPIPS (MB)", "fid": "FID", "kid": "KID",
                "lpips_diversity": "LPIPS diversity", "lpips_diversity_person": "LPIPS diversity (MF)",
                "lpips_diversity_background": "LPIPS diversity (MB)"}


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
    return {"number": number, "title": TABLES[number].title if number in TABLES else f"Table {number}",
            "pairs": [pair_name(*p) for p in pairs], "metrics": [(m, metric_label(m)) for m in metrics],
            "body": body, "backbones": backbones, "substitute": any(m.endswith("_substitute") for m in metrics),
            "data": sorted({r["data"] for r in rows if r["data"]})}


def read_curve(path: Path) -> tuple[str, dict[str, list[tuple[float, float]]]]:
    """x column name and every ``loss*`` column of a training log CSV (empty cells skipped: a loss
    that starts late, such as SPGAN's SiaNet term)."""
    rows = read_rows(path)
    if not rows:
        return "", {}
    x = next(iter(rows[0]))
    return x, {c: [(float(r[x]), float(r[c])) for r in rows if r[c] != ""] for c in rows[0] if c.startswith("loss")}


def curve_of(path: Path) -> tuple[str, str, str, bool] | None:
    """Where a training log is plotted, as its method declares (crgan.methods.TrainingPlot): (kind, plot
    title, series label, plot every loss column or just ``loss``), or None for logs not plotted."""
    run = Run.from_path(path.as_posix())
    curve = run.spec.curves.get(path.name) if run is not None else None
    if curve is None or (curve.variants and run.variant not in curve.variants):
        return None
    pair = pair_name(run.source, run.target) if run.source and run.target else ""
    series = {"source": run.source, "start": run.start_name, "variant": run.variant or run.method,
              "columns": ""}[curve.series]
    return curve.kind, curve.title.format(pair=pair, target=run.target), series, curve.series == "columns"


def first_seed(paths: list[Path]) -> list[Path]:
    """The paths of the lowest seed among them, sorted: figures and curves show one run."""
    seeds = {seed_of(p.as_posix()) for p in paths} - {None}
    return sorted(p for p in paths if seeds and seed_of(p.as_posix()) == min(seeds))


def curve_plots(paths: list[Path]) -> list[str]:
    """SVG plots of the first seed's training logs, grouped as :func:`curve_of` says."""
    from crgan.report.figures import line_plot

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
    """One CMC plot per pair: the mean CMC over seeds of each row the registry draws (methods.CMC_ROWS)."""
    from crgan.report.figures import line_plot

    by_evaluation: dict[Evaluation, list[EvaluationRecord]] = defaultdict(list)
    for record in records:
        by_evaluation[record.evaluation.key].append(record)
    plots = []
    for src, tgt in pairs:
        rows = named_rows(src, tgt)
        curves = {key: [r.metrics[rows[key].pooling]["cmc"][:ranks] for r in by_evaluation[rows[key].evaluation]]
                  for key in CMC_ROWS if key in rows and by_evaluation.get(rows[key].evaluation)}
        series = {label(key): [(i + 1, statistics.fmean(c[i] for c in curves[key])) for i in range(len(curves[key][0]))]
                  for key in curves}
        plots.append(line_plot(series, f"CMC, {pair_name(src, tgt)}", "rank", "matching rate (%)",
                               colours={label(key): colour(key) for key in curves},
                               dashed=frozenset(label(key) for key in curves if key.endswith(LMP[0]))))
    return plots


#: Quality strips in the order shown, with their labels.
STRIP_LABELS = {**{method: label(method) for method in QUALITY_METHODS}, "source-target": "XS, then target instances XT"}
STRIP_ORDER = ("source-target", "wo_dual", "spgan", "crgan")


def image(path: Path, scale: int = 2) -> dict[str, Any]:
    """An image inlined as a data URI, with its display size (pixels scaled up, not smoothed)."""
    with Image.open(path) as im:
        width, height = im.size
    return {"src": data_uri(path), "width": width * scale, "height": height * scale}


def figures(paths: list[Path]) -> dict[str, list[dict[str, Any]]]:
    """The first seed's sample grids, one group per method the registry gives a grid (its main variant's
    grids, then its other variants'), and the quality strips."""
    grids = {m.key: {"label": m.label, "caption": m.grid_caption, "main": [], "variants": []}
             for m in METHODS.values() if m.grid_rows}
    quality = []
    for path in first_seed(paths):
        found, run = Quality.from_path(path.as_posix()), Run.from_path(path.as_posix())
        if found is not None:
            quality.append({"pair": pair_name(found.source, found.target), "method": found.method,
                            "label": STRIP_LABELS[found.method], "order": STRIP_ORDER.index(found.method), **image(path)})
        elif run is not None and run.spec.generator_file and path.name == sample_grid(run.spec.generator_file):
            spec, pair = run.spec, pair_name(run.source, run.target)
            main = run.variant == spec.main_variant
            name = spec.label if main else spec.variants[run.variant].label
            grids[run.method]["main" if main else "variants"].append(
                {"pair": pair, "rows": list(spec.grid_rows), "alt": f"{name}, {pair}", **image(path)})
    return {"grids": [group for group in grids.values() if group["main"] or group["variants"]], "quality": quality}


def ranked_strips(records: list[EvaluationRecord], pairs: list[tuple[str, str]], indexes: dict[str, dict],
                  workdir: Path) -> list[dict[str, Any]]:
    """Per pair, the first seed's ranked lists of each row the registry ranks (``methods.RANKED_ROWS``),
    the same queries for every method, drawn from the target's images."""
    seed = min((r.run.seed for r in records), default=None)
    by_evaluation = {r.evaluation.key: r for r in records if r.run.seed == seed and "ranked" in r.metrics}
    out = []
    for src, tgt in pairs:
        if tgt not in indexes:
            continue
        rows = named_rows(src, tgt)
        found = {key: by_evaluation[rows[key].evaluation].metrics["ranked"]["lists"]
                 for key in RANKED_ROWS if key in rows and rows[key].evaluation in by_evaluation}
        strips = []
        for key, lists in found.items():
            # JPEG: photographs of people compress ten times better than as PNG in a self-contained page
            jpeg = draw_lists(indexes[tgt], lists, workdir / f"{src}-{tgt}-{len(strips)}.jpg")
            strips.append({"method": label(key), **image(jpeg, scale=1)})
        if strips:
            out.append({"pair": pair_name(src, tgt), "strips": strips})
    return out


def gap_sweep_plots(path: Path | None) -> list[str]:
    """Rank-1 and mAP against each knob of the benchmark, one line per method (results/gap_sweep.csv,
    when run): one figure per knob and metric."""
    if path is None or not path.is_file():
        return []
    from crgan.report.figures import line_plot

    rows = read_rows(path)
    if rows and "knob" not in rows[0]:
        raise ValueError(f"{path} is a sweep over the retired context_gap (no 'knob' column): rerun "
                         "`snakemake results/gap_sweep.csv`")
    pair = pair_name(rows[0]["source"], rows[0]["target"]) if rows else ""
    colours = {r["method"]: colour(r["row"]) for r in rows}
    plots = []
    for knob in dict.fromkeys(r["knob"] for r in rows):
        for metric, axis in (("rank1", "rank-1 (%)"), ("map", "mAP (%)")):
            series: dict[str, list[tuple[float, float]]] = defaultdict(list)
            for r in rows:
                if r["knob"] == knob:
                    series[r["method"]].append((float(r["value"]), float(r[metric])))
            plots.append(line_plot(dict(series), f"{axis.split(' ')[0]} against {knob}, {pair}", knob, axis,
                                   colours=colours))
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


def claims_at_a_glance(rows: list[dict[str, str]]) -> dict[str, Any]:
    """The claims as a grid: one line per claim (in the table's order), one cell per pair and metric
    with the effect, its 95 % interval and the verdict; ``bundles`` is the most seed bundles any row has."""
    columns = list(dict.fromkeys((row["pair"], row["metric"]) for row in rows))
    lines: dict[str, dict[str, Any]] = {}
    for row in rows:
        line = lines.setdefault(row["claim"], {"claim": row["claim"], "kind": row["kind"], "cells": {}})
        line["cells"][(row["pair"], row["metric"])] = row
    return {"columns": columns, "lines": [{**line, "cells": [line["cells"].get(c) for c in columns]}
                                          for line in lines.values()],
            "bundles": max((int(row["seeds"]) for row in rows), default=0)}


def budget_figures(budget_curves: Path | None) -> list:
    """The budget curves' figures, when the run measured them (matplotlib is imported only then)."""
    if budget_curves is None:
        return []
    from crgan.report.figures import budget_curve_figures

    return budget_curve_figures(read_rows(budget_curves))


def calibration_view(evals: list[EvaluationRecord], calibration: Path | None, cfg: dict[str, Any]) -> dict[str, Any]:
    """How close the world is to the real datasets on method-free baselines: the calibration's rows
    (results/calibration.csv, when measured) and the same anchors on this run's test split (its
    source models, mean over its seed bundles)."""
    from crgan.calibration import anchors_on_test_split

    rank1: dict[tuple[str, str], list[float]] = defaultdict(list)
    for record in evals:
        if record.run.method == "reid" and record.split == "test":
            rank1[(record.run.source, record.evaluation.test)].append(record.metrics["gap"]["rank1"])
    means = {key: sum(values) / len(values) for key, values in rank1.items()}
    return {"measured": read_rows(calibration) if calibration else [],
            "test_split": anchors_on_test_split(means, cfg["reid"]["epochs"]),
            "seeds": cfg.get("calibration", {}).get("seeds", [])}


def rescoring(claim_rows: list[dict[str, str]], tables: list[Path]) -> str:
    """What the independent re-scoring of the claims (:mod:`crgan.report.rescore`) says, in one line
    (empty for a claims table without per-bundle effects)."""
    from crgan.report.rescore import rescore

    if not claim_rows or "bundle_effects" not in claim_rows[0]:
        return ""
    against_tables, tested, problems = rescore(claim_rows, tables)
    found = "every row agrees" if not problems else f"{len(problems)} disagreement(s): " + "; ".join(problems)
    return f"{tested} tested rows re-scored with scipy.stats and a Holm of its own, {against_tables} effects " \
           f"checked against the tables' means: {found}."


def evaluation_values(provenance: list[dict[str, Any]], key: str) -> list[str]:
    """The distinct non-empty values of ``key`` over every table's evaluations, sorted."""
    return sorted({e.get(key) or "" for pv in provenance for e in pv.get("evaluations", [])} - {""})


def build_report(cfg: dict[str, Any], configfiles: list[str], tables: list[Path], figure_paths: list[Path],
                 curve_paths: list[Path], eval_paths: list[Path], benchmarks: Path, out: Path,
                 claims: Path | None = None, index_paths: list[Path] = (), gap_sweep: Path | None = None,
                 budget_curves: Path | None = None, calibration: Path | None = None) -> None:
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
        "git_commit": git_commit(),
        "inits": sorted({record.init for record in evals}),
        "metric_backbones": sorted({r["metric_backbone"] for r in all_rows if r["metric_backbone"]}),
        "substitute": any(r["metric"].endswith("_substitute") for r in all_rows),
        "devices": evaluation_values(provenance, "device"), "kernels": evaluation_values(provenance, "kernels"),
        "precisions": evaluation_values(provenance, "training_precision"), "cpus": evaluation_values(provenance, "cpu"),
        "machine": f"{platform.platform()} ({platform.machine()}, {os.cpu_count()} CPUs)",
        "versions": versions(),
    }
    env = jinja2.Environment(loader=jinja2.PackageLoader("crgan.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    times = run_times(benchmarks)
    claim_rows = [{**c, "pair": pair_name(c["source"], c["target"])} for c in (read_rows(claims) if claims else [])]
    rescored = rescoring(claim_rows, tables)
    indexes = {index["domain"]: index for index in map(read_json, index_paths)}
    with tempfile.TemporaryDirectory() as workdir:
        ranked = ranked_strips(evals, pairs, indexes, Path(workdir))
    page = env.get_template("report.html.j2").render(
        summary=summary, tables=views, claims=claim_rows, glance=claims_at_a_glance(claim_rows), rescored=rescored,
        figures=figures(figure_paths),
        curves=curve_plots(curve_paths), cmc=cmc_plots(evals, pairs), ranked=ranked, sweep=gap_sweep_plots(gap_sweep),
        budgets=budget_figures(budget_curves), calibration=calibration_view(evals, calibration, cfg),
        times=times,
        total_time=sum(t["total"] for t in times))
    with atomic_file(out) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
