"""An independent re-scoring of ``results/claims.csv``: every tested row's numbers recomputed by other code.

The claims engine (:mod:`crgan.report.claims`, :mod:`crgan.report.significance`) writes, beside each
row's test, the per-bundle effects it tested (column ``bundle_effects``, ``seed:effect``). This module
checks each row from those effects and from the tables, with none of the engine's arithmetic:

- the effect and the tables: the row's mean effect equals the same signed sum of the tables' means
  (``results/table*.csv``, built from the records by :mod:`crgan.report.tables`, not by the claims
  code) wherever every bundle has both sides;
- the test: mean, standard deviation, t, the two-sided p-value and the 95 % interval from
  ``scipy.stats.ttest_1samp`` and ``scipy.stats.t``;
- Holm: a step-down of its own within each declared family, on scipy's p-values;
- the verdict and where the interval lies against the paper's effect, from the above.

``crgan rescore-claims --claims results/claims.csv --tables results/table*.csv`` prints what it checked
and every disagreement, and exits with status 2 on one.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from crgan.errors import CrganError
from crgan.io import read_rows
from crgan.methods import label

ALPHA = 0.05


def bundle_effects(text: str) -> dict[int, float]:
    """The ``bundle_effects`` column: ``seed:effect`` pairs joined by ``;``."""
    return {int(seed): float(effect) for seed, effect in (item.split(":") for item in text.split(";") if item)}


def _close(printed: str, value: float, digits: int, roundings: int = 1) -> bool:
    """Whether ``printed`` is ``value`` rounded to ``digits`` places: within half a unit of the last
    place for each of the ``roundings`` rounded numbers the comparison rests on (and a hair for the
    six places of the printed bundle effects)."""
    return printed != "" and abs(float(printed) - value) <= roundings * 0.5 * 10 ** -digits + 1e-6


def _table_means(paths: Iterable[str | Path]) -> dict[tuple[int, str, str, str, str], float]:
    """Each computed table cell's mean: (table, printed row, source, target, metric) -> value."""
    means = {}
    for path in paths:
        for row in read_rows(path):
            if row["value"] != "" and row["seeds"] != "":
                metric = row["metric"].removesuffix("_substitute")  # claims name a stand-in's metric by the paper's
                means[(int(row["table"]), row["method"], row["source"], row["target"], metric)] = float(row["value"])
    return means


def _from_tables(row: dict[str, str], means: dict, market_duke: dict[str, str]) -> tuple[float, int] | None:
    """The row's effect as the signed sum of the tables' means, and how many means it adds (None where
    a cell is not in the tables)."""
    from crgan.report.claims import CLAIMS  # the claims' declarations only: which cells, which signs

    claim = next(c for c in CLAIMS if c.text == row["claim"])
    total = 0.0
    for term in claim.terms:
        source = row["source"] if term.pair == "same" else market_duke.get(row["target"])
        value = means.get((term.table, label(term.row), source, row["target"], row["metric"]))
        if value is None:
            return None
        total += term.sign * value
    return total, len(claim.terms)


def _test(effects: list[float]) -> dict[str, float] | None:
    """scipy's paired t-test of ``effects``: mean, std, t, p, interval (None where there is no spread)."""
    from scipy import stats

    n = len(effects)
    mean = sum(effects) / n
    if n < 2 or not all(math.isfinite(e) for e in effects) or max(effects) == min(effects):
        return None
    std = math.sqrt(sum((e - mean) ** 2 for e in effects) / (n - 1))
    result = stats.ttest_1samp(effects, 0.0)
    half = float(stats.t.ppf(1 - ALPHA / 2, n - 1)) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "t": float(result.statistic), "p": float(result.pvalue),
            "low": mean - half, "high": mean + half}


def _holm(p_values: dict[int, float]) -> dict[int, bool]:
    """Holm's step-down at 5 % over ``p_values`` (row index -> p): which rows survive."""
    survives, m = {}, len(p_values)
    for rank, (index, p) in enumerate(sorted(p_values.items(), key=lambda item: item[1])):
        if p >= ALPHA / (m - rank):
            break
        survives[index] = True
    return {index: survives.get(index, False) for index in p_values}


