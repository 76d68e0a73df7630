"""Algorithm 1 of the paper, parts I-II: pre-train Dcam, then train G against Dd, Did and Dcam.

Variants (:data:`crgan.methods.VARIANTS`) switch off the target pathway (``wo_dual``) or one loss
(``wo_id``, ``wo_cam``, ``wo_con``). Training writes a loss curve (CSV), a sample grid (PNG:
rows XS, XT, X'T, XC, XR, XG) and checkpoints every ``crgan.checkpoint_every`` iterations and on
SIGTERM; a rerun resumes from the last checkpoint and ends with the same weights.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from crgan import distributed
from crgan.data.datasets import records_of
from crgan.data.draws import Stream, pair_batches, uniform_batches
from crgan.data.images import MaskedImages, to_reid_input
from crgan.grids import fixed_batch, write_grid
from crgan.kernels import blend_context_loss
from crgan.methods import VARIANTS, loss_log, sample_grid
from crgan.models.discriminators import CameraDiscriminator, PatchDiscriminator
from crgan.models.generator import DualConditionalGenerator, build_generator, masked_target
from crgan.models.reid import ReIDNet
from crgan.records import GeneratorInfo
from crgan.runs import Run
from crgan.train.loop import DeviceReads, Logged, TrainingLoop, frozen
from crgan.train.losses import lsgan_d_loss, lsgan_g_loss, weighted_total
from crgan.train.schedule import g_updates, lr_factor


def variant_weights(weights: dict[str, float], variant: str) -> dict[str, float]:
    """The configured loss weights with the losses ``variant`` drops set to 0."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown CR-GAN variant {variant!r} (expected one of {sorted(VARIANTS)})")
    return {k: (0.0 if k in VARIANTS[variant].drops else float(v)) for k, v in weights.items()}


def masked_images(index: dict, mask_root: Path, data_cfg: dict[str, Any]) -> MaskedImages:
    """A domain's training images with their person masks, at the network input size."""
    return MaskedImages(index["root"], mask_root, records_of(index, "train"), data_cfg["height"], data_cfg["width"])


def pretrain_camera_discriminator(target: dict, mask_root: Path, cfg: dict[str, Any], seed: int,
                                  device: torch.device) -> tuple[CameraDiscriminator, float]:
    """Part I: Dcam learns the target's camera labels; returns it and its final train accuracy."""
    crgan_cfg = cfg["crgan"]
    ds = masked_images(target, mask_root, cfg["data"])
    batches = uniform_batches(ds, crgan_cfg["batch_size"], seed, Stream.CAMERA_DISCRIMINATOR, cfg["data"], device)
    dcam = CameraDiscriminator(target["num_cameras"], crgan_cfg["dcam_width"]).to(device)
    opt = torch.optim.Adam(dcam.parameters(), lr=crgan_cfg["lr"], betas=(0.5, 0.999))
    reads, correct, seen = DeviceReads(), [], 0  # read once, at the end: the steps never wait for the device
    for step in range(crgan_cfg["dcam_iterations"]):
        x, _, _, cam = batches(step)
        cam = cam.to(device, non_blocking=True)
        logits = dcam(x.to(device, non_blocking=True))
        reads.optimise(opt, F.cross_entropy(logits, cam), f"Dcam pre-training, iteration {step + 1}")
        if step >= crgan_cfg["dcam_iterations"] // 2:
            correct.append((logits.argmax(1) == cam).sum())
            seen += len(cam)
    return dcam.eval(), sum(reads.settle(values=correct)) / max(seen, 1)


