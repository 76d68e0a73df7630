"""TAUDL's parts on hand-made data: tracklets per camera, batch sampling, per-camera heads and
cross-camera neighbour mining."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import CPU, resumed_state_equals_uninterrupted, save_network, weights_of

from crgan.data.datasets import Record
from crgan.models.reid import CompactResNet
from crgan.models.store import load_network
from crgan.models.taudl import TaudlNet
from crgan.runs import Run
from crgan.train import taudl as taudl_mod
from crgan.train.taudl import TrackletMemory, ccta_loss, pctd_chance, pctd_loss, sample_tracklets, tracklets

RECORDS = [Record("a.jpg", 7, 0), Record("b.jpg", 7, 0), Record("c.jpg", 7, 1), Record("d.jpg", 3, 1),
           Record("e.jpg", 3, 0), Record("f.jpg", 9, 2)]


def test_one_tracklet_per_person_and_camera_labelled_within_its_camera():
    members, cams, labels = tracklets(RECORDS, num_cameras=3)
    # camera 0: pids 3, 7; camera 1: pids 3, 7; camera 2: pid 9 -- pid order within a camera
    assert members == [[4], [0, 1], [3], [2], [5]]
    assert cams == [0, 0, 1, 1, 2] and labels == [0, 1, 0, 1, 0]


def test_bad_camera_is_named():
    with pytest.raises(Exception, match="x.jpg: camera 5 outside 1-3"):
        tracklets([Record("x.jpg", 1, 4)], num_cameras=3)


def test_batches_span_the_cameras():
    cams = [0] * 10 + [1] * 10 + [2] * 10
    picked = sample_tracklets(cams, 6, torch.Generator().manual_seed(0))
    assert len(set(picked)) == 6 and sorted(cams[t] for t in picked) == [0, 0, 1, 1, 2, 2]
    assert len(sample_tracklets(cams[:3], 8, torch.Generator().manual_seed(0))) == 3  # as many as exist


def test_per_camera_heads_score_only_their_own_camera():
    torch.manual_seed(0)
    model = TaudlNet(CompactResNet(4), [2, 3])
    assert [h.out_features for h in model.heads] == [2, 3]
    feats = torch.randn(4, 32)
    cams, labels = torch.tensor([0, 1, 1, 0]), torch.tensor([1, 2, 0, 0])
    expected = (F.cross_entropy(model.heads[0](feats[[0, 3]]), labels[[0, 3]])
                + F.cross_entropy(model.heads[1](feats[[1, 2]]), labels[[1, 2]]))
    torch.testing.assert_close(pctd_loss(model, feats, cams, labels), expected)
    assert model(torch.randn(2, 3, 16, 8)).shape == (2, 32)


def test_ccta_pulls_each_tracklet_toward_its_cross_camera_neighbour_in_the_memory():
    # memory of all tracklets: 0 (camera 0) and 1 (camera 1) are close; 2 (camera 0), 3 (camera 1) far
    memory = torch.tensor([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    cameras = torch.tensor([0, 1, 0, 1])
    sigma = 4.0
    ids = torch.tensor([0, 3])  # the batch holds tracklets 0 and 3, with features near their memory rows
    s = torch.tensor([[0.5, 0.0], [0.0, 9.0]], requires_grad=True)
    loss = ccta_loss(s, ids, memory, cameras, sigma, top_k=1)
    a = torch.exp(-torch.cdist(s, memory).detach() / (2 * sigma))
    expected = 0.0
    for row, (i, neighbour) in enumerate([(0, 1), (3, 0)]):  # the nearest memory tracklet of another camera
        others = [j for j in range(4) if j != i]
        expected -= math.log(a[row, neighbour] / a[row, others].sum())
    assert loss.item() == pytest.approx(expected / 2, rel=1e-5)
    loss.backward()
    assert s.grad[0, 0] < 0  # gradient descent moves tracklet 0 toward tracklet 1 (x = 1)
    assert ccta_loss(s.detach(), ids, memory, torch.zeros(4, dtype=torch.long), sigma, 1).item() == 0.0  # one camera


def test_memory_update_and_pctd_chance():
    memory = TrackletMemory(torch.zeros(3, 2), momentum=0.5)
    memory.update(torch.tensor([1]), torch.tensor([[2.0, 4.0]]))
    torch.testing.assert_close(memory.features, torch.tensor([[0.0, 0.0], [1.0, 2.0], [0.0, 0.0]]))
    assert pctd_chance(torch.tensor([0, 0, 2]), [4, 9, 16]) == pytest.approx(math.log(4) + math.log(16))


TAUDL_CFG = {"data": {"height": 32, "width": 16, "workers": 0},
             "reid": {"arch": "compact", "width": 4, "last_stride": 1, "pretrained": None},
             "taudl": {"iterations": 4, "tracklets_per_batch": 6, "images_per_tracklet": 2, "lr": 3.5e-4,
                       "weight_decay": 5e-4, "lambda_ccta": 0.7, "sigma": 4.0, "top_k": None, "checkpoint_every": 2,
                       "ccta_from": 0.0, "memory_momentum": 0.5}}


def test_taudl_trains_from_plain_and_from_a_model_and_resumes(gan_inputs, tmp_path: Path, monkeypatch):
    (src, tgt), _, did = gan_inputs
    info = taudl_mod.train_taudl(tgt, TAUDL_CFG, 0, tmp_path / "plain.pt", CPU)
    assert info.run == Run.started("taudl", tgt["domain"], "plain", seed=0) and info.init == "scratch"
    assert sum(info.classes) == info.details["num_tracklets"] == len(
        {(r["pid"], r["camid"]) for r in tgt["splits"]["train"]})
    model, _ = load_network(tmp_path / "plain.pt", CPU)
    assert isinstance(model, TaudlNet) and model(torch.randn(2, 3, 32, 16)).shape == (2, 32)
    # a fine-tuned network to start from: its backbone is copied, heads and embedding are new
    save_network(tmp_path / "crgan.pt", did, src["domain"], TAUDL_CFG["reid"], src["train_ids"],
                 Run.crgan(src["domain"], tgt["domain"], seed=0))
    cfg0 = {**TAUDL_CFG, "taudl": {**TAUDL_CFG["taudl"], "iterations": 1, "lr": 1e-12}}
    info = taudl_mod.train_taudl(tgt, cfg0, 0, tmp_path / "hybrid.pt", CPU, init_model=tmp_path / "crgan.pt")
    assert info.run == Run.started("taudl", tgt["domain"], "crgan", src["domain"], 0) and info.init == "scratch"
    assert info.run.start_run == Run.crgan(src["domain"], tgt["domain"], seed=0)
    hybrid, _ = load_network(tmp_path / "hybrid.pt", CPU)
    conv = "backbone.stem.0.weight"
    torch.testing.assert_close(hybrid.state_dict()[conv], did.state_dict()[conv], atol=1e-6, rtol=0)
    resumed_state_equals_uninterrupted(lambda out: taudl_mod.train_taudl(tgt, TAUDL_CFG, 0, out, CPU), tmp_path, monkeypatch)


def test_taudl_learns_below_chance_and_the_floor_is_the_untrained_network(gan_inputs, tmp_path: Path):
    (_, tgt), _, _ = gan_inputs
    cfg = {**TAUDL_CFG, "reid": {**TAUDL_CFG["reid"], "width": 8},
           "taudl": {**TAUDL_CFG["taudl"], "iterations": 150, "lr": 3e-3, "ccta_from": 0.5}}
    torch.manual_seed(0)
    taudl_mod.train_taudl(tgt, cfg, 0, tmp_path / "plain.pt", CPU)
    rows = list(csv.DictReader((tmp_path / "plain.pt.log.csv").open()))
    first, last = rows[:5], rows[-30:]  # the per-step loss is noisy (+-30 %): a mean over 30 steps
    mean = lambda rs, key: sum(float(r[key]) for r in rs) / len(rs)  # noqa: E731
    assert mean(first, "loss_pctd") == pytest.approx(mean(first, "pctd_chance"), rel=0.05)  # heads start near 0
    assert mean(last, "loss_pctd") < 0.9 * mean(last, "pctd_chance")  # well below chance: it learns (0.79 here)
    torch.manual_seed(0)
    floor = taudl_mod.train_taudl(tgt, cfg, 0, tmp_path / "floor.pt", CPU, untrained=True)
    assert floor.run == Run.started("taudl", tgt["domain"], "untrained", seed=0) and floor.final == {}
    torch.manual_seed(0)
    taudl_mod.train_taudl(tgt, cfg, 0, tmp_path / "floor2.pt", CPU, untrained=True)
    a, b = weights_of(tmp_path / "floor.pt"), weights_of(tmp_path / "floor2.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)  # the same seed, the same untrained network
