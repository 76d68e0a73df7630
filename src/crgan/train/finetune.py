"""Algorithm 1, part III: fine-tune Did on images rendered on the fly, XG = G(XS, X'T).

Every batch pairs random source images (with their identity labels) with random target
instances; nothing synthetic is stored. Starts from the source re-id model.
"""
from __future__ import annotations

import logging
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
from crgan.train.checkpoint import finish, load_state, optimise, rng_state, save_state, set_rng_state
from crgan.train.crgan import build_generator, random_batch

log = logging.getLogger(__name__)


def load_generator(path: str | Path, dev: torch.device):
    """A trained generator and its metadata, as written by :func:`crgan.train.crgan.train_generator`."""
    blob = torch.load(path, map_location="cpu", weights_only=False)
    g = build_generator(blob["meta"]["generator"], blob["meta"]["variant"])
    g.load_state_dict(blob["g"])
    return g.to(dev).eval(), blob["meta"]


def finetune_on_rendered(did: ReIDNet, did_meta: dict, g_path: Path, source: dict, target: dict,
                         masks: tuple[Path, Path], cfg: dict[str, Any], seed: int, out: Path,
                         dev: torch.device) -> dict[str, Any]:
    """Fine-tune ``did`` on G's renderings; writes ``out`` (re-id model) and ``<out>.log.csv``."""
    fc, dc = cfg["finetune"], cfg["data"]
    g, g_meta = load_generator(g_path, dev)
    chash = config_hash({"finetune": fc, "data": dc, "seed": seed, "g": g_meta["provenance"]["config_hash"],
                         "variant": g_meta["variant"]})
    ckpt_path = Path(f"{out}.ckpt")
    src_ds = MaskedImages(source["root"], masks[0], records_of(source, "train"), dc["height"], dc["width"])
    tgt_ds = MaskedImages(target["root"], masks[1], records_of(target, "train"), dc["height"], dc["width"])
    src_gen, tgt_gen = torch.Generator().manual_seed(seed + 10), torch.Generator().manual_seed(seed + 11)
    did.to(dev)
    opt = torch.optim.Adam(did.parameters(), lr=fc["lr"], weight_decay=fc["weight_decay"])
    total, start, rows = fc["iterations"], 0, []
    state = load_state(ckpt_path, chash)
    if state is not None:
        did.load_state_dict(state["model"]); opt.load_state_dict(state["opt"]); set_rng_state(state["rng"])
        src_gen.set_state(state["src_rng"]); tgt_gen.set_state(state["tgt_rng"])
        start, rows = state["iteration"], state["rows"]
        log.info("resuming %s from iteration %d", out, start)
    dual = g_meta["variant"] != "wo_dual"
    for it in tqdm(range(start, total), desc=f"fine-tune {g_meta['variant']}", initial=start, total=total,
                   mininterval=5):
        for group in opt.param_groups:
            group["lr"] = fc["lr"] * 0.5 * (1 + torch.cos(torch.tensor(torch.pi * it / total)).item())
        xs, _, ys, _ = (t.to(dev) for t in random_batch(src_ds, fc["batch_size"], src_gen))
        xt, mt, _, _ = (t.to(dev) for t in random_batch(tgt_ds, fc["batch_size"], tgt_gen))
        with torch.no_grad():
            xg = g(xs, masked_target(xt, mt) if dual else None)[0]
        n_real = int(round(fc["real_fraction"] * len(xs)))
        images = torch.cat([xs[:n_real], xg[n_real:]]) if n_real else xg
        did.train()
        logits = did(to_reid_input(images))
        loss = F.cross_entropy(logits, ys, label_smoothing=fc["label_smoothing"])
        optimise(opt, loss, f"fine-tuning ({g_meta['variant']}), iteration {it + 1}")
        rows.append({"iteration": it + 1, "loss": round(loss.item(), 5),
                     "train_acc": round((logits.argmax(1) == ys).float().mean().item(), 4)})
        if (it + 1) % fc["checkpoint_every"] == 0:
            save_state(ckpt_path, {"config_hash": chash, "iteration": it + 1, "rows": rows,
                                   "model": did.state_dict(), "opt": opt.state_dict(), "rng": rng_state(),
                                   "src_rng": src_gen.get_state(), "tgt_rng": tgt_gen.get_state()})
    meta = {**did_meta, "domain": source["domain"], "variant": g_meta["variant"], "target": target["domain"],
            "finetune": fc, "generator_file": str(g_path), "final_loss": rows[-1]["loss"],
            "provenance": runtime.provenance(cfg, seed, dev)}
    finish(out, {"model": did.state_dict(), "meta": meta}, rows, f"{out}.log.csv")
    return meta
