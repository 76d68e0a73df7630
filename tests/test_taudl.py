"""TAUDL's parts on hand-made data: tracklets per camera, batch sampling, per-camera heads and
cross-camera neighbour mining."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import CPU, resumed_state_equals_uninterrupted, save_network

from crgan.data.datasets import Record
from crgan.models.reid import CompactResNet
from crgan.models.store import load_network
from crgan.models.taudl import TaudlNet
from crgan.runs import Run
from crgan.train import taudl as taudl_mod
from crgan.train.taudl import ccta_loss, pctd_loss, sample_tracklets, tracklets

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


def test_ccta_pulls_each_tracklet_toward_its_cross_camera_neighbour():
    # tracklets 0 (camera 0) and 1 (camera 1) are close; 2 (camera 0) and 3 (camera 1) far from both
    s = torch.tensor([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0], [0.0, 10.0]], requires_grad=True)
    cams = torch.tensor([0, 1, 0, 1])
    sigma = 4.0
    loss = ccta_loss(s, cams, sigma, top_k=1)
    d = torch.cdist(s, s).detach()
    a = torch.exp(-d / (2 * sigma))
    expected = 0.0
    for i, nb in enumerate([1, 0, 1, 0]):  # the nearest tracklet of another camera
        others = [j for j in range(4) if j != i]
        expected -= math.log(a[i, nb] / a[i, others].sum())
    assert loss.item() == pytest.approx(expected / 4, rel=1e-5)
    loss.backward()
    assert s.grad[0, 0] < 0 < s.grad[1, 0]  # gradient descent moves 0 and 1 toward each other
    # a single camera in the batch: nothing to associate
    assert ccta_loss(s.detach(), torch.zeros(4, dtype=torch.long), sigma, 1).item() == 0.0


TAUDL_CFG = {"data": {"height": 32, "width": 16, "workers": 0},
             "reid": {"arch": "compact", "width": 4, "last_stride": 1, "pretrained": None},
             "taudl": {"iterations": 4, "tracklets_per_batch": 6, "images_per_tracklet": 2, "lr": 3.5e-4,
                       "weight_decay": 5e-4, "lambda_ccta": 0.7, "sigma": 4.0, "top_k": None, "checkpoint_every": 2}}


def test_taudl_trains_from_plain_and_from_a_model_and_resumes(gan_inputs, tmp_path: Path, monkeypatch):
    (src, tgt), _, did = gan_inputs
    info = taudl_mod.train_taudl(tgt, TAUDL_CFG, 0, tmp_path / "plain.pt", CPU)
    assert info.run == Run.taudl(tgt["domain"], seed=0) and info.init == "scratch"
    assert sum(info.classes) == info.details["num_tracklets"] == len(
        {(r["pid"], r["camid"]) for r in tgt["splits"]["train"]})
    model, _ = load_network(tmp_path / "plain.pt", CPU)
    assert isinstance(model, TaudlNet) and model(torch.randn(2, 3, 32, 16)).shape == (2, 32)
    # a fine-tuned network to start from: its backbone is copied, heads and embedding are new
    save_network(tmp_path / "crgan.pt", did, src["domain"], TAUDL_CFG["reid"], src["train_ids"],
                 Run.crgan(src["domain"], tgt["domain"], seed=0))
    cfg0 = {**TAUDL_CFG, "taudl": {**TAUDL_CFG["taudl"], "iterations": 1, "lr": 1e-12}}
    info = taudl_mod.train_taudl(tgt, cfg0, 0, tmp_path / "hybrid.pt", CPU, init_model=tmp_path / "crgan.pt")
    assert info.run == Run.taudl(tgt["domain"], "crgan", src["domain"], 0) and info.init == "scratch"
    assert info.run.taudl_start == Run.crgan(src["domain"], tgt["domain"], seed=0)
    hybrid, _ = load_network(tmp_path / "hybrid.pt", CPU)
    conv = "backbone.stem.0.weight"
    torch.testing.assert_close(hybrid.state_dict()[conv], did.state_dict()[conv], atol=1e-6, rtol=0)
    resumed_state_equals_uninterrupted(lambda out: taudl_mod.train_taudl(tgt, TAUDL_CFG, 0, out, CPU), tmp_path, monkeypatch)
