"""The plateau rule on hand-made budget curves (docs/assumptions.md, "Training budgets")."""
from __future__ import annotations

import json

import pytest
import yaml

from crgan import config
from crgan.budget_curves import curve_rows, point_config, points, run_point, write_curves
from crgan.budgets import budget_notes, budget_status, method_budget, plateau, plateau_overlay, read_plateaus, read_still_rising


def test_smallest_budget_within_one_point_of_the_best_with_one_seed():
    curve = {125: [40.0], 250: [47.5], 500: [48.8], 1000: [49.2]}  # one seed: the tolerance is one point
    found = plateau(curve)
    assert (found.budget, found.best, found.tolerance) == (500, 1000, 1.0) and found.at_edge


def test_a_standard_error_larger_than_a_point_widens_the_tolerance():
    # the best (1000) has values 45, 49, 53: sd 4, SE 4 / sqrt 3 = 2.31 > 1 point
    curve = {250: [44.0, 46.0, 47.0], 500: [46.0, 47.0, 48.0], 1000: [45.0, 49.0, 53.0]}
    found = plateau(curve)
    assert found.tolerance == pytest.approx(4 / 3 ** 0.5) and found.best == 1000
    assert found.budget == 500  # 47 >= 49 - 2.31 (one point would have asked for 48); 250 (45.67) is below


def test_a_curve_that_falls_after_its_peak_is_not_at_the_edge_and_ties_go_to_the_smaller_budget():
    curve = {100: [30.0], 200: [50.0], 400: [50.0], 800: [45.0]}
    found = plateau(curve)
    assert (found.best, found.budget, found.at_edge) == (200, 200, False)


def test_one_budget_per_method_over_its_pairs():
    curves = {("market1501", "dukemtmc"): {1: [10.0], 2: [20.0], 4: [20.5]},   # plateau at 2
              ("dukemtmc", "market1501"): {1: [10.0], 2: [15.0], 4: [25.0]}}   # plateau at 4
    assert method_budget(curves) == 4
    with pytest.raises(ValueError, match="at least one value"):
        plateau({1: []})


def result(curve: str, source: str, target: str, budget: int, seed: int, rank1: float) -> dict:
    return {"curve": curve, "source": source, "target": target, "budget": budget, "seed": seed, "rank1": rank1,
            "map": rank1 / 2, "source_rank1": None}


def test_curve_rows_mark_a_configured_budget_below_the_plateau():
    cfg = {"crgan": {"iterations": 250}}
    results = [result("crgan", "market1501", "dukemtmc", b, s, r + s) for b, r in ((125, 30.0), (250, 36.0), (500, 40.0),
                                                                                   (1000, 40.5)) for s in (0, 1)]
    rows = curve_rows(results, cfg)
    assert [row["budget"] for row in rows] == [125, 250, 500, 1000] and rows[0]["seeds"] == 2
    assert rows[2]["rank1"] == "40.50" and rows[2]["rank1_std"] == "0.71"
    assert {row["plateau"] for row in rows} == {500} and {row["configured_at_plateau"] for row in rows} == {"below plateau"}
    assert curve_rows(results, {"crgan": {"iterations": 500}})[0]["configured_at_plateau"] == "yes"


def test_a_point_sets_its_budget_and_keeps_cluster_contrasts_lr_step_share():
    cfg = {"cluster_contrast": {"epochs": 8, "step_size": 6}, "crgan": {"iterations": 250}}
    assert point_config(cfg, "cluster_contrast", 16)["cluster_contrast"] == {"epochs": 16, "step_size": 12}
    assert point_config(cfg, "crgan", 1000)["crgan"]["iterations"] == 1000 and cfg["crgan"]["iterations"] == 250
    checked = point_config(cfg, "crgan_wo_id", 250, "bfloat16")  # the precision check: the curve's own trainer only
    assert checked["crgan"]["precision"] == "bfloat16" and "precision" not in checked["cluster_contrast"]
    points_cfg = {"seeds": [0], "pairs": [["market1501", "dukemtmc"], ["dukemtmc", "market1501"]],
                  "budget_curves": {"seeds": None, "budgets": {"reid": [1, 2]}}}
    assert points(points_cfg) == [f"results/budgets/reid/{pair}/{b}/seed0/validation.json"
                                  for pair in ("market1501-dukemtmc", "dukemtmc-market1501") for b in (1, 2)]


