"""Every figure of the report as inline SVG, drawn by matplotlib: line plots (training curves, CMC
curves, the sweep) and the budget curves with their bands over seeds. Deterministic: a fixed hash
salt and no date, so one run's report is byte-identical when rebuilt.
"""
from __future__ import annotations

import io
import math
import re
from collections import defaultdict
from html import escape

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from crgan.runs import pair_name  # noqa: E402

matplotlib.rcParams.update({"svg.hashsalt": "crgan", "svg.fonttype": "none", "font.size": 9})

#: Colour-blind-safe palette (Okabe-Ito), cycled over series.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]

Series = dict[str, list[tuple[float, float]]]


def _svg(figure: matplotlib.figure.Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    # inline in HTML: no RDF metadata (links to vocabularies and to matplotlib's site), no xlink namespace
    # (the HTML parser reads xlink:href in SVG without it); the report links nowhere
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text[text.index("<svg"):], flags=re.S)
    return text.replace(' xmlns:xlink="http://www.w3.org/1999/xlink"', "").replace("<svg ", '<svg class="plot" ', 1)


def line_plot(series: Series, title: str, xlabel: str, ylabel: str, colours: dict[str, str] | None = None,
              dashed: frozenset[str] = frozenset()) -> str:
    """An SVG plot of ``series`` (name -> [(x, y), ...]; non-finite values leave a gap) with a legend;
    ``colours`` fixes a series' colour (else the palette in turn), ``dashed`` names series drawn dashed."""
    if not any(math.isfinite(y) for points in series.values() for _, y in points):
        return f'<p class="empty">{escape(title)}: no data</p>'
    figure, axes = plt.subplots(figsize=(4.4, 2.9))
    for i, (name, points) in enumerate(series.items()):
        xs, ys = zip(*points) if points else ((), ())
        (line,) = axes.plot(xs, [y if math.isfinite(y) else math.nan for y in ys], linewidth=1.6, label=name,
                            color=(colours or {}).get(name, PALETTE[i % len(PALETTE)]),
                            linestyle="--" if name in dashed else "-")
        line.set_gid(f"series-{i}")
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    axes.legend(frameon=False, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3)
    return _svg(figure)


def budget_curve_figures(rows: list[dict[str, str]]) -> list[str]:
    """One SVG per curve of ``results/budget_curves.csv``: validation rank-1 against the budget, one
    line per pair with a band of one standard deviation over seeds, the configured budget dashed and
    the method's plateau budget dotted."""
    by_curve: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_curve[row["curve"]].append(row)
    figures = []
    for curve_rows in by_curve.values():
        figure, axes = plt.subplots(figsize=(4.6, 3.0))
        pairs = dict.fromkeys((r["source"], r["target"]) for r in curve_rows)
        for colour, pair in zip(PALETTE, pairs):
            points = sorted((int(r["budget"]), float(r["rank1"]), float(r["rank1_std"] or 0))
                            for r in curve_rows if (r["source"], r["target"]) == pair)
            budgets, means, spreads = zip(*points)
            axes.plot(budgets, means, marker="o", color=colour, label=pair_name(*pair))
            axes.fill_between(budgets, [m - s for m, s in zip(means, spreads)], [m + s for m, s in zip(means, spreads)],
                              color=colour, alpha=0.2, linewidth=0)
        first = curve_rows[0]
        axes.axvline(int(first["configured"]), color="#555", linestyle="--", linewidth=1, label="configured")
        axes.axvline(int(first["method_budget"]), color="#555", linestyle=":", linewidth=1.5, label="plateau (rule)")
        axes.set_xscale("log", base=2)
        axes.set_xticks(sorted({int(r["budget"]) for r in curve_rows}), labels=sorted({r["budget"] for r in curve_rows}, key=int))
        axes.set_xlabel(f"budget ({first['unit']})")
        axes.set_ylabel("validation rank-1 (%)")
        verdict = "at its plateau" if first["configured_at_plateau"] == "yes" else "below its plateau"
        axes.set_title(f"{first['label']}\nconfigured {first['configured']}: {verdict}")
        axes.legend(frameon=False, fontsize=8)
        axes.grid(alpha=0.3)
        figures.append(_svg(figure))
    return figures
