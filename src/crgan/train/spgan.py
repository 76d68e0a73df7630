"""SPGAN (Deng et al., CVPR 2018): CycleGAN plus a SiaNet that keeps identities through translation.

G: source -> target and F: target -> source (ResNet generators), PatchGAN discriminators D_T and
D_S with the LSGAN loss, cycle (L1, x10) and identity (L1, x5) losses, and the SiaNet's contrastive
loss (x2) on positives (x_S, G(x_S)), (x_T, F(x_T)) and negatives (G(x_S), x_T), (F(x_T), x_S).
Discriminators see fakes through a 50-image history pool. The SiaNet joins after ``sia_start``
iterations (the authors' PyTorch ports: after the first epoch). Training writes a loss curve, a
sample grid (rows x_S, G(x_S), F(G(x_S)), x_T, F(x_T)) and resumable checkpoints, as CR-GAN does.

After training, :func:`translate_split` renders the source training set in the target style once
and stores it with an index; re-id is then fine-tuned on those images with the source labels.
"""
from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from crgan import distributed, runtime
from crgan.config import config_hash
from crgan.data.datasets import records_of
from crgan.data.loader import MaskedImages
from crgan.io import atomic_dir, write_json
from crgan.models.cyclegan import ResnetGenerator
from crgan.models.discriminators import PatchDiscriminator
from crgan.models.sianet import SiaNet, contrastive_loss
from crgan.train.checkpoint import (StopOnSigterm, finish, load_state, load_weights, optimise, read_model_file, rng_state,
                                    save_state, set_rng_state)
from crgan.train.crgan import random_batch
from crgan.train.losses import lsgan_d_loss, lsgan_g_loss
from crgan.train.samples import fixed_batch, to_uint8, write_grid
from crgan.train.schedule import lr_factor

log = logging.getLogger(__name__)