def test_table7_methods_curves_are_also_measured_on_the_cuhk03_pairs_they_run_on():
    """Issue 33: a Table 7 row is marked against the plateau of its own CUHK03 pair; curves of methods
    Table 7 does not compute there (ablations, paste, Cluster Contrast; SPGAN to Duke) stay on Market/Duke,
    and a curve that never reads the source (TAUDL from scratch) is measured once per target."""
    from crgan.budget_curves import curve_pairs

    market_duke = [("market1501", "dukemtmc"), ("dukemtmc", "market1501")]
    cfg = {"pairs": [list(pair) for pair in market_duke], "cuhk03_pairs": [["cuhk03", "market1501"], ["cuhk03", "dukemtmc"]],
           "budget_curves": {"cuhk03_pairs": True}}
    for curve in ("reid", "crgan", "finetune"):
        assert curve_pairs(cfg, curve) == market_duke + [("cuhk03", "market1501"), ("cuhk03", "dukemtmc")]
    assert curve_pairs(cfg, "taudl") == market_duke  # from its plain start TAUDL never reads the source
    assert curve_pairs(cfg, "spgan") == curve_pairs(cfg, "finetune_spgan") == market_duke + [("cuhk03", "market1501")]
    for curve in ("crgan_wo_dual", "finetune_paste", "cluster_contrast", "cluster_contrast_crgan", "taudl_spgan"):
        assert curve_pairs(cfg, curve) == market_duke
    # TAUDL from CR-GAN's network and from the source model: Table 7's rows on both CUHK03 pairs
    for curve in ("taudl_crgan", "taudl_reid"):
        assert curve_pairs(cfg, curve) == market_duke + [("cuhk03", "market1501"), ("cuhk03", "dukemtmc")]
    assert curve_pairs({**cfg, "budget_curves": {"cuhk03_pairs": False}}, "crgan") == market_duke


def test_a_reid_point_trains_to_its_budget_and_is_tested_on_validation_only(synthetic_domain, tmp_path):
    import torch
    from conftest import CPU
    from test_reid import CFG

    from crgan import runtime
    from crgan.data.datasets import load_dataset

    indexes = tuple(load_dataset(d, synthetic_domain(d)) for d in ("market1501", "dukemtmc"))
    out = tmp_path / "reid" / "validation.json"
    found = run_point("reid", 1, CFG, 0, indexes, (tmp_path, tmp_path), out, CPU)
    record = found["record"]
    assert record["split"] == "validation" and found["budget"] == 1 and found["source_rank1"] is not None
    assert set(found["train_seconds"]) == {"reid"} and found["train_seconds"]["reid"] > 0  # the trainer's own time
    assert record["metrics"]["num_query"] == len(indexes[1]["splits"]["val_query"])
    log = (out.parent / "model.pt.log.csv").read_text().splitlines()
    assert len(log) == 2  # one epoch: the point's budget, not the config's
    with pytest.raises(ValueError, match="the crgan curve needs did"):
        run_point("crgan", 1, CFG, 0, indexes, (tmp_path, tmp_path), out, CPU)
    # the precision check's point: the trainer in bfloat16, and the evaluation says what the network trained in
    checked = run_point("reid", 1, CFG, 0, indexes, (tmp_path, tmp_path), tmp_path / "bf16" / "validation.json", CPU,
                        precision="bfloat16")
    assert checked["precision"] == "bfloat16" and checked["record"]["provenance"]["training_precision"] == "bfloat16"
    as_configured = runtime.autocast_dtype(CFG, CPU, "reid") or torch.float32  # auto: bfloat16 where the CPU computes it
    assert record["provenance"]["training_precision"] == str(as_configured).removeprefix("torch.")


def test_budget_curve_figures_one_svg_per_curve_with_its_verdict():
    from crgan.report.figures import budget_curve_figures

    cfg = {"crgan": {"iterations": 250}, "reid": {"epochs": 16}}
    results = [result("crgan", "market1501", "dukemtmc", b, s, r + s) for b, r in ((125, 30.0), (250, 36.0), (500, 40.0))
               for s in (0, 1)] + [result("reid", "dukemtmc", "market1501", b, 0, 20.0) for b in (8, 16)]
    rows = [{k: str(v) for k, v in row.items()} for row in curve_rows(results, cfg)]
    svgs = budget_curve_figures(rows)
    assert len(svgs) == 2 and all(svg.startswith("<svg") for svg in svgs)
    assert "configured 250: below its plateau" in svgs[0] and "configured 16: at its plateau" in svgs[1]


