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

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from crgan import distributed
from crgan.data.datasets import records_of
from crgan.data.draws import Stream, pair_batches
from crgan.data.images import MaskedImages
from crgan.grids import fixed_batch, to_uint8, write_grid
from crgan.io import atomic_dir, write_json
from crgan.methods import loss_log, sample_grid
from crgan.models.cyclegan import build_translator
from crgan.models.discriminators import PatchDiscriminator
from crgan.models.sianet import SiaNet, contrastive_loss
from crgan.models.store import load_translator
from crgan.records import GeneratorInfo
from crgan.runs import Run
from crgan.train.loop import Logged, TrainingLoop, frozen
from crgan.train.losses import lsgan_d_loss, lsgan_g_loss
from crgan.train.schedule import lr_factor


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

    def state_dict(self) -> dict[str, Any]:
        return {"images": self.images}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.images = list(state["images"])


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


def spgan_generator_losses(nets: dict[str, torch.nn.Module], xs: torch.Tensor, xt: torch.Tensor, use_sia: bool,
                           margin: float) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """The generators' loss terms (adversarial, cycle, identity and, once it joined, SiaNet) and
    the two translations G(x_S), F(x_T)."""
    g, f = nets["g"], nets["f"]
    fake_t, fake_s = g(xs), f(xt)
    parts = {"adv": lsgan_g_loss(nets["d_t"](fake_t)) + lsgan_g_loss(nets["d_s"](fake_s)),
             "cycle": F.l1_loss(f(fake_t), xs) + F.l1_loss(g(fake_s), xt),
             "identity": F.l1_loss(g(xt), xt) + F.l1_loss(f(xs), xs)}
    if use_sia:
        parts["sia"] = sianet_generator_loss(nets["sia"], xs, xt, fake_t, fake_s, margin)
    return parts, fake_t, fake_s


def build_spgan(spgan_cfg: dict[str, Any], data_cfg: dict[str, Any], device: torch.device
                ) -> tuple[dict[str, torch.nn.Module], dict[str, torch.optim.Optimizer]]:
    """SPGAN's networks (G, F, D_T, D_S, SiaNet) on ``device`` and their Adam optimisers."""
    nets = {"g": build_translator(spgan_cfg["generator"]), "f": build_translator(spgan_cfg["generator"]),
            "d_t": PatchDiscriminator(spgan_cfg["ndf"], spgan_cfg["d_layers"], 0.0),
            "d_s": PatchDiscriminator(spgan_cfg["ndf"], spgan_cfg["d_layers"], 0.0),
            "sia": SiaNet(data_cfg["height"], data_cfg["width"], **spgan_cfg["sianet"])}
    for net in nets.values():
        net.to(device)
    adam = {"lr": spgan_cfg["lr"], "betas": (0.5, 0.999)}
    opts = {"gen": torch.optim.Adam([*nets["g"].parameters(), *nets["f"].parameters()], **adam),
            "disc": torch.optim.Adam([*nets["d_t"].parameters(), *nets["d_s"].parameters()], **adam),
            "sia": torch.optim.Adam(nets["sia"].parameters(), **adam)}
    return nets, opts


