"""How many bundles a verdict needs (``results/power.csv``, issue 33): from a multi-bundle claims CSV,
each tested row's bundle-to-bundle spread of its effect, and the smallest effect the paired t-test
decides 80 % of the time with ``n`` bundles, alone (at 5 %) and at the first step of its family's
Holm correction (5 % over the family's size), beside the paper's effect and ours.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from crgan.io import read_rows, write_csv
from crgan.report.significance import ALPHA, smallest_decided_effect

WANTED = 0.8
COLUMNS = ["claim", "family", "source", "target", "metric", "seeds", "std", "paper_effect", "effect", "family_size",
           *(f"{kind}_n{n}" for n in (5, 10) for kind in ("alone", "holm_first"))]


def power_rows(claims: Iterable[dict[str, Any]], bundles: Sequence[int] = (5, 10)) -> list[dict[str, Any]]:
    """One row per claims row with a family and a spread: the smallest effect decided 80 % of the time
    at each of ``bundles``, at 5 % alone and at Holm's first step over its family."""
    tested = [row for row in claims if row["family"] and row["std"] not in ("", None) and float(row["std"]) > 0]
    if not tested:
        raise ValueError("no claims row has a spread: the power table needs a run of two or more seed bundles")
    sizes = Counter(row["family"] for row in tested)
    out = []
    for row in tested:
        std, size = float(row["std"]), sizes[row["family"]]
        entry = {key: row[key] for key in ("claim", "family", "source", "target", "metric", "seeds", "std",
                                           "paper_effect", "effect")}
        entry["family_size"] = size
        for n in bundles:
            entry[f"alone_n{n}"] = f"{smallest_decided_effect(std, n, ALPHA, WANTED):.2f}"
            entry[f"holm_first_n{n}"] = f"{smallest_decided_effect(std, n, ALPHA / size, WANTED):.2f}"
        out.append(entry)
    return out


def write_power(claims: str | Path, out: str | Path) -> list[dict[str, Any]]:
    """Read a claims CSV and write its power table atomically."""
    rows = power_rows(read_rows(claims))
    write_csv(out, COLUMNS, rows)
    return rows