def test_a_run_depends_on_the_budgets_of_the_networks_it_begins_from():
    from crgan.runs import Run

    assert Run.crgan("market1501", "dukemtmc").budgets == ("reid", "crgan", "finetune")
    assert Run.crgan("market1501", "dukemtmc", "wo_dual").budgets == ("reid", "crgan_wo_dual", "finetune")
    # a started run is marked against its own start's curve
    assert Run.started("taudl", "dukemtmc", "spgan", "market1501").budgets == (
        "reid", "spgan", "finetune_spgan", "taudl_spgan")
    assert Run.started("taudl", "dukemtmc", "plain").budgets == ("taudl",)
    assert Run.started("cluster_contrast", "dukemtmc", "crgan", "market1501").budgets == (
        "reid", "crgan", "finetune", "cluster_contrast_crgan")
    assert Run.of_pair("paste", "market1501", "dukemtmc").budgets == ("reid", "finetune_paste")
    assert Run.of_pair("crgan_adabn", "market1501", "dukemtmc").budgets == ("reid", "crgan", "finetune")
    assert Run.started("cluster_contrast", "dukemtmc", "untrained").budgets == ()  # the floor trains nothing
    cfg = {"reid": {"epochs": 16}, "crgan": {"iterations": 250}, "finetune": {"iterations": 120}}
    status = budget_status(cfg, {"crgan": 500, "reid": 16})
    assert status["crgan"] == {"key": "crgan.iterations", "configured": 250, "plateau": 500, "still_rising": None}
    assert "spgan" not in status
    assert budget_notes(Run.crgan("market1501", "dukemtmc").budgets, status) == [
        "below plateau: crgan.iterations 250 < 500", "plateau not measured: finetune.iterations"]
    assert budget_notes(("reid",), status) == [] and budget_notes(("crgan",), None) == []
    assert budget_notes(("reid", "crgan"), budget_status(cfg, {})) == [
        "plateau not measured: reid.epochs, crgan.iterations"]
    # a claim comparing CR-GAN with SPGAN reads both fine-tuning curves: one option, named once
    assert budget_notes(("finetune", "finetune_spgan"), budget_status(cfg, {})) == [
        "plateau not measured: finetune.iterations"]
    # at a plateau that is its curve's largest budget, a row says the curve still rises there
    rising = budget_status(cfg, {"crgan": 250, "reid": 16, "finetune": 60}, {"crgan": 250, "reid": 16})
    assert budget_notes(Run.crgan("market1501", "dukemtmc").budgets, rising) == [
        "curve still rising at its largest budget: reid.epochs at 16, crgan.iterations at 250"]


def test_a_table_row_trained_below_its_plateau_says_so():
    from test_claims import reid_record

    from crgan.report.tables import build_table
    from crgan.runs import Run

    records = [reid_record(Run.crgan("market1501", "dukemtmc", variant, 0), "dukemtmc", 30.0)
               for variant in ("wo_id", "wo_cam", "wo_con", "crgan")]
    for record in records:
        record.metrics.update(chance_rank1=0.4, lmp_parts=2)
    cfg = {"seeds": [0], "pairs": [["market1501", "dukemtmc"]], "reid": {"epochs": 16}, "crgan": {"iterations": 250},
           "finetune": {"iterations": 120}}
    variants = {f"crgan_{v}": 250 for v in ("wo_id", "wo_cam", "wo_con")}
    rows = build_table(3, records, cfg, budget_status(cfg, {"finetune": 240, "reid": 16, "crgan": 250, **variants}))
    assert rows and all(r["notes"].endswith("below plateau: finetune.iterations 120 < 240") for r in rows)
    at_plateau = build_table(3, records, cfg, budget_status(cfg, {"finetune": 120, "reid": 16, "crgan": 250, **variants}))
    assert not any("plateau" in r["notes"] for r in at_plateau)
    # each ablation's G is marked against its own curve (issue 33): CR-GAN's plateau does not speak for w/o identity loss
    own = build_table(3, records, cfg, budget_status(cfg, {"finetune": 120, "reid": 16, "crgan": 250,
                                                           **variants, "crgan_wo_id": 500}))
    marked = {r["method"] for r in own if "below plateau: crgan.iterations 250 < 500" in r["notes"]}
    assert marked == {"w/o identity loss"}
    unmeasured = build_table(3, records, cfg, budget_status(cfg, {}))
    assert all(r["notes"].endswith("plateau not measured: reid.epochs, crgan.iterations, finetune.iterations")
               for r in unmeasured)


