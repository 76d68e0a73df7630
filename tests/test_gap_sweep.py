"""The domain-gap sweep: its rules plan one workflow run per gap (dry run), each run plans just the
compared methods' jobs, and the gathered CSV averages each method's seeds per gap."""
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


def test_the_sweep_plans_one_workflow_run_per_gap(tmp_path: Path):
    work = smoke_workdir(tmp_path)
    proc = run_snakemake(work, "results/gap_sweep.csv", "-n", "--cores", "1", "--configfile", "presets/smoke.yaml")
    assert proc.returncode == 0, proc.stderr[-2000:]
    plan = proc.stdout + proc.stderr
    gaps = smoke_config()["gap_sweep"]["gaps"]
    assert plan.count("rule gap_sweep_point:") == len(gaps) and plan.count("rule gap_sweep:") == 1
    for gap in gaps:
        assert f"results/gap_sweep/gap{gap_sweep.gap_name(gap)}/results/eval/crgan/market1501-dukemtmc" in plan
    assert "rule train_crgan" not in plan  # the runs themselves happen inside each gap's folder


def test_each_gap_runs_only_the_compared_methods(tmp_path: Path):
    """The gap_sweep_point rule's own shell command, run with the nested Snakemake in dry-run mode:
    its arguments parse and it plans just the compared methods' jobs at that gap."""
    work = smoke_workdir(tmp_path)
    proc = run_snakemake(work, "results/gap_sweep.csv", "-n", "-p", "--cores", "1", "--configfile", "presets/smoke.yaml")
    assert proc.returncode == 0, proc.stderr[-2000:]
    point = next(line.split(":", 1)[1].strip() for line in (proc.stdout + proc.stderr).splitlines()
                 if "mkdir -p results/gap_sweep/gap0.25 " in line)
    (work / "logs/gap_sweep").mkdir(parents=True)  # Snakemake makes a job's log folder before its command runs
    assert point.count(" snakemake ") == 1
    command, env = snakemake_command("-n")
    nested = subprocess.run(point.replace(" snakemake ", f" {shlex.join(command)} "), shell=True, cwd=work, env=env,
                            capture_output=True, text=True, timeout=900)
    plan = (work / "logs/gap_sweep/gap0.25.log").read_text()
    assert nested.returncode == 0, plan[-2000:]
    assert json.loads((work / "results/gap_sweep/gap0.25/config.yaml").read_text())["synthetic"]["context_gap"] == 0.25
    for needed in ("rule train_crgan", "rule finetune_paste", "rule train_cluster_contrast", "rule train_reid"):
        assert needed in plan
    for not_needed in ("rule train_spgan", "rule train_taudl", "cuhk03", "wo_id", "rule table", "rule quality"):
        assert not_needed not in plan


def record(run_eval, seed: int, rank1: float, m_ap: float) -> dict:
    metrics = {"gap": {"rank1": rank1, "map": m_ap}, "lmp": {"rank1": 0.0, "map": 0.0}}
    return EvaluationRecord(run_eval.at(seed), "scratch", True, metrics, {"seed": seed}).to_dict()


def test_sweep_rows_average_the_seeds_of_each_gap(tmp_path: Path):
    pair = ("market1501", "dukemtmc")
    paths = []
    for gap, base in (("0.0", 50.0), ("1.0", 20.0)):
        for evaluation in gap_sweep.evaluations(*pair).values():
            for seed, shift in ((0, 1.0), (1, -1.0)):
                path = tmp_path / f"results/gap_sweep/gap{gap}" / evaluation.at(seed).path
                write_json(path, record(evaluation, seed, base + shift, base / 2))
                paths.append(path)
    rows = gap_sweep.sweep_rows(paths, pair)
    gap_sweep.write_sweep(tmp_path / "sweep.csv", rows)
    written = list(csv.DictReader((tmp_path / "sweep.csv").open()))
    assert len(written) == 2 * len(gap_sweep.METHODS)
    assert [r["row"] for r in written[:len(gap_sweep.METHODS)]] == list(gap_sweep.METHODS)
    assert written[0]["method"] == "Direct Transfer"
    first = written[0]
    assert (first["gap"], first["rank1"], first["rank1_std"], first["map"], first["seeds"]) == (
        "0.0", "50.00", "1.41", "25.00", "0;1")
