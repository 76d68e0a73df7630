"""Cluster Contrast's parts on hand-made data (pseudo-labels, memory, batches) and its training on a
tiny synthetic target: every epoch contrasts clusters, the loss falls, it resumes exactly."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import CPU, assert_cluster_contrast_fits_its_pseudo_labels, resumed_state_equals_uninterrupted, save_network
from sklearn.metrics import adjusted_rand_score

from crgan.data.datasets import load_dataset
from crgan.errors import ConfigError
from crgan.models.cluster_contrast import ClusterNet
from crgan.models.reid import build_reid
from crgan.models.store import load_network
from crgan.runs import Run
from crgan.train import cluster_contrast as cc
from crgan.train.reid import train_reid


def test_dbscan_pseudo_labels_recover_known_clusters():
    gen = torch.Generator().manual_seed(0)
    centres = F.normalize(torch.randn(5, 16, generator=gen), dim=1) * 3
    features = torch.cat([centres[c] + 0.2 * torch.randn(8, 16, generator=gen) for c in range(5)])
    outlier = torch.randn(1, 16, generator=gen) * 3
    labels = cc.pseudo_labels(torch.cat([features, outlier]),
                              {"k1": 6, "k2": 2, "eps": 0.6, "min_samples": 4})
    truth = np.repeat(np.arange(5), 8)
    assert labels.max() + 1 == 5 and adjusted_rand_score(truth, labels[:40]) == 1.0
    assert labels[40] == -1  # an isolated image is left out of the epoch


def test_cluster_centres_are_normalised_means_of_clustered_images():
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0], [3.0, 4.0], [9.0, 9.0]])
    centres = cc.cluster_centres(features, np.array([0, 0, 1, -1]))
    torch.testing.assert_close(centres, torch.tensor([[0.7071068, 0.7071068], [0.6, 0.8]]))


def test_memory_update_is_sequential_momentum_then_normalised():
    memory = cc.ClusterMemory(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), temperature=0.05, momentum=0.1)
    memory.update(torch.tensor([[0.0, 2.0], [0.0, -1.0]]), torch.tensor([0, 0]))
    first = torch.tensor([0.1, 0.9]) / torch.tensor([0.1, 0.9]).norm()  # feature normalised to (0, 1)
    second = 0.1 * first + torch.tensor([0.0, -0.9])
    torch.testing.assert_close(memory.features[0], second / second.norm())
    torch.testing.assert_close(memory.features[1], torch.tensor([0.0, 1.0]))  # untouched


def test_memory_update_by_rounds_is_the_per_image_loop_to_the_bit():
    """A P x K batch in shuffled order: the vectorised update equals the authors' one-image-at-a-time loop."""
    gen = torch.Generator().manual_seed(0)
    centres = torch.nn.functional.normalize(torch.randn(20, 32, generator=gen), dim=1)
    labels = torch.arange(16).repeat_interleave(4)[torch.randperm(64, generator=gen)]
    features = torch.randn(64, 32, generator=gen)
    memory = cc.ClusterMemory(centres, temperature=0.05, momentum=0.2)
    memory.update(features, labels)
    expected = centres.clone()
    for feature, label in zip(torch.nn.functional.normalize(features, dim=1), labels.tolist()):
        row = 0.2 * expected[label] + 0.8 * feature
        expected[label] = row / row.norm()
    assert torch.equal(memory.features, expected)


def test_memory_loss_is_cross_entropy_of_scaled_cosines():
    memory = cc.ClusterMemory(torch.eye(3), temperature=0.5, momentum=0.1)
    features = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 5.0]])
    expected = F.cross_entropy(torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 2.0]]), torch.tensor([0, 1]))
    torch.testing.assert_close(memory.loss(features, torch.tensor([0, 1])), expected)


def test_batches_draw_p_clusters_of_k_images_and_never_outliers():
    labels = np.array([0, 0, 0, 0, 1, 1, -1, 2, 2, 2, 2, 2, -1])
    draw = cc.cluster_batches(labels, clusters_per_batch=2, instances=3)
    for seed in range(20):
        picked = draw(torch.Generator().manual_seed(seed))
        clusters = labels[picked]
        assert len(picked) == 6 and (clusters >= 0).all()
        assert len(set(clusters[:3])) == 1 and len(set(clusters[3:])) == 1 and clusters[0] != clusters[3]
    assert draw(torch.Generator().manual_seed(1)) == draw(torch.Generator().manual_seed(1))


