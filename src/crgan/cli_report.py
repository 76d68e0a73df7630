"""The ``crgan`` commands of the gathering steps: the sweep's table, the result tables, the claims and
their re-scoring, the power table and the HTML report (none imports torch). Declared into
:func:`crgan.cli.build_parser`."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from crgan.errors import CrganError
from crgan.io import write_json

if TYPE_CHECKING:
    from crgan.cli import Adder

log = logging.getLogger("crgan")


def cmd_gap_sweep(args, cfg):
    from crgan.gap_sweep import sweep_rows, write_sweep

    rows = sweep_rows(args.evals, cfg)
    write_sweep(args.out, rows)
    log.info("wrote %s: %d methods at %d settings of %d knobs", args.out, len({r["method"] for r in rows}),
             len({(r["knob"], r["value"]) for r in rows}), len({r["knob"] for r in rows}))


def cmd_table(args, cfg):
    from crgan.report import tables

    records = tables.read_records(args.evals)
    tables.write_table(args.out, tables.build_table(args.table, records, cfg, json.loads(args.budgets_json)))
    write_json(f"{args.out}.provenance.json", tables.provenance(args.table, args.evals, records, cfg))
    log.info("wrote %s and its provenance", args.out)


def cmd_claims(args, cfg):
    from crgan.report import claims, tables

    rows = claims.claim_rows(tables.read_records(args.evals), cfg, json.loads(args.budgets_json))
    claims.write_claims(args.out, rows)
    log.info("wrote %s: %d claims, verdicts %s", args.out, len(rows),
             {v: sum(r["verdict"] == v for r in rows) for v in sorted({r["verdict"] for r in rows})})
    if args.tables:
        try:
            rescored(args.out, args.tables)
        except CrganError:
            Path(args.out).unlink()  # a claims table its re-scoring contradicts is not a result
            raise


def rescored(claims: str, table_paths: list[str]) -> None:
    """Re-score a claims CSV with other code (:mod:`crgan.report.rescore`), log what it checked, and
    raise on any disagreement."""
    from crgan.report.rescore import report, rescore_files

    result = rescore_files(claims, table_paths)
    log.info("%s", report(result, claims))
    if result[2]:
        raise CrganError(f"{claims}: {len(result[2])} row(s) disagree with their re-scoring")


def cmd_rescore_claims(args, cfg):
    rescored(args.claims, args.tables)


def cmd_power_table(args, cfg):
    from crgan.report.power import write_power

    rows = write_power(args.claims, args.out)
    log.info("wrote %s: %d tested rows", args.out, len(rows))


def cmd_report(args, cfg):
    from crgan.report.html import build_report

    build_report(cfg, args.configfiles or [], [Path(p) for p in args.tables], [Path(p) for p in args.figures],
                 [Path(p) for p in args.curves], [Path(p) for p in args.evals], Path(args.benchmarks), Path(args.out),
                 Path(args.claims) if args.claims else None, [Path(p) for p in args.indexes],
                 Path(args.gap_sweep) if args.gap_sweep else None,
                 Path(args.budget_curves) if args.budget_curves else None,
                 Path(args.calibration) if args.calibration else None)
    log.info("wrote %s", args.out)


def declare_report_commands(add: Adder) -> None:
    """The sweep's gathering, tables, claims and the HTML report."""
    from crgan.plan import TABLES

    p = add("gap-sweep", cmd_gap_sweep, "gather the domain-gap sweep's evaluations", out="CSV file")
    p.add_argument("--evals", nargs="+", required=True, help="metrics JSON files inside results/gap_sweep/<point>/")
    budgets_help = ("each curve's config key, configured budget and measured plateau (JSON; the workflow passes "
                    "crgan.budgets.budget_status): rows say below plateau or plateau not measured")
    p = add("table", cmd_table, "build a result table", out="CSV file")
    p.add_argument("--table", type=int, required=True, choices=sorted(TABLES))
    p.add_argument("--evals", nargs="+", required=True, help="metrics JSON files")
    p.add_argument("--budgets-json", default="null", help=budgets_help)
    p = add("claims", cmd_claims, "the paper's claims judged from the tables' results", out="CSV file")
    p.add_argument("--evals", nargs="+", required=True, help="evaluation and image-quality JSON files")
    p.add_argument("--budgets-json", default="null", help=budgets_help)
    p.add_argument("--tables", nargs="*", help="the tables (results/table*.csv): re-score the claims against them "
                                               "with other code after writing them, and fail on a disagreement")
    p = add("power-table", cmd_power_table, "the smallest effect each tested claim row decides 80 %% of the time "
            "with 5 and 10 bundles, from a multi-bundle claims CSV", out="CSV file")
    p.add_argument("--claims", required=True, help="a claims CSV of two or more seed bundles")
    p = add("rescore-claims", cmd_rescore_claims, "re-score a claims CSV with other code (scipy.stats, a Holm "
            "of its own, the tables' means); exit 2 on a disagreement")
    p.add_argument("--claims", required=True, help="results/claims.csv")
    p.add_argument("--tables", nargs="+", required=True, help="the tables it was judged from (results/table*.csv)")
    p = add("report", cmd_report, "the HTML report: tables beside the paper's, samples, curves, run times",
            benchmarks="folder of Snakemake benchmark files", out="HTML file")
    for opt, h in (("tables", "table CSVs"), ("figures", "sample grids and quality figures (PNG)"),
                   ("curves", "training logs (CSV)"), ("evals", "re-id evaluation JSONs (CMC curves)"),
                   ("indexes", "dataset indexes (the images of the ranked lists)")):
        p.add_argument(f"--{opt}", nargs="*", default=[], help=h)
    p.add_argument("--configfiles", nargs="*", help="config files the workflow ran with (shown in the report)")
    p.add_argument("--claims", help="the claims CSV (shown first)")
    p.add_argument("--gap-sweep", help="results/gap_sweep.csv, when the sweep has run (its figure)")
    p.add_argument("--budget-curves", help="results/budget_curves.csv, when the curves have run (their figures)")
    p.add_argument("--calibration", help="results/calibration.csv, when the world's calibration was measured")