class ImagePool:
    """CycleGAN's history of generated images: each fake is returned as is or, half the time once
    the pool is full, swapped for an older one, so D does not forget earlier generator modes.
    In a torchrun group the pool sees the global batch (the same on every rank, as in one process)
    and each rank gets its slice back."""

    def __init__(self, size: int):
        self.size, self.images = size, []

    def query(self, batch: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return batch
        world = distributed.world()
        out = []
        for img in world.gather(batch.detach()):
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif torch.rand(()) < 0.5:
                i = int(torch.randint(self.size, ()))
                out.append(self.images[i].clone())
                self.images[i] = img.clone()
            else:
                out.append(img)
        return world.shard(torch.stack(out))[0]


def build_translator(gc: dict[str, Any]) -> ResnetGenerator:
    return ResnetGenerator(gc["ngf"], gc["downsamples"], gc["res_blocks"])


def sianet_step_loss(sia: SiaNet, xs: torch.Tensor, xt: torch.Tensor, fake_t: torch.Tensor, fake_s: torch.Tensor,
                     margin: float) -> torch.Tensor:
    """The SiaNet's own loss (translations detached): [pos_S + pos_T + 2 neg(x_S, x_T)] / 3."""
    fs, ft = sia(xs), sia(xt)
    pos = contrastive_loss(fs, sia(fake_t.detach()), True) + contrastive_loss(ft, sia(fake_s.detach()), True)
    return (pos + 2 * contrastive_loss(fs, ft, False, margin)) / 3


def sianet_generator_loss(sia: SiaNet, xs: torch.Tensor, xt: torch.Tensor, fake_t: torch.Tensor,
                          fake_s: torch.Tensor, margin: float) -> torch.Tensor:
    """The SiaNet term of the generators' loss: [pos_S + pos_T + 0.5 (neg(G(x_S), x_T) + neg(F(x_T), x_S))] / 4."""
    fs, ft, f_fake_t, f_fake_s = sia(xs), sia(xt), sia(fake_t), sia(fake_s)
    pos = contrastive_loss(fs, f_fake_t, True) + contrastive_loss(ft, f_fake_s, True)
    neg = contrastive_loss(f_fake_t, ft, False, margin) + contrastive_loss(f_fake_s, fs, False, margin)
    return (pos + 0.5 * neg) / 4


def train_spgan(source: dict, target: dict, cfg: dict[str, Any], seed: int, out: Path,
                dev: torch.device) -> dict[str, Any]:
    """Train SPGAN for source -> target; writes ``out`` (G: source -> target + metadata),
    ``<out>.loss.csv`` and ``<out>.grid.png``; resumes from ``<out>.ckpt``."""
    sc, dc = cfg["spgan"], cfg["data"]
    w = sc["loss_weights"]
    chash = config_hash({"spgan": sc, "data": dc, "seed": seed, "pair": [source["domain"], target["domain"]]})
    prov = runtime.provenance(cfg, seed, dev)  # in every checkpoint and the final file
    ckpt_path = Path(f"{out}.ckpt")
    src_ds = MaskedImages(source["root"], None, records_of(source, "train"), dc["height"], dc["width"])
    tgt_ds = MaskedImages(target["root"], None, records_of(target, "train"), dc["height"], dc["width"])
    src_gen, tgt_gen = torch.Generator().manual_seed(seed + 20), torch.Generator().manual_seed(seed + 21)
    nets = {"g": build_translator(sc["generator"]), "f": build_translator(sc["generator"]),
            "d_t": PatchDiscriminator(sc["ndf"], sc["d_layers"], 0.0), "d_s": PatchDiscriminator(sc["ndf"], sc["d_layers"], 0.0),
            "sia": SiaNet(dc["height"], dc["width"], **sc["sianet"])}
    for net in nets.values():
        net.to(dev)
    adam = dict(lr=sc["lr"], betas=(0.5, 0.999))
    opts = {"gen": torch.optim.Adam([*nets["g"].parameters(), *nets["f"].parameters()], **adam),
            "disc": torch.optim.Adam([*nets["d_t"].parameters(), *nets["d_s"].parameters()], **adam),
            "sia": torch.optim.Adam(nets["sia"].parameters(), **adam)}
    pools = {"t": ImagePool(sc["pool_size"]), "s": ImagePool(sc["pool_size"])}
    total, start, rows = sc["iterations"], 0, []
    state = load_state(ckpt_path, chash)
    if state is not None:
        for k, net in nets.items():
            net.load_state_dict(state["nets"][k])
        for k, opt in opts.items():
            opt.load_state_dict(state["opts"][k])
        for k, pool in pools.items():
            pool.images = state["pools"][k]
        set_rng_state(state["rng"]); src_gen.set_state(state["src_rng"]); tgt_gen.set_state(state["tgt_rng"])
        start, rows = state["iteration"], state["rows"]
        log.info("resuming %s from iteration %d", out, start)
    g, f, d_t, d_s, sia = (nets[k] for k in ("g", "f", "d_t", "d_s", "sia"))
    world = distributed.world()
    world.broadcast(*nets.values())
    stop = StopOnSigterm()
    try:
        for it in tqdm(range(start, total), desc=f"SPGAN {source['domain']}->{target['domain']}", initial=start,
                       total=total, mininterval=5, disable=not world.main):
            for opt in opts.values():
                for group in opt.param_groups:
                    group["lr"] = sc["lr"] * lr_factor(it, total)
            # every rank draws the global batch (the same draws as one process), keeps its slice
            xs = world.shard(random_batch(src_ds, sc["batch_size"], src_gen)[0])[0].to(dev)
            xt = world.shard(random_batch(tgt_ds, sc["batch_size"], tgt_gen)[0])[0].to(dev)
            use_sia = it >= sc["sia_start"] and w["sia"] > 0
            # generators
            fake_t, fake_s = g(xs), f(xt)
            parts = {"adv": lsgan_g_loss(d_t(fake_t)) + lsgan_g_loss(d_s(fake_s)),
                     "cycle": F.l1_loss(f(fake_t), xs) + F.l1_loss(g(fake_s), xt),
                     "identity": F.l1_loss(g(xt), xt) + F.l1_loss(f(xs), xs)}
            if use_sia:
                parts["sia"] = sianet_generator_loss(sia, xs, xt, fake_t, fake_s, sc["margin"])
            loss_g = parts["adv"] + sum(w[k] * v for k, v in parts.items() if k != "adv")
            for net in (d_t, d_s, sia):
                net.requires_grad_(False)
            optimise(opts["gen"], loss_g, f"SPGAN generators, iteration {it + 1}")
            for net in (d_t, d_s, sia):
                net.requires_grad_(True)
            # discriminators, on pooled fakes
            loss_d = (lsgan_d_loss(d_t(xt), d_t(pools["t"].query(fake_t)))
                      + lsgan_d_loss(d_s(xs), d_s(pools["s"].query(fake_s))))
            optimise(opts["disc"], loss_d, f"SPGAN discriminators, iteration {it + 1}")
            row = {"iteration": it + 1, "loss_d": round(loss_d.item(), 5), "loss_g": round(loss_g.item(), 5),
                   **{f"loss_{k}": round(parts[k].item(), 5) if k in parts else ""
                      for k in ("adv", "cycle", "identity", "sia")}}
            if use_sia:
                loss_sia = sianet_step_loss(sia, xs, xt, fake_t, fake_s, sc["margin"])
                optimise(opts["sia"], loss_sia, f"SPGAN SiaNet, iteration {it + 1}")
                row["loss_sianet"] = round(loss_sia.item(), 5)
            else:
                row["loss_sianet"] = ""
            rows.append(row)
            if (it + 1) % sc["checkpoint_every"] == 0 or stop.requested:
                save_state(ckpt_path, {"config_hash": chash, "provenance": prov, "iteration": it + 1, "rows": rows,
                                       "nets": {k: n.state_dict() for k, n in nets.items()},
                                       "opts": {k: o.state_dict() for k, o in opts.items()},
                                       "pools": {k: p.images for k, p in pools.items()}, "rng": rng_state(),
                                       "src_rng": src_gen.get_state(), "tgt_rng": tgt_gen.get_state()})
            if stop.requested:
                raise SystemExit(f"SIGTERM: checkpoint written at iteration {it + 1}; rerun to resume")
    finally:
        stop.restore()
    g.eval(); f.eval()
    with torch.no_grad():
        xs, xt = fixed_batch(src_ds, sc["grid_columns"], dev)[0], fixed_batch(tgt_ds, sc["grid_columns"], dev)[0]
        fake_t = g(xs)
        write_grid([xs, fake_t, f(fake_t), xt, f(xt)], Path(f"{out}.grid.png"))
    meta = {"method": "spgan", "source": source["domain"], "target": target["domain"], "seed": seed,
            "iterations": total, "generator": sc["generator"], "final": rows[-1],
            "provenance": prov}
    finish(out, {"g": g.state_dict(), "meta": meta}, rows, f"{out}.loss.csv")
    return meta


def load_translator(path: str | Path, dev: torch.device) -> tuple[ResnetGenerator, dict[str, Any]]:
    """SPGAN's source -> target generator G and its metadata, as written by :func:`train_spgan`."""
    blob = read_model_file(path, "SPGAN generator", ("generator",), method="spgan")
    g = build_translator(blob["meta"]["generator"])
    load_weights(g, blob["g"], path, "SPGAN generator its metadata describes")
    return g.to(dev).eval(), blob["meta"]


@torch.no_grad()
def translate_split(g_path: Path, source: dict, cfg: dict[str, Any], out: Path, dev: torch.device) -> dict:
    """Render every source training image in the target style with G; write the images under
    ``out`` at their source-relative paths (PNG) and ``out/index.json``, a dataset index of them.

    Images are stored at the network input size (data.height x data.width). The folder appears
    only when complete (written under a temporary name, then renamed).
    """
    g, meta = load_translator(g_path, dev)
    dc = cfg["data"]
    records = records_of(source, "train")
    ds = MaskedImages(source["root"], None, records, dc["height"], dc["width"], train=False)
    batch = cfg["spgan"]["batch_size"]
    with atomic_dir(out) as tmp:
        for i in tqdm(range(0, len(ds), batch), desc="SPGAN translate", mininterval=5):
            xs = torch.stack([ds[j][0] for j in range(i, min(i + batch, len(ds)))]).to(dev)
            pixels = to_uint8(g(xs)).permute(0, 2, 3, 1).cpu().numpy()
            for rec, img in zip(records[i:i + batch], pixels):
                path = (tmp / rec.path).with_suffix(".png")
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(path)
        index = {**source, "root": str(out), "translated_by": str(g_path), "translated_to": meta["target"],
                 "splits": {"train": [{**asdict(r), "path": str(Path(r.path).with_suffix(".png"))}
                                      for r in records]}}
        write_json(tmp / "index.json", index)
    return index
