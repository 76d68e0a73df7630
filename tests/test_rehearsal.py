"""The paper preset + presets/rehearsal.yaml, run for real on CPU: Table 2's whole chain on trees in the
official layouts and names (tiny images, counts check off), with weights files the test makes."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
import torch
import yaml
from conftest import make_tree, run_snakemake, smoke_workdir

from crgan.data.datasets import load_dataset, rehearsal_subset
from crgan.weights import RESNET_HUB_FILES, SEGMENTATION_HUB_FILES


def official_tree(root: Path, domain: str, ids: int) -> Path:
    """``ids`` training and ``ids`` test identities in two or three cameras, named as the real dataset."""
    def name(pid: int, cam: int, k: int) -> str:
        return {"market1501": f"{pid:04d}_c{cam}s1_{k:06d}_01.jpg", "dukemtmc": f"{pid:04d}_c{cam}_f{k:07d}.jpg",
                "cuhk03": f"{pid:04d}_c{cam}_{k}.png"}[domain]
    train = [name(pid, cam, 10 * pid + cam) for pid in range(1, ids + 1) for cam in (1, 2, 3)]
    query = [name(pid, 1, 10 * pid) for pid in range(100, 100 + ids)]
    gallery = [name(pid, cam, 10 * pid + cam) for pid in range(100, 100 + ids) for cam in (2, 3)]
    if domain == "market1501":
        gallery += [name(0, 4, 9000 + k) for k in range(3)]  # distractors
    return make_tree(root / domain, {"bounding_box_train": train, "query": query, "bounding_box_test": gallery})


def test_rehearsal_subset_keeps_every_query_matchable(market_tree: Path):
    index = rehearsal_subset(load_dataset("market1501", market_tree, check_counts=False), 1)
    assert {r["pid"] for r in index["splits"]["train"]} == {2} and index["train_ids"] == 1
    assert [r["pid"] for r in index["splits"]["query"]] == [10]
    assert {r["pid"] for r in index["splits"]["gallery"]} == {10, 0}


@pytest.mark.slow
def test_paper_preset_rehearsal_builds_table2_on_cpu(tmp_path: Path):
    from torchvision.models import resnet50, segmentation

    data, hub = tmp_path / "reid", tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    roots = {d: str(official_tree(data, d, 6)) for d in ("market1501", "dukemtmc")}
    torch.save(resnet50().state_dict(), hub / RESNET_HUB_FILES["resnet50"][0])  # stand-ins for the real files
    torch.save(segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None, aux_loss=True,
                                               num_classes=21).state_dict(),
               hub / SEGMENTATION_HUB_FILES["deeplabv3_resnet50"])
    work = smoke_workdir(tmp_path)
    # the paper preset's networks and image size; batches, threads and device sized for a 2-core CI machine
    (work / "ci.yaml").write_text(yaml.safe_dump({
        "device": "cpu", "pairs": [["market1501", "dukemtmc"]], "cuhk03_pairs": [],
        "data": {"roots": roots, "check_counts": False, "workers": 0, "rehearsal_identities": 4},
        "reid": {"epochs": 1, "batch_size": 8}, "eval": {"batch_size": 16},
        "crgan": {"iterations": 2, "dcam_iterations": 2, "batch_size": 2, "checkpoint_every": 1},
        "finetune": {"iterations": 2, "batch_size": 4, "checkpoint_every": 1},
        "threads": {"train": 1, "eval": 1}, "gpus": {"train": 0, "eval": 0}}))
    env_home = {"TORCH_HOME": str(tmp_path / "torch")}
    os.environ.update(env_home)
    try:
        proc = run_snakemake(work, "results/table2.csv", "--cores", "2", "--configfile", "presets/paper.yaml",
                             "presets/rehearsal.yaml", "ci.yaml")
    finally:
        os.environ.pop("TORCH_HOME")
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = list(csv.DictReader((work / "results" / "table2.csv").open()))
    ours = [r for r in rows if r["value"]]
    assert ours and all(r["status"] == "rehearsal" and "not a result" in r["notes"] for r in ours)
    assert all(r["data"] == "real" and r["init"].startswith("imagenet:resnet50") for r in ours if r["init"])
    index = yaml.safe_load((work / "results" / "data" / "draw0" / "dukemtmc.json").read_text())
    assert index["rehearsal_identities"] == 4 and index["train_ids"] == 4
