"""The domain-gap sweep: its rules plan one workflow run per point (the configured benchmark and each
knob's values, dry run), each run plans just the compared methods' jobs at its knobs, and the gathered
CSV averages each method's seeds per point, with the default point in every knob's line."""
from __future__ import annotations

import csv
import json
import shlex
import subprocess
from pathlib import Path

from conftest import REPO, run_snakemake, smoke_workdir, snakemake_command

from crgan import gap_sweep
from crgan.config import load
from crgan.io import write_json
from crgan.records import EvaluationRecord


def smoke_config() -> dict:
    return load([REPO / "config.yaml", REPO / "presets" / "smoke.yaml"])


def test_the_sweep_plans_one_workflow_run_per_point(tmp_path: Path):
    work = smoke_workdir(tmp_path)
    proc = run_snakemake(work, "results/gap_sweep.csv", "-n", "--cores", "1", "--configfile", "presets/smoke.yaml")
    assert proc.returncode == 0, proc.stderr[-2000:]
    plan = proc.stdout + proc.stderr
    points = gap_sweep.points(smoke_config())
    assert len(points) == 1 + len(gap_sweep.KNOBS)  # default, and each knob at 0
    assert plan.count("rule gap_sweep_point:") == len(points) and plan.count("rule gap_sweep:") == 1
    for point in points:
        assert f"results/gap_sweep/{point}/results/eval/crgan/market1501-dukemtmc" in plan
    assert "rule train_crgan" not in plan  # the runs themselves happen inside each point's folder


def test_each_point_runs_only_the_compared_methods_at_its_knobs(tmp_path: Path):
    """The gap_sweep_point rule's own shell command, run with the nested Snakemake in dry-run mode:
    its arguments parse and it plans just the compared methods' jobs, with one knob changed."""
    work = smoke_workdir(tmp_path)
    proc = run_snakemake(work, "results/gap_sweep.csv", "-n", "-p", "--cores", "1", "--configfile", "presets/smoke.yaml")
    assert proc.returncode == 0, proc.stderr[-2000:]
    point = next(line.split(":", 1)[1].strip() for line in (proc.stdout + proc.stderr).splitlines()
                 if "mkdir -p results/gap_sweep/occlusion_0.0 " in line)
    (work / "logs/gap_sweep").mkdir(parents=True)  # Snakemake makes a job's log folder before its command runs
    assert point.count(" snakemake ") == 1
    command, env = snakemake_command("-n")
    nested = subprocess.run(point.replace(" snakemake ", f" {shlex.join(command)} "), shell=True, cwd=work, env=env,
                            capture_output=True, text=True, timeout=900)
    plan = (work / "logs/gap_sweep/occlusion_0.0.log").read_text()
    assert nested.returncode == 0, plan[-2000:]
    synthetic = json.loads((work / "results/gap_sweep/occlusion_0.0/config.yaml").read_text())["synthetic"]
    assert {k: synthetic[k] for k in gap_sweep.KNOBS} == {"style_gap": 1.0, "context_diversity": 1.0,
                                                           "population_shift": 1.0, "occlusion": 0.0}
    for needed in ("rule train_crgan", "rule finetune_paste", "rule train_cluster_contrast", "rule train_reid"):
        assert needed in plan
    for not_needed in ("rule train_spgan", "rule train_taudl", "cuhk03", "wo_id", "rule table", "rule quality"):
        assert not_needed not in plan


def record(run_eval, seed: int, rank1: float, m_ap: float) -> dict:
    metrics = {"gap": {"rank1": rank1, "map": m_ap}, "lmp": {"rank1": 0.0, "map": 0.0}}
    return EvaluationRecord(run_eval.at(seed), "scratch", True, metrics, {"seed": seed}).to_dict()


def test_sweep_rows_average_the_seeds_of_each_point_and_share_the_default(tmp_path: Path):
    cfg = smoke_config()
    cfg["gap_sweep"]["knobs"] = {"occlusion": [0.0], "style_gap": [0.5]}
    pair = tuple(cfg["gap_sweep"]["pair"])
    paths = []
    for point, base in (("default", 50.0), ("occlusion_0.0", 60.0), ("style_gap_0.5", 70.0)):
        for evaluation in gap_sweep.evaluations(*pair).values():
            for seed, shift in ((0, 1.0), (1, -1.0)):
                path = tmp_path / f"results/gap_sweep/{point}" / evaluation.at(seed).path
                write_json(path, record(evaluation, seed, base + shift, base / 2))
                paths.append(path)
    rows = gap_sweep.sweep_rows(paths, cfg)
    gap_sweep.write_sweep(tmp_path / "sweep.csv", rows)
    written = list(csv.DictReader((tmp_path / "sweep.csv").open()))
    methods = len(gap_sweep.METHODS)
    assert len(written) == 4 * methods  # each knob: its value and the default point
    assert [r["row"] for r in written[:methods]] == list(gap_sweep.METHODS)
    assert [(r["knob"], r["value"], r["rank1"]) for r in written[::methods]] == [
        ("style_gap", "0.5", "70.00"), ("style_gap", "1.0", "50.00"),
        ("occlusion", "0.0", "60.00"), ("occlusion", "1.0", "50.00")]
    first = written[0]
    assert (first["method"], first["rank1_std"], first["map"], first["seeds"]) == ("Direct Transfer", "1.41", "35.00",
                                                                                    "0;1")
