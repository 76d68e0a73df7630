"""Algorithm 1 of the paper, parts I-II: pre-train Dcam, then train G against Dd, Did and Dcam.

Variants (config ``crgan.variants``) switch off the target pathway (``wo_dual``) or one loss
(``wo_id``, ``wo_cam``, ``wo_con``). Training writes a loss curve (CSV), a sample grid (PNG:
rows XS, XT, X'T, XC, XR, XG) and checkpoints every ``checkpoint_every`` iterations and on
SIGTERM; a rerun resumes from the last checkpoint and ends with the same weights.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import default_collate
from tqdm import tqdm

from crgan import distributed, runtime
from crgan.config import config_hash
from crgan.data.datasets import records_of
from crgan.data.loader import MaskedImages, to_reid_input
from crgan.kernels import blend_context_loss
from crgan.models.discriminators import CameraDiscriminator, PatchDiscriminator
from crgan.models.generator import DualConditionalGenerator, masked_target
from crgan.models.reid import ReIDNet
from crgan.train.checkpoint import (StopOnSigterm, finish, load_state, optimise, rng_state, save_state,
                                    set_rng_state)
from crgan.train.losses import lsgan_d_loss, lsgan_g_loss, weighted_total
from crgan.train.samples import fixed_batch, write_grid
from crgan.train.schedule import g_updates, lr_factor

log = logging.getLogger(__name__)

#: Loss weights each variant switches off (the rest keep the configured lambdas).
VARIANT_DROPS = {"crgan": (), "wo_dual": (), "wo_id": ("id",), "wo_cam": ("cam",), "wo_con": ("con",)}


def variant_weights(weights: dict[str, float], variant: str) -> dict[str, float]:
    if variant not in VARIANT_DROPS:
        raise ValueError(f"unknown CR-GAN variant {variant!r} (expected one of {sorted(VARIANT_DROPS)})")
    return {k: (0.0 if k in VARIANT_DROPS[variant] else float(v)) for k, v in weights.items()}


def build_generator(gc: dict[str, Any], variant: str) -> DualConditionalGenerator:
    return DualConditionalGenerator(gc["ngf"], gc["depth"], gc["res_blocks"], dual=variant != "wo_dual")


def random_batch(ds: MaskedImages, batch_size: int, gen: torch.Generator) -> list[torch.Tensor]:
    """A batch of random items (with replacement): the paper's random (XS, XT) pairs.

    Drawing by index from a dedicated generator makes the stream resumable from that
    generator's state alone (an epoch-based loader would restart its permutation).
    """
    idx = torch.randint(len(ds), (batch_size,), generator=gen).tolist()
    return default_collate([ds[i] for i in idx])


def pretrain_camera_discriminator(target: dict, mask_root: Path, cfg: dict[str, Any], seed: int,
                                  dev: torch.device) -> tuple[CameraDiscriminator, float]:
    """Part I: Dcam learns the target's camera labels; returns it and its final train accuracy."""
    cc, dc = cfg["crgan"], cfg["data"]
    ds = MaskedImages(target["root"], mask_root, records_of(target, "train"), dc["height"], dc["width"])
    gen = torch.Generator().manual_seed(seed + 2)
    dcam = CameraDiscriminator(target["num_cameras"], cc["dcam_width"]).to(dev)
    opt = torch.optim.Adam(dcam.parameters(), lr=cc["lr"], betas=(0.5, 0.999))
    correct = seen = 0
    for step in range(cc["dcam_iterations"]):
        x, _, _, cam = random_batch(ds, cc["batch_size"], gen)
        logits = dcam(x.to(dev))
        optimise(opt, F.cross_entropy(logits, cam.to(dev)), f"Dcam pre-training, iteration {step + 1}")
        if step >= cc["dcam_iterations"] // 2:
            correct += (logits.argmax(1).cpu() == cam).sum().item()
            seen += len(cam)
    return dcam.eval(), correct / max(seen, 1)


