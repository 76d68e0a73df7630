"""Bad input, systematically: each case runs the `crgan` command a workflow rule would run, and must
end with one clear line (`crgan: error: ...`, exit status 2) that names what is wrong, and write
nothing: no output, no temporary file left beside it."""
from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from conftest import REPO, make_tree, save_network, write_image
from torchvision.models import alexnet

from crgan import cli
from crgan.data.datasets import load_dataset
from crgan.io import write_json
from crgan.models.reid import build_reid

COMPACT = {"arch": "compact", "width": 8, "last_stride": 1, "pretrained": None, "epochs": 1, "batch_size": 4,
           "lr": 0.001, "weight_decay": 0.0005, "label_smoothing": 0.1, "random_erasing": 0.5}
DATA = {"source": "real", "roots": {}, "synthetic_root": "data/synthetic", "check_counts": False, "height": 32,
        "width": 16, "workers": 0}
MASKS = {"method": "directory", "segmentation_model": "deeplabv3_resnet50", "segmentation_weights": None,
         "directory": None, "threshold": 0.5}


@dataclass
class Case:
    argv: list[str]
    message: str  # a regular expression the error line must match
    absent: list[Path] = field(default_factory=list)  # outputs that must not exist afterwards


def config_file(tmp: Path, text: str) -> list[str]:
    path = tmp / "bad.yaml"
    path.write_text(text)
    return ["validate-config", "--config", str(REPO / "config.yaml"), "--config", str(path)]


def market(tmp: Path) -> Path:
    return make_tree(tmp / "Market-1501-v15.09.15", {
        "bounding_box_train": ["0002_c1s1_000451_01.jpg", "0002_c2s1_000551_01.jpg", "0007_c3s2_000100_02.jpg"],
        "query": ["0010_c1s1_000001_00.jpg", "0011_c2s1_000002_00.jpg"],
        "bounding_box_test": ["0010_c2s1_000003_01.jpg", "0011_c5s3_000005_01.jpg", "0000_c1s1_000006_01.jpg"]})


def index_case(tmp: Path, damage: Callable[[Path], None], message: str) -> Case:
    """`crgan index` on a Market tree damaged by ``damage``."""
    root = market(tmp)
    damage(root)
    cfg = {"data": {**DATA, "roots": {"market1501": str(root)}}}
    out = tmp / "out" / "market1501.json"
    return Case(["index", "--config-json", json.dumps(cfg), "--domain", "market1501", "--out", str(out)], message,
                [out])


def model_file(tmp: Path, index: dict) -> Path:
    """A re-id model file as train-reid writes it (untrained weights are enough to fail on bad input)."""
    model, _ = build_reid(COMPACT, num_classes=2)
    return save_network(tmp / "model.pt", model, index["domain"], COMPACT, 2)


def synthetic_index(tmp: Path, make_domain) -> tuple[Path, dict]:
    root = make_domain("market1501")
    index = load_dataset("market1501", root)
    write_json(tmp / "index.json", index)
    return tmp / "index.json", index


def masks_case(tmp: Path, make_domain, damage: Callable[[Path], None], message: str) -> Case:
    """`crgan masks` from a folder of precomputed masks damaged by ``damage``."""
    index_path, index = synthetic_index(tmp, make_domain)
    shutil.copytree(Path(index["root"]) / "masks", tmp / "parsed" / "market1501")
    damage(tmp / "parsed" / "market1501" / "query")
    out = tmp / "out" / "masks"
    cfg = {"masks": {**MASKS, "directory": str(tmp / "parsed")}, "device": "cpu"}
    return Case(["masks", "--config-json", json.dumps(cfg), "--index", str(index_path), "--out", str(out)], message,
                [out])


def first(folder: Path) -> Path:
    return sorted(folder.iterdir())[0]


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:60])


def empty_query(tmp: Path, make_domain) -> Case:
    index_path, index = synthetic_index(tmp, make_domain)
    write_json(index_path, {**index, "splits": {**index["splits"], "query": []}})
    out = tmp / "out" / "eval.json"
    cfg = {"eval": {"metric": "euclidean", "lmp_parts": 2, "max_rank": 50, "batch_size": 8},
           "data": {**DATA, "source": "synthetic"}, "device": "cpu"}
    return Case(["eval-reid", "--config-json", json.dumps(cfg), "--model", str(model_file(tmp, index)),
                 "--index", str(index_path), "--out", str(out)], r"market1501: the query set is empty", [out])