def train_spgan(source: dict, target: dict, cfg: dict[str, Any], seed: int, out: Path,
                device: torch.device) -> GeneratorInfo:
    """Train SPGAN for source -> target; writes ``out`` (G: source -> target + record),
    ``<out>.loss.csv`` and ``<out>.grid.png``; resumes from ``<out>.ckpt``."""
    spgan_cfg, data_cfg, total = cfg["spgan"], cfg["data"], cfg["spgan"]["iterations"]
    weights, run = spgan_cfg["loss_weights"], Run.of_pair("spgan", source["domain"], target["domain"], seed)
    loop = TrainingLoop(out, f"SPGAN {run.source}->{run.target}",
                        {"spgan": spgan_cfg, "data": data_cfg, "pair": [run.source, run.target]}, cfg, seed, device,
                        total, spgan_cfg["checkpoint_every"], section="spgan")
    src_ds = MaskedImages(source["root"], None, records_of(source, "train"), data_cfg["height"], data_cfg["width"])
    tgt_ds = MaskedImages(target["root"], None, records_of(target, "train"), data_cfg["height"], data_cfg["width"])
    src_batches, tgt_batches = pair_batches(src_ds, tgt_ds, spgan_cfg["batch_size"], seed,
                                            (Stream.SPGAN_SOURCE, Stream.SPGAN_TARGET), data_cfg, device)
    nets, opts = build_spgan(spgan_cfg, data_cfg, device)
    pools = {"t": ImagePool(spgan_cfg["pool_size"]), "s": ImagePool(spgan_cfg["pool_size"])}
    loop.track(**nets, **{f"opt_{k}": o for k, o in opts.items()}, **{f"pool_{k}": p for k, p in pools.items()})
    d_t, d_s, sia = nets["d_t"], nets["d_s"], nets["sia"]
    world = distributed.world()

    def step(it: int) -> dict[str, Any]:
        # every rank draws the global batch (the same draws as one process), keeps its slice
        xs = world.shard(src_batches(it)[0])[0].to(device, non_blocking=True)
        xt = world.shard(tgt_batches(it)[0])[0].to(device, non_blocking=True)
        use_sia = it >= spgan_cfg["sia_start"] and weights["sia"] > 0
        with frozen(d_t, d_s, sia):
            parts, fake_t, fake_s = spgan_generator_losses(nets, xs, xt, use_sia, spgan_cfg["margin"])
            loss_g = parts["adv"] + sum(weights[k] * v for k, v in parts.items() if k != "adv")
            loop.optimise(opts["gen"], loss_g, f"SPGAN generators, iteration {it + 1}")
        # discriminators, on pooled fakes
        loss_d = (lsgan_d_loss(d_t(xt), d_t(pools["t"].query(fake_t)))
                  + lsgan_d_loss(d_s(xs), d_s(pools["s"].query(fake_s))))
        loop.optimise(opts["disc"], loss_d, f"SPGAN discriminators, iteration {it + 1}")
        row = {"iteration": it + 1, "loss_d": Logged(loss_d), "loss_g": Logged(loss_g),
               **{f"loss_{k}": Logged(parts[k]) if k in parts else ""
                  for k in ("adv", "cycle", "identity", "sia")}, "loss_sianet": ""}
        if use_sia:
            loss_sia = sianet_step_loss(sia, xs, xt, fake_t, fake_s, spgan_cfg["margin"])
            loop.optimise(opts["sia"], loss_sia, f"SPGAN SiaNet, iteration {it + 1}")
            row["loss_sianet"] = Logged(loss_sia)
        return row

    rows = loop.run(step, lr_at=lambda it: spgan_cfg["lr"] * lr_factor(it, total))
    write_translation_grid(nets, src_ds, tgt_ds, spgan_cfg["grid_columns"], Path(sample_grid(out)), device)
    info = GeneratorInfo(run=run, architecture=spgan_cfg["generator"], iterations=total, final=rows[-1],
                         provenance=loop.provenance)
    loop.finish(info, nets["g"].state_dict(), loss_log(out))
    return info


@torch.no_grad()
def write_translation_grid(nets: dict[str, torch.nn.Module], src_ds: MaskedImages, tgt_ds: MaskedImages,
                           columns: int, path: Path, device: torch.device) -> None:
    """Rows x_S, G(x_S), F(G(x_S)), x_T, F(x_T) for ``columns`` fixed source and target images."""
    g, f = nets["g"].eval(), nets["f"].eval()
    xs, xt = fixed_batch(src_ds, columns, device)[0], fixed_batch(tgt_ds, columns, device)[0]
    fake_t = g(xs)
    write_grid([xs, fake_t, f(fake_t), xt, f(xt)], path)


@torch.no_grad()
def translate_split(g_path: Path, source: dict, cfg: dict[str, Any], out: Path, dev: torch.device) -> dict:
    """Render every source training image in the target style with G; write the images under
    ``out`` at their source-relative paths (PNG) and ``out/index.json``, a dataset index of them.

    Images are stored at the network input size (data.height x data.width). The folder appears
    only when complete (written under a temporary name, then renamed).
    """
    g, info = load_translator(g_path, dev)
    data_cfg = cfg["data"]
    records = records_of(source, "train")
    ds = MaskedImages(source["root"], None, records, data_cfg["height"], data_cfg["width"], train=False)
    batch = cfg["spgan"]["batch_size"]
    with atomic_dir(out) as tmp:
        for i in tqdm(range(0, len(ds), batch), desc="SPGAN translate", mininterval=5):
            xs = torch.stack([ds[j][0] for j in range(i, min(i + batch, len(ds)))]).to(dev)
            pixels = to_uint8(g(xs)).permute(0, 2, 3, 1).cpu().numpy()
            for rec, img in zip(records[i:i + batch], pixels):
                path = (tmp / rec.path).with_suffix(".png")
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(path)
        index = {**source, "root": str(out.resolve()), "translated_by": str(g_path), "translated_to": info.run.target,
                 "splits": {"train": [{**asdict(r), "path": str(Path(r.path).with_suffix(".png"))}
                                      for r in records]}}
        write_json(tmp / "index.json", index)
    return index
