"""Preflight: missing roots and weights are named before any job, and command-line config values work."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import REPO, make_tree, run_snakemake, smoke_workdir

from crgan import config, preflight


def crgan_cli(*args: str, cwd: Path = REPO, torch_home: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"TORCH_HOME": str(torch_home)} if torch_home else {})}
    return subprocess.run([sys.executable, "-m", "crgan.cli", *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_paper_preset_without_data_or_weights_names_every_missing_thing(tmp_path: Path):
    proc = crgan_cli("validate-config", "--config", "presets/paper.yaml", torch_home=tmp_path / "empty")
    assert proc.returncode == 2
    for needed in ("data.roots.market1501", "data.roots.dukemtmc", "data.roots.cuhk03", "reid.pretrained",
                   "masks.segmentation_weights", "quality.alexnet", "quality.inception"):
        line = next(line for line in proc.stdout.splitlines() if needed in line)
        assert "MISSING" in line, line
    assert "the run cannot start: missing" in proc.stderr and "ImageNet resnet50" in proc.stderr


def official_root(tmp_path: Path, domain: str) -> Path:
    """A dataset root with the official split folders and one image each."""
    names = {"market1501": "0002_c1s1_000451_01.jpg", "dukemtmc": "0005_c2_f0046985.jpg", "cuhk03": "0001_c1_1.png"}
    return make_tree(tmp_path / domain, {sub: [names[domain]] for sub in ("bounding_box_train", "query",
                                                                          "bounding_box_test")})


def test_roots_in_place_and_scratch_allowed_start(tmp_path: Path):
    roots = {d: str(official_root(tmp_path, d)) for d in ("market1501", "dukemtmc", "cuhk03")}
    (tmp_path / "masks").mkdir()
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"data": {"roots": roots}, "reid": {"allow_scratch": True},
                                       "masks": {"method": "directory", "directory": str(tmp_path / "masks")}}))
    proc = crgan_cli("validate-config", "--config", "presets/paper.yaml", "--config", str(overlay),
                     torch_home=tmp_path / "empty")
    assert proc.returncode == 0, proc.stderr
    rows = {line.split("  ")[0]: line for line in proc.stdout.splitlines()}
    assert "trains from scratch" in next(v for k, v in rows.items() if "reid.pretrained" in k)
    assert all("found" in v for k, v in rows.items() if "data.roots" in k)
    assert "config OK" in proc.stdout


def test_a_root_without_its_split_folders_is_named(tmp_path: Path):
    cfg = config.load([REPO / "config.yaml", REPO / "presets" / "paper.yaml"])
    cfg["data"]["roots"] = {d: str(official_root(tmp_path, d)) for d in ("market1501", "dukemtmc", "cuhk03")}
    (tmp_path / "dukemtmc" / "query").rename(tmp_path / "dukemtmc" / "queries")
    row = next(r for r in preflight.checks(cfg) if "dukemtmc" in r.what)
    assert row.fatal and "no query/" in row.where


def test_workflow_stops_before_any_job_on_a_missing_root(tmp_path: Path):
    work = smoke_workdir(tmp_path)
    proc = run_snakemake(work, "-n", "--cores", "1", "--configfile", "presets/paper.yaml")
    assert proc.returncode != 0
    assert "crgan: preflight: the run cannot start" in proc.stderr and "data.roots.market1501" in proc.stderr
    assert not (work / "results").exists()


def test_readme_command_line_overrides(tmp_path: Path):
    """Snakemake passes nested --config values as strings; they are read as the schema's types."""
    work = smoke_workdir(tmp_path)
    for value in ("synthetic={occlusion: 0.5}", "synthetic={seed: 11}", "seeds=[0, 1]"):
        proc = run_snakemake(work, "-n", "--cores", "1", "--config", value)
        assert proc.returncode == 0, (value, proc.stderr[-2000:])
    cfg = config.load([REPO / "config.yaml"])
    cfg["synthetic"].update(occlusion="0.5", seed="11")
    cfg.update(seeds=["0", "1"])
    cfg["reid"]["pretrained"] = "null"
    got = config.validate(cfg)
    assert (got["synthetic"]["occlusion"], got["synthetic"]["seed"], got["seeds"], got["reid"]["pretrained"]) == \
        (0.5, 11, [0, 1], None)


def test_cli_config_overlays_config_yaml_as_snakemake_does():
    proc = crgan_cli("validate-config", "--config", "presets/smoke.yaml")
    assert proc.returncode == 0, proc.stderr
    assert "config OK" in proc.stdout