def train_generator(source: dict, target: dict, masks: tuple[Path, Path], did: ReIDNet, cfg: dict[str, Any],
                    variant: str, seed: int, out: Path, device: torch.device) -> GeneratorInfo:
    """Part II of Algorithm 1; writes ``out`` (G + record), ``<out>.loss.csv`` and ``<out>.grid.png``."""
    crgan_cfg, total = cfg["crgan"], cfg["crgan"]["iterations"]
    weights = variant_weights(crgan_cfg["loss_weights"], variant)
    run = Run.crgan(source["domain"], target["domain"], variant, seed)
    loop = TrainingLoop(out, f"CR-GAN {variant} {run.source}->{run.target}",
                        {"crgan": crgan_cfg, "data": cfg["data"], "variant": variant, "pair": [run.source, run.target]},
                        cfg, seed, device, total, crgan_cfg["checkpoint_every"], section="crgan")
    if loop.resuming:  # Dcam's weights come back with the checkpoint
        dcam = CameraDiscriminator(target["num_cameras"], crgan_cfg["dcam_width"]).to(device).eval()
    else:
        dcam, loop.values["dcam_train_acc"] = pretrain_camera_discriminator(target, masks[1], cfg, seed, device)
    for p in list(did.parameters()) + list(dcam.parameters()):
        p.requires_grad_(False)
    did.eval()
    src_ds, tgt_ds = masked_images(source, masks[0], cfg["data"]), masked_images(target, masks[1], cfg["data"])
    src_batches, tgt_batches = pair_batches(src_ds, tgt_ds, crgan_cfg["batch_size"], seed,
                                            (Stream.CRGAN_SOURCE, Stream.CRGAN_TARGET), cfg["data"], device)
    g = build_generator(crgan_cfg["generator"], VARIANTS[variant].dual).to(device)
    d = PatchDiscriminator(crgan_cfg["ndf"], crgan_cfg["d_layers"], crgan_cfg["noise_std"]).to(device)
    opt_g = torch.optim.Adam(g.parameters(), lr=crgan_cfg["lr"], betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=crgan_cfg["lr"], betas=(0.5, 0.999))
    loop.track(g=g, d=d, dcam=dcam, opt_g=opt_g, opt_d=opt_d)
    world = distributed.world()

    def step(it: int) -> dict[str, Any]:
        # every rank draws the global batch (the same draws as one process), keeps its slice
        xs, ms, ys, _ = (t.to(device, non_blocking=True) for t in world.shard(*src_batches(it)))
        xt, mt, _, ct = (t.to(device, non_blocking=True) for t in world.shard(*tgt_batches(it)))
        xt_masked = masked_target(xt, mt)
        # G's first update uses the weights D's step sees: one forward serves both (D's loss reads it detached)
        xg, loss_con = blend_context_loss(*g.render(xs, xt_masked), xs, xt, ms)
        loss_d = lsgan_d_loss(d(xt), d(xg.detach()))
        loop.optimise(opt_d, loss_d, f"CR-GAN domain discriminator ({variant}), iteration {it + 1}")
        for update in range(g_updates(it, total)):
            if update:
                xg, loss_con = blend_context_loss(*g.render(xs, xt_masked), xs, xt, ms)
            with frozen(d):
                parts = {"adv": lsgan_g_loss(d(xg)), "id": F.cross_entropy(did(to_reid_input(xg)), ys),
                         "cam": F.cross_entropy(dcam(xg), ct), "con": loss_con}
                loss_g = weighted_total(parts, weights)
                loop.optimise(opt_g, loss_g, f"CR-GAN generator ({variant}), iteration {it + 1}")
        return {"iteration": it + 1, "loss_d": Logged(loss_d), "loss_g": Logged(loss_g),
                **{f"loss_{k}": Logged(v) for k, v in parts.items()},
                "lr": f"{crgan_cfg['lr'] * lr_factor(it, total):.3g}"}

    rows = loop.run(step, lr_at=lambda it: crgan_cfg["lr"] * lr_factor(it, total))
    g.eval()
    save_sample_grid(g, src_ds, tgt_ds, Path(sample_grid(out)), crgan_cfg["grid_columns"], device)
    info = GeneratorInfo(run=run, architecture=crgan_cfg["generator"], iterations=total, final=rows[-1],
                         provenance=loop.provenance, details={"dcam_train_acc": loop.values["dcam_train_acc"]})
    loop.finish(info, g.state_dict(), loss_log(out))
    return info


@torch.no_grad()
def save_sample_grid(g: DualConditionalGenerator, src_ds: MaskedImages, tgt_ds: MaskedImages, path: Path,
                     columns: int, dev: torch.device) -> None:
    """Rows XS, XT, X'T, XC, XR, XG for ``columns`` fixed (source, target) pairs."""
    xs = fixed_batch(src_ds, columns, dev)[0]
    xt, mt = fixed_batch(tgt_ds, columns, dev, reverse=True)[:2]
    xt_masked = masked_target(xt, mt)
    xg, xr, xc = g(xs, xt_masked)
    write_grid([xs, xt, xt_masked, xc.expand_as(xs) * 2 - 1, xr, xg], path)
