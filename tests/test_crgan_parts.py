"""CR-GAN building blocks: generator, discriminators, losses, schedule, and Algorithm 1's loop."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import CPU, GAN_CFG, resumed_state_equals_uninterrupted, save_network, weights_of

from crgan.kernels import blend
from crgan.methods import VARIANTS
from crgan.models.discriminators import CameraDiscriminator, GaussianNoise, PatchDiscriminator
from crgan.models.generator import DualConditionalGenerator, masked_target
from crgan.train import crgan as crgan_mod
from crgan.train.loop import TrainingLoop
from crgan.train.losses import lsgan_d_loss, lsgan_g_loss, weighted_total
from crgan.train.schedule import g_updates, lr_factor


@pytest.mark.parametrize("dual", [True, False])
def test_generator_shapes_and_ranges(dual):
    torch.manual_seed(0)
    g = DualConditionalGenerator(ngf=8, depth=3, res_blocks=1, dual=dual)
    xs, xt = torch.rand(2, 3, 32, 16) * 2 - 1, torch.rand(2, 3, 32, 16) * 2 - 1
    xg, xr, xc = g(xs, xt if dual else None)
    assert xg.shape == xr.shape == (2, 3, 32, 16) and xc.shape == (2, 1, 32, 16)
    assert xc.min() >= 0 and xc.max() <= 1 and xr.abs().max() <= 1
    torch.testing.assert_close(xg, blend(xr, xc, xs))
    with pytest.raises(ValueError, match="divisible"):
        g(torch.zeros(1, 3, 30, 16), torch.zeros(1, 3, 30, 16))


def test_dual_generator_uses_the_target_and_single_does_not():
    torch.manual_seed(0)
    xs, xt1, xt2 = (torch.rand(1, 3, 16, 8) for _ in range(3))
    dual, single = DualConditionalGenerator(8, 2, 1, True), DualConditionalGenerator(8, 2, 1, False)
    assert not torch.allclose(dual(xs, xt1)[0], dual(xs, xt2)[0])
    assert single.target_path is None
    with pytest.raises(ValueError, match="masked target"):
        dual(xs)


def test_blend_identity_and_masked_target():
    xr, xs = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    assert torch.equal(blend(xr, torch.zeros(2, 1, 4, 4), xs), xs)  # XC = 0 gives XS exactly
    assert torch.equal(blend(xr, torch.ones(2, 1, 4, 4), xs), xr)
    xt, mt = torch.ones(1, 3, 2, 2), torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    torch.testing.assert_close(masked_target(xt, mt), torch.tensor([[[0.0, 1.0], [1.0, 0.0]]]).expand(1, 3, 2, 2))


def test_losses_on_hand_made_tensors():  # Lcon: tests/kernels/test_blend.py
    assert lsgan_d_loss(torch.ones(2, 1, 3, 3), torch.zeros(2, 1, 3, 3)).item() == 0
    assert lsgan_d_loss(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)).item() == pytest.approx(1.0)
    assert lsgan_g_loss(torch.full((1, 1, 2, 2), 0.5)).item() == pytest.approx(0.25)
    parts = {"adv": torch.tensor(1.0), "id": torch.tensor(2.0), "cam": torch.tensor(3.0), "con": torch.tensor(4.0)}
    assert weighted_total(parts, {"adv": 2, "id": 1, "cam": 1, "con": 5}).item() == 27
    assert weighted_total(parts, crgan_mod.variant_weights({"adv": 2, "id": 1, "cam": 1, "con": 5}, "wo_con")).item() == 7


def test_schedule_halves():
    total = 10
    assert [lr_factor(i, total) for i in (0, 4, 5, 6, 9)] == [1.0, 1.0, 1.0, 0.8, 0.2]
    assert [g_updates(i, total) for i in range(total)] == [1] * 5 + [2] * 5


def test_discriminators():
    noise = GaussianNoise(0.5)
    x = torch.zeros(1, 3, 8, 8)
    assert not torch.equal(noise(x), x)
    assert torch.equal(noise.eval()(x), x)
    assert PatchDiscriminator(8, 3)(torch.zeros(2, 3, 64, 32)).shape == (2, 1, 6, 2)
    assert CameraDiscriminator(6, 8)(torch.zeros(2, 3, 64, 32)).shape == (2, 6)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_trains(gan_inputs, tmp_path: Path, variant):
    (src, tgt), masks, did = gan_inputs
    torch.manual_seed(0)
    info = crgan_mod.train_generator(src, tgt, masks, did, GAN_CFG, variant, 0, tmp_path / "g.pt", CPU)
    assert info.run.variant == variant and info.iterations == 4 and 0 <= info.details["dcam_train_acc"] <= 1
    curve = (tmp_path / "g.pt.loss.csv").read_text().splitlines()
    assert len(curve) == 5 and "loss_con" in curve[0]
    from PIL import Image
    assert Image.open(tmp_path / "g.pt.grid.png").size == (3 * 16, 6 * 32)  # rows XS, XT, X'T, XC, XR, XG
    assert not (tmp_path / "g.pt.ckpt").exists()


def test_interrupted_generator_training_resumes_to_the_same_weights(gan_inputs, tmp_path: Path, monkeypatch):
    (src, tgt), masks, did = gan_inputs
    resumed_state_equals_uninterrupted(
        lambda out: crgan_mod.train_generator(src, tgt, masks, did, GAN_CFG, "crgan", 0, out, CPU), tmp_path, monkeypatch)


def test_second_half_updates_g_twice(gan_inputs, tmp_path: Path, monkeypatch):
    (src, tgt), masks, did = gan_inputs
    calls: list[str] = []
    real = TrainingLoop.optimise
    monkeypatch.setattr(TrainingLoop, "optimise",
                        lambda self, opt, loss, where: (calls.append(where), real(self, opt, loss, where)))
    crgan_mod.train_generator(src, tgt, masks, did, GAN_CFG, "crgan", 0, tmp_path / "g.pt", CPU)
    g_steps = [w.rsplit(" ", 1)[1] for w in calls if w.startswith("CR-GAN generator")]
    d_steps = [w.rsplit(" ", 1)[1] for w in calls if w.startswith("CR-GAN domain")]
    assert d_steps == ["1", "2", "3", "4"]
    assert g_steps == ["1", "2", "3", "3", "4", "4"]  # 4 iterations: once, once, then twice, twice


def test_kill_9_mid_run_then_rerun_gives_the_same_generator(gan_inputs, tmp_path: Path):
    """A real SIGKILL of `crgan train-crgan` after its first checkpoint, then the same command again."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    from crgan.io import write_json

    (src, tgt), masks, did = gan_inputs
    for index in (src, tgt):
        write_json(tmp_path / f"{index['domain']}.json", index)
    did_path = tmp_path / "did.pt"
    save_network(did_path, did, src["domain"], {"arch": "compact", "width": 4, "last_stride": 1}, src["train_ids"])
    cfg = {**GAN_CFG, "device": "cpu", "data": {**GAN_CFG["data"], "source": "synthetic"},
           "crgan": {**GAN_CFG["crgan"], "iterations": 40, "checkpoint_every": 5}}

    def command(out: Path) -> list[str]:
        return [sys.executable, "-m", "crgan.cli", "train-crgan", "--config-json", json.dumps(cfg), "--seed", "0",
                "--variant", "crgan", "--source-index", str(tmp_path / "market1501.json"),
                "--target-index", str(tmp_path / "dukemtmc.json"), "--source-masks", str(masks[0]),
                "--target-masks", str(masks[1]), "--did", str(did_path), "--out", str(out)]

    subprocess.run(command(tmp_path / "full.pt"), check=True, capture_output=True)
    proc = subprocess.Popen(command(tmp_path / "killed.pt"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "killed.pt.ckpt"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert ckpt.exists() and not (tmp_path / "killed.pt").exists(), "the kill came too late to test resuming"
    subprocess.run(command(tmp_path / "killed.pt"), check=True, capture_output=True)
    a, b = weights_of(tmp_path / "full.pt"), weights_of(tmp_path / "killed.pt")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
