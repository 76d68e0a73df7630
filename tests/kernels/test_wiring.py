"""The generator, CR-GAN's training step and evaluation call the kernels, not copies of their math;
eager calls reach the launchers without the custom ops' dispatch."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from conftest import GAN_CFG
from kernel_checks import DEVICE, LaunchRecorder, RecordOps

from crgan.data.datasets import load_dataset
from crgan.eval import ranking
from crgan.eval.reid import evaluate_model
from crgan.models.generator import DualConditionalGenerator
from crgan.models.reid import build_reid
from crgan.train import crgan as crgan_mod


def test_generator_uses_blend_and_residual_fusion(triton_kernels):
    torch.manual_seed(0)
    g = DualConditionalGenerator(ngf=4, depth=2, res_blocks=2).to(DEVICE)
    xs, xt = torch.rand(2, 3, 8, 4, device=DEVICE), torch.rand(2, 3, 8, 4, device=DEVICE)
    with RecordOps() as ops, LaunchRecorder() as launches:
        g(xs, xt)[0].sum().backward()
    assert {"blend_forward", "blend_backward", "forward", "backward"} <= set(launches.calls)
    assert not any(name.startswith("crgan::") for name in ops.names)  # no custom-op dispatch in eager mode


def test_generator_same_output_either_way(monkeypatch, triton_kernels):
    torch.manual_seed(0)
    g = DualConditionalGenerator(ngf=4, depth=2, res_blocks=2).to(DEVICE)
    xs, xt = torch.rand(2, 3, 8, 4, device=DEVICE), torch.rand(2, 3, 8, 4, device=DEVICE)
    got = g(xs, xt)
    monkeypatch.setenv("CRGAN_KERNELS", "torch")
    for a, b in zip(got, g(xs, xt)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_training_step_uses_the_fused_context_loss(gan_inputs, tmp_path: Path, triton_kernels):
    (src, tgt), masks, did = gan_inputs
    cfg = {**GAN_CFG, "crgan": {**GAN_CFG["crgan"], "iterations": 1, "dcam_iterations": 1}}
    with LaunchRecorder() as launches:
        crgan_mod.train_generator(src, tgt, masks, did.to(DEVICE), cfg, "crgan", 0, tmp_path / "g.pt",
                                  torch.device(DEVICE))
    assert {"blend_context_loss_forward", "blend_context_loss_backward"} <= set(launches.calls)
    assert all(tuple(call["needs"]) == (True, True, False, False, False)  # XS, XT and MF are data
               for call in launches.calls["blend_context_loss_backward"])


def test_evaluation_uses_pairwise_distance(synthetic_domain, triton_kernels):
    index = load_dataset("dukemtmc", synthetic_domain("dukemtmc"))
    model, _ = build_reid({"arch": "compact", "width": 4, "last_stride": 1}, index["train_ids"])
    cfg = {"eval": {"batch_size": 8, "lmp_parts": 2, "metric": "euclidean", "max_rank": 5, "ranked_queries": 2,
                    "ranked_top": 5, "ranked_seed": 0},
           "data": {"height": 32, "width": 16, "workers": 0}}
    with RecordOps() as ops:
        out = evaluate_model(model.to(DEVICE), index, cfg, torch.device(DEVICE))
    assert "crgan::pairwise_distance" in ops.names and 0 <= out["lmp"]["rank1"] <= 100


def test_evaluate_rank_keeps_cuda_distances_on_the_device(monkeypatch):
    """A CUDA distance matrix goes to crgan.kernels.rank_metrics, never through numpy."""
    calls = []
    monkeypatch.setattr(ranking, "rank_metrics", lambda *a, **k: calls.append(a) or (np.ones(1), 1.0))

    class FakeCuda(torch.Tensor):
        is_cuda = True

    dist = torch.zeros(1, 2).as_subclass(FakeCuda)
    assert ranking.evaluate_rank(dist, [1], [1, 2], [0], [1], max_rank=1) == (np.ones(1), 1.0)
    assert calls and calls[0][0] is dist