def train_reid_case(tmp: Path, make_domain, reid: dict, device: str, message: str) -> Case:
    index_path, _ = synthetic_index(tmp, make_domain)
    out = tmp / "out" / "model.pt"
    cfg = {"reid": reid, "data": {**DATA, "source": "synthetic"}, "device": device}
    return Case(["train-reid", "--config-json", json.dumps(cfg), "--index", str(index_path), "--out", str(out)],
                message, [out, Path(f"{out}.ckpt"), Path(f"{out}.log.csv")])


def wrong_architecture(tmp: Path, make_domain) -> Case:
    torch.save(alexnet(weights=None).state_dict(), tmp / "alexnet.pth")
    return train_reid_case(tmp, make_domain, {**COMPACT, "arch": "resnet18", "pretrained": str(tmp / "alexnet.pth")},
                           "cpu", r"weights file .*alexnet.pth does not fit torchvision resnet18")


def not_a_model(tmp: Path, make_domain) -> Case:
    """A file of another step (here a bare state dict) given as the model to evaluate."""
    case = empty_query(tmp, make_domain)
    bogus = tmp / "G.pt"
    torch.save({"g": {}}, bogus)
    case.argv[case.argv.index("--model") + 1] = str(bogus)
    case.message = r"G.pt is not a re-id network file written by this workflow"
    return case


CASES: dict[str, Callable[[Path, Callable], Case]] = {
    "unknown config key": lambda t, d: Case(config_file(t, "reid: {archh: compact}\n"),
                                            r"unknown config key 'reid.archh' .*did you mean 'arch'"),
    "mistyped section": lambda t, d: Case(config_file(t, "crgn: {iterations: 3}\n"),
                                          r"unknown config key 'crgn' .*did you mean 'crgan'"),
    "wrong type": lambda t, d: Case(config_file(t, "reid: {arch: compact, epochs: ten}\n"),
                                    r"config key 'reid.epochs': 'ten' is not of type 'integer'"),
    "negative size": lambda t, d: Case(config_file(t, "data: {height: -64}\n"),
                                       r"config key 'data.height': -64 is less than the minimum"),
    "CUDA asked, none here": lambda t, d: train_reid_case(t, d, COMPACT, "cuda",
                                                          r"config key 'device' is 'cuda' but no CUDA GPU"),
    "missing dataset root": lambda t, d: index_case(t, lambda r: shutil.rmtree(r), r"dataset root .* does not exist"),
    "wrong layout": lambda t, d: index_case(t, lambda r: (r / "query").rename(r / "probe"),
                                            r"missing folder .*Market-1501-v15.09.15/query"),
    "non-image file": lambda t, d: index_case(t, lambda r: (r / "query" / "notes.txt").write_text("x"),
                                              r"notes.txt is not an image file"),
    "truncated JPEG": lambda t, d: index_case(t, lambda r: truncate(first(r / "query")),
                                              r"unreadable or truncated image .*0010_c1s1_000001_00.jpg"),
    "camera id out of range": lambda t, d: index_case(
        t, lambda r: write_image(r / "query" / "0012_c9s1_000001_00.jpg"), r"0012_c9s1_000001_00.jpg .*cameras 1-6"),
    "identity id out of range": lambda t, d: index_case(
        t, lambda r: write_image(r / "query" / "0000_c1s1_000009_00.jpg"), r"distractor id 0000 in the query split"),
    "mask missing": lambda t, d: masks_case(t, d, lambda q: first(q).unlink(), r"missing mask "),
    "mask of the wrong size": lambda t, d: masks_case(
        t, d, lambda q: write_image(first(q), size=(5, 5)), r"mask .* is 5x5 but its image is "),
    "empty query set": empty_query,
    "weights of the wrong architecture": wrong_architecture,
    "another step's file as a model": not_a_model,
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_clear_line_and_writes_nothing(name, tmp_path, synthetic_domain, capsys):
    if name == "CUDA asked, none here" and torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    case = CASES[name](tmp_path, synthetic_domain)
    assert cli.main(case.argv) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("crgan: error: ")]
    assert len(errors) == 1, errors
    assert re.search(case.message, errors[0]), errors[0]
    for path in case.absent:
        assert not path.exists(), f"{path} was written"
    out = tmp_path / "out"
    assert not out.exists() or not any(out.rglob("*")), sorted(out.rglob("*"))  # no temporary leftovers
