"""The paper's published numbers (Tables 1-7, ``paper_results.csv``), each with its group and note."""
from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def paper_rows() -> tuple[dict[str, str], ...]:
    """Every published value (Tables 1-7) with its group and note, in the paper's order."""
    text = resources.files("crgan").joinpath("paper_results.csv").read_text()
    return tuple(csv.DictReader(text.splitlines()))


@lru_cache(maxsize=1)
def paper_values() -> dict[tuple[int, str, str, str, str], str]:
    """(table, method, source, target, metric) -> the paper's value, as published."""
    return {(int(r["table"]), r["method"], r["source"], r["target"], r["metric"]): r["value"] for r in paper_rows()}
