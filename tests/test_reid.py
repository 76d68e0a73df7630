"""Re-id core: backbones, ImageNet initialisation from disk, pooling, training that learns and resumes."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import weights_of

from crgan.data.datasets import load_dataset
from crgan.errors import DatasetError, WeightsError
from crgan.eval.features import lmp
from crgan.eval.reid import evaluate_model
from crgan.models.reid import build_reid
from crgan.models.store import load_network
from crgan.train import loop as loop_mod
from crgan.train import reid as train_mod
from crgan.weights import RESNET_HUB_FILES as HUB_FILES

REID = {"arch": "compact", "width": 8, "last_stride": 1, "pretrained": None, "epochs": 3, "batch_size": 16,
        "lr": 0.003, "weight_decay": 0.0005, "label_smoothing": 0.1, "random_erasing": 0.5}
CFG = {"reid": REID, "data": {"height": 32, "width": 16, "workers": 0},
       "eval": {"metric": "euclidean", "lmp_parts": 2, "max_rank": 10, "batch_size": 64, "ranked_queries": 3,
                "ranked_top": 5, "ranked_seed": 0}}
CPU = torch.device("cpu")


@pytest.mark.parametrize("arch, last_stride, shape", [("compact", 1, (2, 64, 8, 4)), ("compact", 2, (2, 64, 4, 2)),
                                                      ("resnet18", 1, (2, 512, 4, 2))])
def test_backbone_shapes(arch, last_stride, shape):
    model, init = build_reid({**REID, "arch": arch, "last_stride": last_stride}, num_classes=7)
    x = torch.randn(2, 3, 64, 32)
    assert model.feature_map(x).shape == shape and model(x).shape == (2, 7) and init == "scratch"


def test_lmp_and_global_pooling_on_a_hand_made_map():
    fmap = torch.zeros(1, 2, 4, 1)
    fmap[0, 0, :, 0] = torch.tensor([1.0, 3.0, 0.0, 2.0])  # channel 0 down the rows
    fmap[0, 1, :, 0] = torch.tensor([0.0, 0.0, 4.0, 0.0])
    expected = torch.tensor([3.0, 0.0, 2.0, 4.0])  # stripe 1 (rows 0-1), stripe 2 (rows 2-3), per channel
    torch.testing.assert_close(lmp(fmap, 2), (expected / expected.norm())[None])
    model, _ = build_reid(REID, num_classes=3)
    torch.testing.assert_close(model.pooled(fmap), torch.tensor([[1.5, 1.0]]))
    with pytest.raises(ValueError, match="at least 5 rows"):
        lmp(fmap, 5)


def test_imagenet_init_from_hub_cache_and_wrong_weights(tmp_path: Path, monkeypatch):
    from torchvision.models import resnet18

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.manual_seed(0)
    reference = resnet18(weights=None)
    torch.save(reference.state_dict(), cache / HUB_FILES["resnet18"][0])
    model, init = build_reid({**REID, "arch": "resnet18"}, num_classes=3)
    assert init == f"imagenet:{HUB_FILES['resnet18'][0]}"
    torch.testing.assert_close(model.backbone.body.conv1.weight, reference.conv1.weight)
    wrong = tmp_path / "resnet50.pth"
    torch.save(build_reid({**REID, "arch": "resnet50"}, 3, init_weights=False)[0].backbone.body.state_dict(), wrong)
    with pytest.raises(WeightsError, match=r"resnet50.pth does not fit torchvision resnet18"):
        build_reid({**REID, "arch": "resnet18", "pretrained": str(wrong)}, num_classes=3)
    with pytest.raises(WeightsError, match="does not exist"):
        build_reid({**REID, "arch": "resnet18", "pretrained": str(tmp_path / "none.pth")}, num_classes=3)


def test_training_learns_and_is_deterministic(synthetic_domain, tmp_path: Path):
    index = load_dataset("market1501", synthetic_domain("market1501"))
    torch.manual_seed(0)
    info = train_mod.train_reid(index, CFG, seed=0, out=tmp_path / "a.pt", device=CPU)
    curve = (tmp_path / "a.pt.log.csv").read_text().splitlines()
    losses = [float(line.split(",")[1]) for line in curve[1:]]
    assert len(losses) == 3 and losses[-1] < losses[0]  # it learns
    assert info.init == "scratch" and info.provenance["seed"] == 0 and info.final["loss"] == losses[-1]
    assert not (tmp_path / "a.pt.ckpt").exists()
    torch.manual_seed(0)
    train_mod.train_reid(index, CFG, seed=0, out=tmp_path / "b.pt", device=CPU)
    a, b = weights_of(tmp_path / "a.pt"), weights_of(tmp_path / "b.pt")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    model, _ = load_network(tmp_path / "a.pt", CPU)
    metrics = evaluate_model(model, index, CFG, CPU)
    assert 0 <= metrics["gap"]["map"] <= 100 and len(metrics["lmp"]["cmc"]) == 10
    with pytest.raises(DatasetError, match="market1501: the query set is empty"):
        evaluate_model(model, {**index, "splits": {**index["splits"], "query": []}}, CFG, CPU)
    validation = evaluate_model(model, index, CFG, CPU, split="validation")  # the validation identities
    assert validation["num_query"] == len(index["splits"]["val_query"]) != metrics["num_query"]
    without = {**index, "splits": {k: v for k, v in index["splits"].items() if not k.startswith("val_")}}
    with pytest.raises(DatasetError, match="no validation split in the index"):
        evaluate_model(model, without, CFG, CPU, split="validation")


def test_interrupted_training_resumes_to_the_same_weights(synthetic_domain, tmp_path: Path, monkeypatch):
    index = load_dataset("dukemtmc", synthetic_domain("dukemtmc"))
    torch.manual_seed(0)
    train_mod.train_reid(index, CFG, seed=1, out=tmp_path / "full.pt", device=CPU)

    calls = {"n": 0}
    real_save = loop_mod.save_state

    def crash_after_two_epochs(path, state):
        real_save(path, state)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr(loop_mod, "save_state", crash_after_two_epochs)
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        train_mod.train_reid(index, CFG, seed=1, out=tmp_path / "resumed.pt", device=CPU)
    assert (tmp_path / "resumed.pt.ckpt").exists() and not (tmp_path / "resumed.pt").exists()
    torch.manual_seed(123)  # a resumed process starts from another RNG state; the checkpoint restores it
    train_mod.train_reid(index, CFG, seed=1, out=tmp_path / "resumed.pt", device=CPU)
    a, b = weights_of(tmp_path / "full.pt"), weights_of(tmp_path / "resumed.pt")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
