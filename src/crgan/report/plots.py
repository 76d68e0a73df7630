"""Line plots as inline SVG (no plotting library, no scripts): training curves and CMC curves."""
from __future__ import annotations

import math
from html import escape

#: Colour-blind-safe palette (Okabe-Ito), cycled over series.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]

Series = dict[str, list[tuple[float, float]]]


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2 or 5 times a power of ten apart)."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    return [round(first + i * step, 10) for i in range(int(math.ceil((hi - first) / step)) + 1)]


def _fmt(v: float) -> str:
    return f"{v:g}" if abs(v) < 1e4 else f"{v:.0e}"


def line_plot(series: Series, title: str, xlabel: str, ylabel: str, width: int = 420, height: int = 270,
              colours: dict[str, str] | None = None, dashed: frozenset[str] = frozenset()) -> str:
    """An SVG plot of ``series`` (name -> [(x, y), ...]), with axes, ticks and a legend; ``colours``
    fixes a series' colour (else the palette in turn), ``dashed`` names series drawn dashed."""
    points = [p for pts in series.values() for p in pts if math.isfinite(p[1])]
    if not points:
        return f'<p class="empty">{escape(title)}: no data</p>'
    left, right, top, bottom = 52, 12, 26, 40 + 16 * ((len(series) + 2) // 3)
    xt = nice_ticks(min(p[0] for p in points), max(p[0] for p in points))
    yt = nice_ticks(min(p[1] for p in points), max(p[1] for p in points))
    pw, ph = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + pw * (x - xt[0]) / ((xt[-1] - xt[0]) or 1)

    def sy(y: float) -> float:
        return top + ph * (1 - (y - yt[0]) / ((yt[-1] - yt[0]) or 1))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
           f'<text x="{width / 2}" y="16" text-anchor="middle" class="title">{escape(title)}</text>']
    for x in xt:
        out.append(f'<line x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{top}" y2="{top + ph}" class="grid"/>'
                   f'<text x="{sx(x):.1f}" y="{top + ph + 14}" text-anchor="middle">{_fmt(x)}</text>')
    for y in yt:
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" class="grid"/>'
                   f'<text x="{left - 4}" y="{sy(y) + 4:.1f}" text-anchor="end">{_fmt(y)}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{top + ph + 30}" text-anchor="middle">{escape(xlabel)}</text>'
               f'<text transform="translate(12 {top + ph / 2}) rotate(-90)" text-anchor="middle">{escape(ylabel)}</text>')
    for i, (name, pts) in enumerate(series.items()):
        colour = (colours or {}).get(name, PALETTE[i % len(PALETTE)])
        dash = ' stroke-dasharray="5 3"' if name in dashed else ""
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts if math.isfinite(y))
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.6"{dash}/>')
        lx, ly = left + (i % 3) * (pw / 3), top + ph + 46 + 16 * (i // 3)
        out.append(f'<line x1="{lx:.1f}" x2="{lx + 12:.1f}" y1="{ly - 3}" y2="{ly - 3}" stroke="{colour}" '
                   f'stroke-width="3"{dash}/><text x="{lx + 16:.1f}" y="{ly + 1}">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)
