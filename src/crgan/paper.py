"""The paper's published numbers (Tables 1-7, ``paper_results.csv``), each with its group and note.

Each value is named by our **row key** (column ``row``) where we compute that row, and by the paper's
own name (``method``) where we only quote it: a printed label never joins our rows to the paper's."""
from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def paper_rows() -> tuple[dict[str, str], ...]:
    """Every published value (Tables 1-7) with its group and note, in the paper's order."""
    text = resources.files("crgan").joinpath("paper_results.csv").read_text()
    return tuple(csv.DictReader(text.splitlines()))


def paper_key(row: dict[str, str]) -> str:
    """What names a published value's row: our row key, or the paper's name for a row we only quote."""
    return row["row"] or row["method"]


@lru_cache(maxsize=1)
def paper_values() -> dict[tuple[int, str, str, str, str], str]:
    """(table, row key or quoted name, source, target, metric) -> the paper's value, as published."""
    return {(int(r["table"]), paper_key(r), r["source"], r["target"], r["metric"]): r["value"] for r in paper_rows()}