def test_the_curves_write_the_plateaus_the_main_run_reads(tmp_path):
    """write_curves writes results/plateaus.json beside the CSV; read_plateaus gives each curve's method
    budget (the larger over its pairs), and budget_status turns a changed plateau into a mark."""
    cfg = {"crgan": {"iterations": 250}, "budget_curves": {"ceiling": 4}}
    results = [result("crgan", s, t, b, seed, r + seed) for s, t, shift in (("market1501", "dukemtmc", 0.0),
                                                                            ("dukemtmc", "market1501", 5.0))
               for b, r in ((125, 30.0), (250, 36.0 + shift), (500, 40.0 + shift)) for seed in (0, 1)]
    paths = []
    for i, found in enumerate(results):
        paths.append(tmp_path / f"{i}.json")
        paths[-1].write_text(json.dumps(found))
    _, advice = write_curves(paths, cfg, tmp_path / "curves.csv", tmp_path / "plateaus.json")
    written = json.loads((tmp_path / "plateaus.json").read_text())["plateaus"]["crgan"]
    assert written["pairs"] == {"market1501->dukemtmc": 500, "dukemtmc->market1501": 500} and written["at_edge"]
    # still rising at 500 = 2x the configured 250, within the ceiling (4x): the next doubling is asked for
    assert written["extend_to"] == 1000 and advice == [
        "crgan still rises at its largest budget, 500 iterations: add 1000 to budget_curves.budgets.crgan and rerun"]
    assert read_plateaus(tmp_path / "plateaus.json") == {"crgan": 500} and read_plateaus(tmp_path / "none.json") == {}
    assert read_still_rising(tmp_path / "plateaus.json") == {"crgan": 500} and read_still_rising(tmp_path / "none.json") == {}
    assert budget_notes(("crgan",), budget_status(cfg, read_plateaus(tmp_path / "plateaus.json"))) == [
        "below plateau: crgan.iterations 250 < 500"]
    # the overlay that trains at the plateaus: the main run with it is at the plateau, and says its curve
    # still rises there
    write_curves(paths, cfg, tmp_path / "curves.csv", overlay=tmp_path / "overlay.yaml")
    overlay = yaml.safe_load((tmp_path / "overlay.yaml").read_text())
    assert overlay == {"crgan": {"iterations": 500}}
    at_plateau = config.deep_merge(cfg, overlay)
    assert budget_notes(("crgan",), budget_status(at_plateau, {"crgan": 500})) == []
    assert budget_notes(("crgan",), budget_status(at_plateau, {"crgan": 500}, {"crgan": 500})) == [
        "curve still rising at its largest budget: crgan.iterations at 500"]
    # at the ceiling the curve is not extended: the log says its rows stay marked
    _, advice = write_curves(paths, {**cfg, "budget_curves": {"ceiling": 2}}, tmp_path / "curves.csv", tmp_path / "plateaus.json")
    assert json.loads((tmp_path / "plateaus.json").read_text())["plateaus"]["crgan"]["extend_to"] is None
    assert advice == ["crgan still rises at its largest budget, 500 iterations, the ceiling (500): its rows say it is "
                      "still rising"]
    # a curve at its plateau asks for nothing
    flat = [dict(found, rank1=30.0 + found["seed"]) for found in results]
    for path, found in zip(paths, flat):
        path.write_text(json.dumps(found))
    assert write_curves(paths, cfg, tmp_path / "curves.csv", tmp_path / "plateaus.json")[1] == []
    assert read_still_rising(tmp_path / "plateaus.json") == {}


def test_the_plateau_overlay_takes_the_largest_plateau_of_an_option_and_keeps_a_step_schedules_share():
    """CR-GAN's G and its ablations share crgan.iterations, the fine-tunings finetune.iterations: the
    overlay sets each at the largest of its curves' plateaus, above or below the configured budget,
    and Cluster Contrast's lr step keeps its share of the epochs, as a budget point's config does."""
    cfg = {"crgan": {"iterations": 250}, "finetune": {"iterations": 120},
           "cluster_contrast": {"epochs": 8, "step_size": 6}, "reid": {"epochs": 64}}
    overlay = plateau_overlay(cfg, {"crgan": 250, "crgan_wo_id": 500, "finetune": 60, "finetune_paste": 60,
                                    "cluster_contrast": 16})
    assert overlay == {"crgan": {"iterations": 500}, "finetune": {"iterations": 60},
                       "cluster_contrast": {"epochs": 16, "step_size": 12}}
    assert point_config(cfg, "cluster_contrast", 16)["cluster_contrast"] == {"epochs": 16, "step_size": 12}
    assert "reid" not in overlay  # no curve measured: as configured