def _verdict(test: dict[str, float], survives: bool, paper: str) -> tuple[str, str]:
    """The verdict and the interval against the paper's effect."""
    versus = ""
    if paper != "":
        effect = float(paper)
        versus = "below the paper's" if test["high"] < effect else "above the paper's" if test["low"] > effect \
            else "contains the paper's"
    if test["p"] >= ALPHA or not survives:
        return "not decided", versus
    if test["mean"] < 0:
        return "does not hold", versus
    return ("holds, smaller than the paper's" if versus == "below the paper's" else "holds"), versus


def rescore(claims: list[dict[str, str]], table_paths: Iterable[str | Path]) -> tuple[int, int, list[str]]:
    """Re-score ``claims`` (claims.csv's rows) against the tables: (rows checked against the tables,
    rows tested, disagreements)."""
    means = _table_means(table_paths)
    market_duke = {row["target"]: row["source"] for row in claims if row["family"] == "primary"}
    problems, against_tables, tests, families = [], 0, {}, defaultdict(dict)
    for index, row in enumerate(claims):
        where = f"{row['claim']} ({row['source']}->{row['target']}, {row['metric']})"
        effects = bundle_effects(row["bundle_effects"])
        digits = len(row["effect"].partition(".")[2])  # the places claims.csv prints this metric's effects with
        if not effects:
            continue
        values = list(effects.values())
        if all(math.isfinite(v) for v in values) and not _close(row["effect"], sum(values) / len(values), digits):
            problems.append(f"{where}: effect {row['effect']}, its bundles' mean {sum(values) / len(values):.6f}")
        tabled = _from_tables(row, means, market_duke)
        if tabled is not None and "missing on one side" not in row["notes"]:
            against_tables += 1
            if not _close(row["effect"], tabled[0], digits, 1 + tabled[1]):
                problems.append(f"{where}: effect {row['effect']}, the tables' means give {tabled[0]:.{digits}f}")
        test = _test(values)
        if test is None or row["verdict"] in ("not testable here", "shown", "rehearsal"):
            continue
        tests[index] = test
        if row["family"]:
            families[row["family"]][index] = test["p"]
        for column, key, places in (("std", "std", digits), ("t", "t", 3), ("ci_low", "low", digits),
                                    ("ci_high", "high", digits)):
            if not _close(row[column], test[key], places):
                problems.append(f"{where}: {column} {row[column]}, scipy {test[key]:.{places + 2}f}")
        if row["p_value"] == "" or abs(float(row["p_value"]) - test["p"]) > 0.005 * test["p"]:
            problems.append(f"{where}: p {row['p_value']}, scipy {test['p']:.6g}")
    survivors = {index: alive for members in families.values() for index, alive in _holm(members).items()}
    for index, test in tests.items():
        row = claims[index]
        where = f"{row['claim']} ({row['source']}->{row['target']}, {row['metric']})"
        holm = "survives" if survivors.get(index) else "does not survive"
        if row["family"] and row["holm"] != holm:
            problems.append(f"{where}: Holm {row['holm']!r}, re-scored {holm!r}")
        verdict, versus = _verdict(test, survivors.get(index, False), row["paper_effect"])
        if (row["verdict"], row["versus_paper"]) != (verdict, versus):
            problems.append(f"{where}: {row['verdict']!r} / {row['versus_paper']!r}, re-scored {verdict!r} / {versus!r}")
    return against_tables, len(tests), problems


def rescore_files(claims_path: str | Path, table_paths: Iterable[str | Path]) -> tuple[int, int, list[str]]:
    """:func:`rescore` of a claims CSV file (one written before its ``bundle_effects`` column: a clear error)."""
    rows = read_rows(claims_path)
    if rows and "bundle_effects" not in rows[0]:
        raise CrganError(f"{claims_path} has no bundle_effects column (written before it existed): remake it with "
                         f"`snakemake {claims_path}`")
    return rescore(rows, table_paths)


def report(result: tuple[int, int, list[str]], claims: Any) -> str:
    """What a re-scoring checked and found, as printed by ``crgan rescore-claims``."""
    against_tables, tested, problems = result
    lines = [f"{claims}: {tested} tested rows re-scored with scipy.stats and a Holm of its own; "
             f"{against_tables} effects checked against the tables' means",
             *(f"DISAGREES: {problem}" for problem in problems)]
    lines.append("every row agrees" if not problems else f"{len(problems)} disagreement(s)")
    return "\n".join(lines)
