"""The precision check's rule on hand-made points (crgan.precision_check; docs/assumptions.md, "Precision")."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import REPO, run_snakemake, smoke_workdir

from crgan.config import load
from crgan.precision_check import curve_row, points, write_check


def results(curve, section, float32, bfloat16, seconds=(10.0, 5.0)):
    """Check points of ``curve``: per (pair, bundle) the float32 and bfloat16 rank-1 given, mAP at half."""
    made = []
    for precision, values, took in (("float32", float32, seconds[0]), ("bfloat16", bfloat16, seconds[1])):
        for unit, value in enumerate(values):
            source, target = ("market1501", "dukemtmc") if unit % 2 == 0 else ("dukemtmc", "market1501")
            made.append({"curve": curve, "source": source, "target": target, "seed": unit // 2, "rank1": value,
                         "map": value / 2, "precision": precision, "train_seconds": {section: took}})
    return made


def test_a_trainer_within_noise_and_faster_is_cleared_for_bfloat16():
    row = curve_row("crgan", results("crgan", "crgan", [30, 40, 32, 41, 28, 39], [30.5, 39.4, 31.6, 41.2, 28.3, 38.8]))
    assert row["units"] == 6 and row["moves"] == "no" and row["choice"] == "bfloat16"
    assert float(row["interval_low"]) < 0 < float(row["interval_high"]) and row["speedup"] == "2.00"
    assert row["section"] == "crgan" and float(row["seed_std"]) > 1


def test_a_consistent_drop_or_one_larger_than_the_bundle_spread_keeps_float32():
    steady = curve_row("reid", results("reid", "reid", [30, 40, 32, 41, 28, 39], [29, 39.2, 31, 40.1, 27.1, 38]))
    assert steady["moves"] == "yes" and steady["choice"] == "float32 (results move)"  # interval below 0
    large = curve_row("reid", results("reid", "reid", [30, 40, 30.5, 40.5, 30.2, 40.2], [29, 41, 27, 40, 28.5, 39]))
    assert float(large["interval_high"]) > 0 and large["moves"] == "yes"  # |mean| above the bundles' spread
    slower = curve_row("spgan", results("spgan", "spgan", [30, 40, 32, 41, 28, 39], [30, 40, 32, 41, 28, 39.5],
                                        seconds=(5.0, 6.0)))
    assert slower["choice"] == "float32 (no faster)"


def test_points_pair_each_run_in_both_precisions_and_a_missing_side_is_refused(tmp_path):
    cfg = {"pairs": [["market1501", "dukemtmc"]], "precision_check": {"curves": ["reid"], "seeds": [0, 1, 2]}}
    found = points(cfg)
    assert len(found) == 6 and found[0] == "results/precision_check/float32/reid/market1501-dukemtmc/seed0/validation.json"
    with pytest.raises(ValueError, match="no .pair, bundle. run in both precisions"):
        curve_row("reid", [r for r in results("reid", "reid", [30], [31]) if r["precision"] == "float32"])
    import json

    paths = []
    for number, result in enumerate(results("taudl", "taudl", [2, 3], [2.5, 2.5])):
        path = tmp_path / f"{number}.json"
        path.write_text(json.dumps(result))
        paths.append(path)
    rows = write_check(paths, tmp_path / "check.csv")
    assert [row["curve"] for row in rows] == ["taudl"] and (tmp_path / "check.csv").read_text().startswith("curve,")


def test_the_workflow_plans_each_trainer_at_its_configured_budget_in_both_precisions(tmp_path: Path):
    """`snakemake results/precision_check.csv` (dry run): one point per curve, pair, bundle and precision,
    each at the curve's configured budget with its own trainer's precision on the command line."""
    work = smoke_workdir(tmp_path)
    proc = run_snakemake(work, "results/precision_check.csv", "-n", "-p", "--cores", "1", "--configfile",
                         "presets/smoke.yaml")
    assert proc.returncode == 0, proc.stderr[-2000:]
    plan = proc.stdout + proc.stderr
    cfg = load([REPO / "config.yaml", REPO / "presets" / "smoke.yaml"])
    assert plan.count("rule precision_point:") == len(points(cfg)) and plan.count("rule precision_check:") == 1
    commands = re.findall(r"crgan budget-point .*", plan)
    assert len(commands) == len(points(cfg))
    crgan = [c for c in commands if "--curve crgan " in c]
    assert crgan and all(f"--budget {cfg['crgan']['iterations']} " in c for c in crgan)
    assert {re.search(r"--precision (\w+)", c).group(1) for c in commands} == {"float32", "bfloat16"}