def test_a_hand_typed_plateau_is_refused():
    from conftest import REPO

    from crgan import config
    from crgan.errors import ConfigError

    cfg = config.load([REPO / "config.yaml"])
    with pytest.raises(ConfigError, match="budget_curves.plateau' is no longer set by hand.*results/plateaus.json"):
        config.validate(config.deep_merge(cfg, {"budget_curves": {"plateau": {"reid": 64}}}))


def test_each_curves_chain_runs_the_main_runs_trainer_entry_points_at_the_points_budget(tmp_path, monkeypatch):
    """Issue 34, one way to run a method: each curve's chain (budget_curves.PointChain) calls the
    trainers the main run's jobs call, its own trainer at the point's budget, from the main run's
    networks where the curve starts from them (trainers replaced by recorders here)."""
    import importlib

    from crgan.budget_curves import PointChain
    from crgan.budgets import CURVES
    from crgan.methods import METHODS

    calls: list[tuple] = []

    def recorder(name: str, option: tuple[str, str] | None = None):
        def record(*args, **kwargs):
            cfg = next(a for a in args if isinstance(a, dict) and "data" in a)
            calls.append((name, cfg[option[0]][option[1]] if option else None))
        return record

    modules = {name: importlib.import_module(f"crgan.train.{name}") for name in ("reid", "crgan", "finetune", "spgan")}
    for module, function, option in (("reid", "train_reid", ("reid", "epochs")),
                                     ("crgan", "train_generator", ("crgan", "iterations")),
                                     ("finetune", "finetune_on_rendered", ("finetune", "iterations")),
                                     ("finetune", "finetune_on_pasted", ("finetune", "iterations")),
                                     ("finetune", "finetune_on_translated", ("finetune", "iterations")),
                                     ("spgan", "train_spgan", ("spgan", "iterations")),
                                     ("spgan", "translate_split", None)):
        monkeypatch.setattr(modules[module], function, recorder(function, option))
    def started_recorder(name: str, option: tuple[str, str]):  # also which network the run starts from
        def record(target_index, cfg, seed, out, device, init):
            calls.append((name, cfg[option[0]][option[1]], init and init.name))
        return record

    for key in ("taudl", "cluster_contrast"):
        trainer_module, trainer = METHODS[key].trainer.split(":")
        monkeypatch.setattr(importlib.import_module(trainer_module), trainer,
                            started_recorder(trainer, (key, METHODS[key].length_option)))
    monkeypatch.setattr(PointChain, "source_model", lambda self: ("did network", {"info": 1}))
    monkeypatch.setattr("crgan.budget_curves.read_json", lambda path: {"translated": str(path)})
    cfg = {"data": {}, "reid": {"epochs": 64}, "crgan": {"iterations": 250}, "finetune": {"iterations": 120},
           "spgan": {"iterations": 1000}, "taudl": {"iterations": 300},
           "cluster_contrast": {"epochs": 8, "step_size": 6}}
    expected = {"reid": [("train_reid", 7)], "finetune": [("finetune_on_rendered", 7)],
                "finetune_paste": [("finetune_on_pasted", 7)],
                "finetune_spgan": [("translate_split", None), ("finetune_on_translated", 7)],
                "spgan": [("train_spgan", 7), ("translate_split", None), ("finetune_on_translated", 120)],
                # each start on its own curve: plain, the source model, the main run's CR-GAN or SPGAN network
                "taudl": [("train_taudl", 7, None)], "taudl_reid": [("train_taudl", 7, "did.pt")],
                "taudl_crgan": [("train_taudl", 7, "start.pt")], "taudl_spgan": [("train_taudl", 7, "start.pt")],
                "cluster_contrast": [("train_cluster_contrast", 7, "did.pt")],
                "cluster_contrast_crgan": [("train_cluster_contrast", 7, "start.pt")],
                **{key: [("train_generator", 7), ("finetune_on_rendered", 120)] for key, curve in CURVES.items()
                   if curve.variant}}
    assert set(expected) == set(CURVES)  # a new curve needs its chain here
    for curve, chain in expected.items():
        calls.clear()
        folder = tmp_path / curve
        PointChain(point_config(cfg, curve, 7), 0, ({}, {}), (folder, folder), folder, "cpu", tmp_path / "did.pt",
                   tmp_path / "G.pt", tmp_path / "start.pt").network(curve)
        assert calls == chain, curve
