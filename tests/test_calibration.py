"""The world's calibration: its anchors computed from re-id points, beside their targets and the real values."""
from __future__ import annotations

import csv

import pytest

from crgan.calibration import ANCHORS, IN_DOMAIN, RATIO, anchors_on_test_split, calibration_rows, points, write_calibration
from crgan.io import write_json


def point(source: str, target: str, seed: int, direct: float, own: float, accuracy: float) -> dict:
    """A re-id point: the source model's rank-1 on the target's validation split and on its own."""
    return {"curve": "reid", "source": source, "target": target, "budget": 64, "seed": seed, "rank1": direct,
            "map": direct / 2, "source_rank1": own, "train_accuracy": accuracy}


RESULTS = [point("market1501", "dukemtmc", 1, 34.0, 85.0, 0.95), point("dukemtmc", "market1501", 1, 44.0, 76.0, 0.93),
           point("market1501", "dukemtmc", 2, 30.0, 83.0, 0.97), point("dukemtmc", "market1501", 2, 46.0, 72.0, 0.91)]


def test_anchors_per_domain_and_pair_with_mean_spread_and_range():
    rows = {(r["anchor"], r["subject"]): r for r in calibration_rows(RESULTS, 64)}
    market = rows[(IN_DOMAIN, "market1501")]
    assert (market["seeds"], market["values"], market["mean"], market["std"]) == ("1 2", "85.0 83.0", "84.0", "1.4")
    assert market["within_target"] == "yes" and market["target"] == "80-90" and market["train_accuracy"] == "0.960"
    # Direct Transfer over the target's in-domain rank-1 of the same seed: 34 / 76 and 30 / 72
    ratio = rows[(RATIO, "market1501->dukemtmc")]
    assert ratio["values"] == "0.447 0.417" and ratio["mean"] == "0.432" and ratio["within_target"] == "yes"
    assert rows[(RATIO, "dukemtmc->market1501")]["values"] == "0.518 0.554"
    assert rows[(IN_DOMAIN, "dukemtmc")]["within_target"] == "yes" and rows[(RATIO, "market1501->dukemtmc")]["real"]
    assert len(rows) == len(ANCHORS) == 4


def test_a_seed_without_the_targets_own_model_gives_no_ratio():
    rows = calibration_rows(RESULTS[:1], 64)
    assert [(r["anchor"], r["subject"]) for r in rows] == [(IN_DOMAIN, "market1501")]


def test_out_of_range_is_said():
    rows = {(r["anchor"], r["subject"]): r for r in calibration_rows(
        [point("market1501", "dukemtmc", 1, 10.0, 60.0, 0.6), point("dukemtmc", "market1501", 1, 12.0, 55.0, 0.6)], 16)}
    assert rows[(IN_DOMAIN, "market1501")]["within_target"] == "no"
    assert rows[(RATIO, "market1501->dukemtmc")]["within_target"] == "no"


def test_the_test_split_gives_the_same_anchors():
    rows = {(r["anchor"], r["subject"]): r for r in anchors_on_test_split(
        {("market1501", "market1501"): 86.0, ("market1501", "dukemtmc"): 33.0, ("dukemtmc", "dukemtmc"): 75.0}, 64)}
    assert rows[(RATIO, "market1501->dukemtmc")]["mean"] == "0.440"
    assert set(rows) == {(IN_DOMAIN, "market1501"), (IN_DOMAIN, "dukemtmc"), (RATIO, "market1501->dukemtmc")}


def test_points_are_the_reid_curves_at_the_configured_epochs_on_the_calibration_seeds(tmp_path):
    cfg = {"reid": {"epochs": 64}, "pairs": [["market1501", "dukemtmc"]], "calibration": {"seeds": [1, 2]}}
    assert points(cfg) == [f"results/budgets/reid/market1501-dukemtmc/64/seed{s}/validation.json" for s in (1, 2)]
    files = []
    for i, result in enumerate(RESULTS):
        files.append(tmp_path / f"{i}.json")
        write_json(files[-1], result)
    write_calibration(files, 64, tmp_path / "calibration.csv")
    with open(tmp_path / "calibration.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 4


def test_calibration_seeds_never_include_the_tables_draw():
    from conftest import REPO

    from crgan import config
    from crgan.errors import ConfigError

    cfg = config.load([REPO / "config.yaml"])
    assert 0 not in cfg["calibration"]["seeds"]
    with pytest.raises(ConfigError, match="calibration.seeds"):
        config.validate(config.deep_merge(cfg, {"calibration": {"seeds": [0, 1]}}))
