"""Supervised re-id training with identity cross-entropy (source pre-training, Did, upper bound)."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from crgan import distributed, runtime
from crgan.config import config_hash
from crgan.data.datasets import records_of
from crgan.data.loader import ReidImages, make_loader
from crgan.models.reid import build_backbone, build_reid
from crgan.models.taudl import TaudlNet
from crgan.train.checkpoint import (finish, load_state, load_weights, optimise, read_model_file, rng_state, save_state,
                                    set_rng_state)

log = logging.getLogger(__name__)


def train_reid(index: dict, cfg: dict[str, Any], seed: int, out: Path, dev: torch.device) -> dict[str, Any]:
    """Train on ``index``'s train split; write ``out`` (model + metadata) and ``<out>.log.csv``.

    A per-epoch checkpoint ``<out>.ckpt`` lets an interrupted run resume where it stopped.
    """
    rc, dc = cfg["reid"], cfg["data"]
    ds = ReidImages(index["root"], records_of(index, "train"), dc["height"], dc["width"], train=True, relabel=True)
    loader = make_loader(ds, rc["batch_size"], train=True, workers=dc["workers"], seed=seed)
    model, init = build_reid(rc, ds.num_classes)
    model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=rc["lr"], weight_decay=rc["weight_decay"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=rc["epochs"] * len(loader))
    criterion = nn.CrossEntropyLoss(label_smoothing=rc["label_smoothing"])
    chash = config_hash({"reid": rc, "data": dc, "seed": seed, "domain": index["domain"]})
    prov = runtime.provenance(cfg, seed, dev)  # in every checkpoint and the final file
    ckpt_path, log_path = Path(f"{out}.ckpt"), Path(f"{out}.log.csv")
    rows: list[dict[str, Any]] = []
    start = 0
    state = load_state(ckpt_path, chash)
    if state is not None:
        model.load_state_dict(state["model"]); opt.load_state_dict(state["opt"]); sched.load_state_dict(state["sched"])
        set_rng_state(state["rng"]); loader.generator.set_state(state["loader_rng"])
        start, rows = state["epoch"], state["rows"]
        log.info("resuming %s from epoch %d", out, start)
    world = distributed.world()
    world.broadcast(model)
    for epoch in range(start, rc["epochs"]):
        model.train()
        t0, loss_sum, correct, seen = time.time(), 0.0, 0, 0
        bar = tqdm(loader, desc=f"{index['domain']} epoch {epoch + 1}/{rc['epochs']}", mininterval=5, leave=False,
                   disable=not world.main)
        for images, labels, _ in bar:  # every rank loads the global batch (same draws), keeps its slice
            images, labels = (t.to(dev) for t in world.shard(images, labels))
            logits = model(images)
            loss = criterion(logits, labels)
            optimise(opt, loss, f"re-id training of {index['domain']}, epoch {epoch + 1}")
            sched.step()
            loss_sum += loss.item() * len(labels)
            correct += (logits.argmax(1) == labels).sum().item()
            seen += len(labels)
        rows.append({"epoch": epoch + 1, "loss": round(loss_sum / seen, 5), "train_acc": round(correct / seen, 5),
                     "lr": f"{sched.get_last_lr()[0]:.3g}", "seconds": round(time.time() - t0, 2)})
        log.info("epoch %d/%d loss %.4f acc %.3f (%.1fs)", epoch + 1, rc["epochs"], rows[-1]["loss"],
                 rows[-1]["train_acc"], rows[-1]["seconds"])
        save_state(ckpt_path, {"config_hash": chash, "provenance": prov, "epoch": epoch + 1, "rows": rows,
                               "model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "rng": rng_state(),
                               "loader_rng": loader.generator.get_state()})
    meta = {"method": "reid", "domain": index["domain"], "num_classes": ds.num_classes, "init": init, "reid": rc,
            "data": {"height": dc["height"], "width": dc["width"], "synthetic": index["synthetic"]},
            "final_loss": rows[-1]["loss"], "final_train_acc": rows[-1]["train_acc"],
            "provenance": prov}
    finish(out, {"model": model.state_dict(), "meta": meta}, rows, log_path)
    return meta


def load_reid(path: str | Path, dev: torch.device):
    """A trained re-id network and its metadata, as written by :func:`train_reid`, the fine-tuning
    of :mod:`crgan.train.finetune` or :func:`crgan.train.taudl.train_taudl`."""
    blob = read_model_file(path, "re-id model", ("reid", "domain"))
    meta = blob["meta"]
    if meta.get("method") == "taudl":
        model = TaudlNet(build_backbone(meta["reid"], init_weights=False)[0], meta["tracklets_per_camera"])
    else:
        model, _ = build_reid(meta["reid"], meta["num_classes"], init_weights=False)
    load_weights(model, blob["model"], path, "re-id network its metadata describes")
    return model.to(dev).eval(), meta
