"""Fine-tuning a source re-id model on source persons rendered in the target's style.

CR-GAN (Algorithm 1, part III): images rendered on the fly, XG = G(XS, X'T), every batch pairing
random source images (with their identity labels) with random target instances; nothing
synthetic is stored. SPGAN: the source training set translated once by :mod:`crgan.train.spgan`.
Both start from the source re-id model and keep its identity classes (the source labels).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from crgan import runtime
from crgan.config import config_hash
from crgan.data.datasets import records_of
from crgan.data.loader import MaskedImages, to_reid_input
from crgan.models.generator import masked_target
from crgan.models.reid import ReIDNet
from crgan.train.checkpoint import (finish, load_state, load_weights, optimise, read_model_file, rng_state, save_state,
                                    set_rng_state)
from crgan.train.crgan import build_generator, random_batch

log = logging.getLogger(__name__)

#: A batch source: () -> (images in [-1, 1], identity labels), drawing from its own generators.
Batches = Callable[[], tuple[torch.Tensor, torch.Tensor]]


def load_generator(path: str | Path, dev: torch.device):
    """A trained generator and its metadata, as written by :func:`crgan.train.crgan.train_generator`."""
    blob = read_model_file(path, "CR-GAN generator", ("generator", "variant"))
    g = build_generator(blob["meta"]["generator"], blob["meta"]["variant"])
    load_weights(g, blob["g"], path, "CR-GAN generator its metadata describes")
    return g.to(dev).eval(), blob["meta"]


def finetune_reid(did: ReIDNet, did_meta: dict, batches: Batches, gens: dict[str, torch.Generator],
                  cfg: dict[str, Any], seed: int, out: Path, dev: torch.device, what: str,
                  run: dict[str, Any]) -> dict[str, Any]:
    """Identity cross-entropy on ``batches`` with a cosine lr; writes ``out`` and ``<out>.log.csv``.

    ``gens`` are the generators ``batches`` draws from (saved in checkpoints, so a resumed run
    sees the same batches); ``run`` describes the images (hashed, and added to the metadata).
    """
    fc = cfg["finetune"]
    chash = config_hash({"finetune": fc, "data": cfg["data"], "seed": seed, **run})
    prov = runtime.provenance(cfg, seed, dev)  # in every checkpoint and the final file
    ckpt_path = Path(f"{out}.ckpt")
    did.to(dev)
    opt = torch.optim.Adam(did.parameters(), lr=fc["lr"], weight_decay=fc["weight_decay"])
    total, start, rows = fc["iterations"], 0, []
    state = load_state(ckpt_path, chash)
    if state is not None:
        did.load_state_dict(state["model"]); opt.load_state_dict(state["opt"]); set_rng_state(state["rng"])
        for name, gen in gens.items():
            gen.set_state(state["gens"][name])
        start, rows = state["iteration"], state["rows"]
        log.info("resuming %s from iteration %d", out, start)
    for it in tqdm(range(start, total), desc=f"fine-tune {what}", initial=start, total=total, mininterval=5):
        for group in opt.param_groups:
            group["lr"] = fc["lr"] * 0.5 * (1 + torch.cos(torch.tensor(torch.pi * it / total)).item())
        images, ys = batches()
        did.train()
        logits = did(to_reid_input(images))
        loss = F.cross_entropy(logits, ys, label_smoothing=fc["label_smoothing"])
        optimise(opt, loss, f"fine-tuning ({what}), iteration {it + 1}")
        rows.append({"iteration": it + 1, "loss": round(loss.item(), 5),
                     "train_acc": round((logits.argmax(1) == ys).float().mean().item(), 4)})
        if (it + 1) % fc["checkpoint_every"] == 0:
            save_state(ckpt_path, {"config_hash": chash, "provenance": prov, "iteration": it + 1, "rows": rows,
                                   "model": did.state_dict(), "opt": opt.state_dict(), "rng": rng_state(),
                                   "gens": {name: gen.get_state() for name, gen in gens.items()}})
    meta = {**did_meta, **run, "finetune": fc, "final_loss": rows[-1]["loss"],
            "provenance": prov}
    finish(out, {"model": did.state_dict(), "meta": meta}, rows, f"{out}.log.csv")
    return meta


def finetune_on_rendered(did: ReIDNet, did_meta: dict, g_path: Path, source: dict, target: dict,
                         masks: tuple[Path, Path], cfg: dict[str, Any], seed: int, out: Path,
                         dev: torch.device) -> dict[str, Any]:
    """CR-GAN part III: fine-tune ``did`` on G's renderings of random (XS, X'T) pairs."""
    fc, dc = cfg["finetune"], cfg["data"]
    g, g_meta = load_generator(g_path, dev)
    src_ds = MaskedImages(source["root"], masks[0], records_of(source, "train"), dc["height"], dc["width"])
    tgt_ds = MaskedImages(target["root"], masks[1], records_of(target, "train"), dc["height"], dc["width"])
    gens = {"source": torch.Generator().manual_seed(seed + 10), "target": torch.Generator().manual_seed(seed + 11)}
    dual = g_meta["variant"] != "wo_dual"

    def batches() -> tuple[torch.Tensor, torch.Tensor]:
        xs, _, ys, _ = (t.to(dev) for t in random_batch(src_ds, fc["batch_size"], gens["source"]))
        xt, mt, _, _ = (t.to(dev) for t in random_batch(tgt_ds, fc["batch_size"], gens["target"]))
        with torch.no_grad():
            xg = g(xs, masked_target(xt, mt) if dual else None)[0]
        n_real = int(round(fc["real_fraction"] * len(xs)))
        return (torch.cat([xs[:n_real], xg[n_real:]]) if n_real else xg), ys

    run = {"method": "crgan", "domain": source["domain"], "target": target["domain"], "variant": g_meta["variant"],
           "g": g_meta["provenance"]["config_hash"], "generator_file": str(g_path)}
    return finetune_reid(did, did_meta, batches, gens, cfg, seed, out, dev, g_meta["variant"], run)


def finetune_on_translated(did: ReIDNet, did_meta: dict, translated: dict, cfg: dict[str, Any], seed: int,
                           out: Path, dev: torch.device) -> dict[str, Any]:
    """SPGAN: fine-tune ``did`` on the stored translation of the source training set (source labels)."""
    fc, dc = cfg["finetune"], cfg["data"]
    ds = MaskedImages(translated["root"], None, records_of(translated, "train"), dc["height"], dc["width"])
    gens = {"source": torch.Generator().manual_seed(seed + 10)}

    def batches() -> tuple[torch.Tensor, torch.Tensor]:
        xs, _, ys, _ = (t.to(dev) for t in random_batch(ds, fc["batch_size"], gens["source"]))
        return xs, ys

    run = {"method": "spgan", "domain": translated["domain"], "target": translated["translated_to"],
           "variant": None, "translation": translated["translated_by"]}
    return finetune_reid(did, did_meta, batches, gens, cfg, seed, out, dev, "SPGAN", run)
