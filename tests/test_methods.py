"""The method registry and the plan: one home per method, rows named by keys, labels from the registry only."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from conftest import REPO

from crgan import methods, plan
from crgan.config import load
from crgan.methods import LMP, METHODS, ROW_LABELS, label
from crgan.runs import Evaluation, Run


def every_label() -> set[str]:
    """Every text the registry gives a row or a method."""
    texts = set(ROW_LABELS.values()) | {text + LMP[1] for text in ROW_LABELS.values()}
    return texts | {method.label for method in METHODS.values()}


def test_no_label_is_typed_outside_the_registry():
    """Tables, report, claims, sweep, CLI and rules name rows by key: a label typed as a string anywhere
    else (the join keys that drifted before) fails here."""
    labels, found = every_label(), []
    for path in [*(REPO / "src" / "crgan").rglob("*.py"), *(REPO / "rules").glob("*.smk"), REPO / "Snakefile"]:
        if path.name == "methods.py":
            continue
        if path.suffix == ".py":
            found += [(path.name, node.lineno, node.value) for node in ast.walk(ast.parse(path.read_text()))
                      if isinstance(node, ast.Constant) and node.value in labels]
        else:
            found += [(path.name, text) for text in labels if re.search(rf"[\"']{re.escape(text)}[\"']",
                                                                         path.read_text())]
    assert not found


@pytest.mark.parametrize("table", sorted(plan.TABLES))
def test_no_two_rows_of_a_table_share_a_label_or_a_key(table):
    cfg = load([REPO / "config.yaml"])
    for src, tgt, rows in plan.layout(table, cfg):
        labels = [row.label for row in rows]
        keys = [row.key for row in rows if isinstance(row, (plan.Ours, plan.Measured))]
        assert len(labels) == len(set(labels)), (table, src, tgt, labels)
        assert len(keys) == len(set(keys)), (table, src, tgt, keys)


def test_a_row_key_names_one_evaluation_per_pair():
    rows = plan.named_rows("market1501", "dukemtmc")
    # the two floors of Tables 6 and 8 are two rows now, no longer one name that kept the last
    assert rows["taudl_floor"].evaluation.at(0).path == "results/eval/taudl/dukemtmc/untrained/seed0.json"
    assert rows["cluster_contrast_floor"].evaluation.at(0).path == \
        "results/eval/cluster_contrast/dukemtmc/untrained/seed0.json"
    assert rows["taudl_floor"].label == rows["cluster_contrast_floor"].label == "Untrained network (floor)"
    assert rows["crgan+lmp"].pooling == "lmp" and rows["crgan"].pooling == "gap"
    assert rows["crgan+lmp"].evaluation == rows["crgan"].evaluation


def test_two_evaluations_under_one_key_are_an_error(monkeypatch):
    clash = plan.Table(9, "clash", "pairs", ("rank1",), lambda src, tgt: [
        plan.Ours("crgan", Evaluation.of(Run.crgan(src, tgt, "wo_id")), "not CR-GAN")])
    monkeypatch.setitem(plan.TABLES, 9, clash)
    with pytest.raises(ValueError, match="row key 'crgan' names two evaluations"):
        plan.named_rows("market1501", "dukemtmc")


def test_every_run_of_the_registry_finds_its_way_back_from_its_paths():
    for method in METHODS.values():
        if method.layout == "domain":
            runs = [Run(method.key, "market1501", seed=1)]
        elif method.starts:
            runs = [Run.started(method.key, "dukemtmc", key, "market1501" if start.kind == "network" else None, 2)
                    for key, start in method.starts.items()]
        else:
            runs = [Run(method.key, "cuhk03", "market1501", variant, 3) for variant in method.variants or [None]]
        for run in runs:
            assert Run.from_path(run.network) == run and Run.from_path(Evaluation.of(run, "dukemtmc").path) == run
            if method.layout != "domain":
                assert label(run.row) == run.label
            if run.start_run is not None:
                assert run.start_run.method == method.starts[run.start].method


def test_labels_come_from_keys():
    assert label("crgan+lmp") == "CR-GAN+LMP" and label("direct_transfer") == "Direct Transfer"
    assert methods.colour("crgan+lmp") == methods.colour("crgan") == METHODS["crgan"].colour
    with pytest.raises(KeyError, match="unknown row key 'CR-GAN'"):
        label("CR-GAN")


def test_the_report_header_counts_the_plans_tables():
    template = (REPO / "src/crgan/report/templates/report.html.j2").read_text()
    assert "Tables 1-7" not in template and "Tables 1-7" not in Path(REPO / "rules/report.smk").read_text()


def test_the_papers_values_are_joined_to_our_rows_by_row_key(monkeypatch):
    """The paper's CSV names each row we compute by its row key: a renamed label keeps its paper value and
    its place in Tables 5-7 (it used to turn silently into a quoted row)."""
    from crgan.paper import paper_rows
    from crgan.report import tables

    keys = {r["row"] for r in paper_rows()} - {""}
    assert {"crgan", "crgan+lmp", "wo_dual", "direct_transfer", "spgan+taudl", "source-target"} <= keys
    assert all(label(key) for key in keys)  # each a known row key
    monkeypatch.setattr(tables, "label", lambda row: f"renamed {row}")
    row = tables.summary_row(2, "crgan", "market1501", "dukemtmc", "rank1", [50.0], [0], "synthetic", "", "")
    assert row["method"] == "renamed crgan" and row["paper_value"] == "52.2"
    monkeypatch.setattr(plan, "label", lambda row: f"renamed {row}")
    computed = [e.key for e in plan.entries(5, "market1501", "dukemtmc") if isinstance(e, plan.Ours)]
    assert computed == list(plan.COMPARISONS[5])
