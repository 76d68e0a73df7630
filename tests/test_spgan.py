"""SPGAN's parts: contrastive loss on hand-made pairs, cycle consistency on a tiny model, the image
pool, the SiaNet and the ResNet generator's shape contract."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import CPU, SPGAN_CFG, resumed_state_equals_uninterrupted
from PIL import Image

from crgan.errors import WeightsError
from crgan.models.cyclegan import ResnetGenerator
from crgan.models.sianet import SiaNet, contrastive_loss
from crgan.train import spgan as spgan_mod
from crgan.train.spgan import ImagePool, sianet_generator_loss, sianet_step_loss


def test_contrastive_loss_on_hand_made_pairs():
    f1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    f2 = torch.tensor([[1.0, 0.0], [0.0, -1.0]])  # distances 0 and 2
    assert contrastive_loss(f1, f2, positive=True).item() == pytest.approx((0 + 4) / 2)
    assert contrastive_loss(f1, f2, positive=False, margin=2.0).item() == pytest.approx((4 + 0) / 2)
    f3 = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # both at distance sqrt(2)
    neg = (2 - 2 ** 0.5) ** 2
    assert contrastive_loss(f1, f3, positive=False).item() == pytest.approx(neg)
    assert contrastive_loss(f1, f3, positive=False, margin=1.0).item() == 0.0  # beyond the margin: no push


def test_sianet_terms_pull_positives_and_push_negatives():
    torch.manual_seed(0)
    sia = SiaNet(64, 32, channels=4, blocks=2, embedding=8).eval()
    xs, xt = torch.randn(3, 3, 64, 32), torch.randn(3, 3, 64, 32)
    # perfect translations (G(x_S) = x_S, F(x_T) = x_T): positives cost nothing, only negatives remain
    same = sianet_generator_loss(sia, xs, xt, xs, xt, 2.0)
    neg = contrastive_loss(sia(xs), sia(xt), False, 2.0)
    assert same.item() == pytest.approx(0.5 * 2 * neg.item() / 4, rel=1e-5)
    step = sianet_step_loss(sia, xs, xt, xs.requires_grad_(), xt, 2.0)
    assert step.item() == pytest.approx(2 * neg.item() / 3, rel=1e-5)
    step.backward()
    assert xs.grad is not None  # x_S itself is an input; only the translations are detached


def test_sianet_embeds_on_the_unit_sphere_and_checks_size():
    out = SiaNet(64, 32, channels=4, blocks=2, embedding=8)(torch.randn(2, 3, 64, 32))
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2))
    with pytest.raises(ValueError, match="at least 64x64"):
        SiaNet(64, 32, blocks=3)


def test_resnet_generator_shape_range_and_size_check():
    g = ResnetGenerator(ngf=4, downsamples=2, res_blocks=1)
    y = g(torch.randn(2, 3, 16, 8))
    assert y.shape == (2, 3, 16, 8) and y.abs().max() <= 1
    with pytest.raises(ValueError, match="multiple of 4"):
        g(torch.randn(1, 3, 18, 8))


def test_cycle_consistency_is_learned_by_a_tiny_model():
    """G and F trained on the cycle loss alone reconstruct their inputs better and better."""
    torch.manual_seed(0)
    g, f = ResnetGenerator(4, 1, 1), ResnetGenerator(4, 1, 1)
    x = torch.rand(4, 3, 8, 8) * 2 - 1
    opt = torch.optim.Adam([*g.parameters(), *f.parameters()], lr=1e-2)
    losses = []
    for _ in range(40):
        loss = F.l1_loss(f(g(x)), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_image_pool_fills_then_swaps():
    torch.manual_seed(0)
    pool = ImagePool(3)
    first = torch.arange(3.0).view(3, 1, 1, 1)
    torch.testing.assert_close(pool.query(first), first)  # filling: returned as given
    out = pool.query(torch.full((50, 1, 1, 1), 9.0))
    swapped = (out != 9).sum().item()
    assert 0 < swapped <= 3 + 50 and len(pool.images) == 3  # some fakes replaced by older ones
    assert ImagePool(0).query(first) is first


def test_spgan_trains_translates_and_resumes(gan_inputs, tmp_path: Path, monkeypatch):
    (src, tgt), _, _ = gan_inputs
    info = spgan_mod.train_spgan(src, tgt, SPGAN_CFG, 0, tmp_path / "g.pt", CPU)
    assert info.run.method == "spgan" and info.final["loss_sia"] != ""  # the SiaNet joined at iteration 2
    curve = (tmp_path / "g.pt.loss.csv").read_text().splitlines()
    assert len(curve) == 5 and curve[1].split(",")[-2:] == ["", ""]  # no SiaNet before sia_start
    assert Image.open(tmp_path / "g.pt.grid.png").size == (3 * 16, 5 * 32)  # x_S, G(x_S), F(G(x_S)), x_T, F(x_T)
    index = spgan_mod.translate_split(tmp_path / "g.pt", src, SPGAN_CFG, tmp_path / "translated", CPU)
    assert len(index["splits"]["train"]) == len(src["splits"]["train"]) and index["translated_to"] == tgt["domain"]
    first = index["splits"]["train"][0]
    assert first["pid"] == src["splits"]["train"][0]["pid"]  # source labels kept
    assert Image.open(tmp_path / "translated" / first["path"]).size == (16, 32)
    assert index["root"] == str((tmp_path / "translated").resolve())  # not relative to the working directory
    resumed_state_equals_uninterrupted(
        lambda out: spgan_mod.train_spgan(src, tgt, SPGAN_CFG, 0, out, CPU), tmp_path, monkeypatch)


def test_translate_of_a_missing_generator_leaves_nothing(gan_inputs, tmp_path: Path):
    (src, _), _, _ = gan_inputs
    with pytest.raises(WeightsError, match="does not exist"):
        spgan_mod.translate_split(tmp_path / "none.pt", src, SPGAN_CFG, tmp_path / "translated", CPU)
    assert not (tmp_path / "translated").exists()