def train_generator(source: dict, target: dict, masks: tuple[Path, Path], did: ReIDNet, cfg: dict[str, Any],
                    variant: str, seed: int, out: Path, dev: torch.device) -> dict[str, Any]:
    """Part II of Algorithm 1; writes ``out`` (G + metadata), ``<out>.loss.csv`` and ``<out>.grid.png``."""
    cc, dc = cfg["crgan"], cfg["data"]
    weights = variant_weights(cc["loss_weights"], variant)
    chash = config_hash({"crgan": cc, "data": dc, "seed": seed, "variant": variant,
                         "pair": [source["domain"], target["domain"]]})
    prov = runtime.provenance(cfg, seed, dev)  # in every checkpoint and the final file
    ckpt_path = Path(f"{out}.ckpt")
    state = load_state(ckpt_path, chash)
    if state is None:
        dcam, dcam_acc = pretrain_camera_discriminator(target, masks[1], cfg, seed, dev)
    else:
        dcam, dcam_acc = CameraDiscriminator(target["num_cameras"], cc["dcam_width"]).to(dev), state["dcam_acc"]
        dcam.load_state_dict(state["dcam"])
        dcam.eval()
    for p in list(did.parameters()) + list(dcam.parameters()):
        p.requires_grad_(False)
    did.eval()
    src_ds = MaskedImages(source["root"], masks[0], records_of(source, "train"), dc["height"], dc["width"])
    tgt_ds = MaskedImages(target["root"], masks[1], records_of(target, "train"), dc["height"], dc["width"])
    src_gen, tgt_gen = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1)
    g = build_generator(cc["generator"], variant).to(dev)
    d = PatchDiscriminator(cc["ndf"], cc["d_layers"], cc["noise_std"]).to(dev)
    opt_g = torch.optim.Adam(g.parameters(), lr=cc["lr"], betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=cc["lr"], betas=(0.5, 0.999))
    total, start, rows = cc["iterations"], 0, []
    if state is not None:
        g.load_state_dict(state["g"]); d.load_state_dict(state["d"])
        opt_g.load_state_dict(state["opt_g"]); opt_d.load_state_dict(state["opt_d"])
        set_rng_state(state["rng"])
        src_gen.set_state(state["src_rng"]); tgt_gen.set_state(state["tgt_rng"])
        start, rows = state["iteration"], state["rows"]
        log.info("resuming %s from iteration %d", out, start)

    def checkpoint(iteration: int) -> None:
        save_state(ckpt_path, {"config_hash": chash, "provenance": prov, "iteration": iteration, "rows": rows,
                               "g": g.state_dict(), "d": d.state_dict(), "dcam": dcam.state_dict(), "dcam_acc": dcam_acc,
                               "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "rng": rng_state(),
                               "src_rng": src_gen.get_state(), "tgt_rng": tgt_gen.get_state()})

    world = distributed.world()
    world.broadcast(g, d)
    stop = StopOnSigterm()
    try:
        for it in tqdm(range(start, total), desc=f"CR-GAN {variant} {source['domain']}->{target['domain']}",
                       initial=start, total=total, mininterval=5, disable=not world.main):
            for opt in (opt_g, opt_d):
                for group in opt.param_groups:
                    group["lr"] = cc["lr"] * lr_factor(it, total)
            # every rank draws the global batch (the same draws as one process), keeps its slice
            xs, ms, ys, _ = (t.to(dev) for t in world.shard(*random_batch(src_ds, cc["batch_size"], src_gen)))
            xt, mt, _, ct = (t.to(dev) for t in world.shard(*random_batch(tgt_ds, cc["batch_size"], tgt_gen)))
            xt_masked = masked_target(xt, mt)
            with torch.no_grad():
                xg = g(xs, xt_masked)[0]
            loss_d = lsgan_d_loss(d(xt), d(xg))
            optimise(opt_d, loss_d, f"CR-GAN domain discriminator ({variant}), iteration {it + 1}")
            for _ in range(g_updates(it, total)):
                xg, loss_con = blend_context_loss(*g.render(xs, xt_masked), xs, xt, ms)
                parts = {"adv": lsgan_g_loss(d(xg)), "id": F.cross_entropy(did(to_reid_input(xg)), ys),
                         "cam": F.cross_entropy(dcam(xg), ct), "con": loss_con}
                loss_g = weighted_total(parts, weights)
                optimise(opt_g, loss_g, f"CR-GAN generator ({variant}), iteration {it + 1}")
            rows.append({"iteration": it + 1, "loss_d": round(loss_d.item(), 5), "loss_g": round(loss_g.item(), 5),
                         **{f"loss_{k}": round(v.item(), 5) for k, v in parts.items()},
                         "lr": f"{cc['lr'] * lr_factor(it, total):.3g}"})
            if (it + 1) % cc["checkpoint_every"] == 0 or stop.requested:
                checkpoint(it + 1)
            if stop.requested:
                raise SystemExit(f"SIGTERM: checkpoint written at iteration {it + 1}; rerun to resume")
    finally:
        stop.restore()
    g.eval()
    save_sample_grid(g, src_ds, tgt_ds, Path(f"{out}.grid.png"), cc["grid_columns"], dev)
    meta = {"variant": variant, "source": source["domain"], "target": target["domain"], "seed": seed,
            "iterations": total, "dcam_train_acc": dcam_acc, "generator": cc["generator"],
            "final": rows[-1], "provenance": prov}
    finish(out, {"g": g.state_dict(), "meta": meta}, rows, f"{out}.loss.csv")
    return meta


@torch.no_grad()
def save_sample_grid(g: DualConditionalGenerator, src_ds: MaskedImages, tgt_ds: MaskedImages, path: Path,
                     columns: int, dev: torch.device) -> None:
    """Rows XS, XT, X'T, XC, XR, XG for ``columns`` fixed (source, target) pairs."""
    xs = fixed_batch(src_ds, columns, dev)[0]
    xt, mt = fixed_batch(tgt_ds, columns, dev, reverse=True)[:2]
    xt_masked = masked_target(xt, mt)
    xg, xr, xc = g(xs, xt_masked)
    write_grid([xs, xt, xt_masked, xc.expand_as(xs) * 2 - 1, xr, xg], path)