CC_CFG = {"data": {"height": 32, "width": 16, "workers": 0}, "eval": {"batch_size": 64},
          "reid": {"arch": "compact", "width": 8, "last_stride": 1, "pretrained": None},
          "cluster_contrast": {"epochs": 2, "iterations": 2, "batch_size": 16, "instances": 4, "lr": 3.5e-4,
                               "weight_decay": 5e-4, "step_size": 20, "temperature": 0.05, "momentum": 0.1,
                               "eps": 0.6, "min_samples": 4, "k1": 10, "k2": 3, "random_erasing": 0.5,
                               "checkpoint_every": 1}}


def source_model(gan_inputs, tmp_path: Path) -> Path:
    """A source re-id model file: an untrained compact network built from a fixed seed."""
    (src, _), _, _ = gan_inputs
    torch.manual_seed(0)
    arch = {**CC_CFG["reid"], "width": 4}
    network, _ = build_reid(arch, src["train_ids"])
    return save_network(tmp_path / "source.pt", network, src["domain"], arch, src["train_ids"], Run.reid(src["domain"], 0))


def test_starts_floor_and_resume(gan_inputs, tmp_path: Path, monkeypatch):
    (src, tgt), _, did = gan_inputs
    init = source_model(gan_inputs, tmp_path)
    cfg = CC_CFG
    info = cc.train_cluster_contrast(tgt, cfg, 0, tmp_path / "uda.pt", CPU, init)
    assert info.run == Run.started("cluster_contrast", tgt["domain"], "reid", src["domain"], 0)
    assert info.run.start_run == Run.reid(src["domain"], 0)
    model, _ = load_network(tmp_path / "uda.pt", CPU)
    assert isinstance(model, ClusterNet)
    floor = cc.train_cluster_contrast(tgt, cfg, 0, tmp_path / "floor.pt", CPU, untrained=True)
    assert floor.run == Run.started("cluster_contrast", tgt["domain"], "untrained", seed=0) and floor.final == {}
    resumed_state_equals_uninterrupted(lambda out: cc.train_cluster_contrast(tgt, cfg, 0, out, CPU, init), tmp_path,
                                       monkeypatch)
    with pytest.raises(ConfigError, match="Cluster Contrast has no plain start: give --init .* or --untrained"):
        cc.train_cluster_contrast(tgt, cfg, 0, tmp_path / "bad.pt", CPU)
    with pytest.raises(Exception, match="Cluster Contrast starts from the network of a reid or crgan run"):
        save_network(tmp_path / "taudl.pt", did, src["domain"], {**CC_CFG["reid"], "width": 4}, src["train_ids"],
                     Run.of_pair("spgan", src["domain"], tgt["domain"], 0))
        cc.train_cluster_contrast(tgt, cfg, 0, tmp_path / "bad.pt", CPU, tmp_path / "taudl.pt")
    assert not (tmp_path / "bad.pt").exists()


def test_cluster_contrast_fits_its_pseudo_labels_on_a_small_target(synthetic_domain, tmp_path: Path, one_thread):
    """From a briefly trained source model on a 30-identity target: every epoch finds clusters and
    the loss falls (the smoke workflow checks the same at its size; why not identities: conftest)."""
    sizes = {"train_ids": 30, "test_ids": 5, "distractor_ids": 0, "junk_images": 0}
    source, target = (load_dataset(d, synthetic_domain(d, domains={d: sizes})) for d in ("market1501", "dukemtmc"))
    reid = {**CC_CFG["reid"], "epochs": 6, "batch_size": 32, "lr": 1e-3, "weight_decay": 5e-4, "label_smoothing": 0.1,
            "random_erasing": 0.0}
    torch.manual_seed(0)
    train_reid(source, {**CC_CFG, "reid": reid}, 0, tmp_path / "source.pt", CPU)
    cfg = {**CC_CFG, "cluster_contrast": {**CC_CFG["cluster_contrast"], "epochs": 4, "iterations": 20}}
    torch.manual_seed(0)
    cc.train_cluster_contrast(target, cfg, 0, tmp_path / "model.pt", CPU, tmp_path / "source.pt")
    rows = list(csv.DictReader((tmp_path / "model.pt.log.csv").open()))
    assert len(rows) == 4 and all(int(r["clusters"]) >= 5 for r in rows)
    assert_cluster_contrast_fits_its_pseudo_labels(rows)
