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
from crgan.data.datasets import records_of
from crgan.data.draws import epoch_of, make_loader
from crgan.data.images import ReidImages
from crgan.methods import training_log
from crgan.models.reid import build_reid
from crgan.records import NetworkInfo
from crgan.runs import Run
from crgan.train.loop import TrainingLoop

log = logging.getLogger(__name__)


def train_reid(index: dict, cfg: dict[str, Any], seed: int, out: Path, device: torch.device) -> NetworkInfo:
    """Train on ``index``'s train split; write ``out`` (model + record) and ``<out>.log.csv``.

    A per-epoch checkpoint ``<out>.ckpt`` lets an interrupted run resume where it stopped.
    """
    reid_cfg, data_cfg, domain = cfg["reid"], cfg["data"], index["domain"]
    ds = ReidImages(index["root"], records_of(index, "train"), data_cfg["height"], data_cfg["width"], train=True,
                    relabel=True, erasing=reid_cfg["random_erasing"])
    loader = make_loader(ds, reid_cfg["batch_size"], train=True, workers=data_cfg["workers"], seed=seed,
                         pin=device.type == "cuda")
    model, init = build_reid(reid_cfg, ds.num_classes)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=reid_cfg["lr"], weight_decay=reid_cfg["weight_decay"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=reid_cfg["epochs"] * len(loader))
    criterion = nn.CrossEntropyLoss(label_smoothing=reid_cfg["label_smoothing"])
    loop = TrainingLoop(out, f"re-id on {domain}", {"reid": reid_cfg, "data": data_cfg, "domain": domain}, cfg, seed,
                        device, total=reid_cfg["epochs"], unit="epoch", section="reid")
    runtime.conv_layout(model, cfg)  # re-id networks: channels-last pays
    loop.track(model=model, opt=opt, sched=sched, loader=loader.generator)
    world = distributed.world()

    def epoch(e: int) -> dict[str, Any]:
        model.train()
        start, losses, corrects, sizes = time.time(), [], [], []
        for images, labels, _ in tqdm(epoch_of(loader, e), desc=f"{domain} epoch {e + 1}/{reid_cfg['epochs']}", mininterval=5,
                                      leave=False, disable=not world.main):
            # every rank loads the global batch (same draws), keeps its slice
            images, labels = (t.to(device, non_blocking=True) for t in world.shard(images, labels))
            logits = model(images)
            loss = criterion(logits, labels)
            loop.optimise(opt, loss, f"re-id training of {domain}, epoch {e + 1}")
            sched.step()
            losses.append(loss.detach())
            corrects.append((logits.argmax(1) == labels).sum())
            sizes.append(len(labels))
        numbers = loop.settle(losses + corrects)  # raises first if a loss was not finite
        loss_sum = sum(value * n for value, n in zip(numbers[:len(losses)], sizes))
        correct, seen = sum(numbers[len(losses):]), sum(sizes)
        row = {"epoch": e + 1, "loss": round(loss_sum / seen, 5), "train_acc": round(correct / seen, 5),
               "lr": f"{sched.get_last_lr()[0]:.3g}", "seconds": round(time.time() - start, 2)}
        log.info("epoch %d/%d loss %.4f acc %.3f (%.1fs)", e + 1, reid_cfg["epochs"], row["loss"], row["train_acc"],
                 row["seconds"])
        return row

    rows = loop.run(epoch)
    info = NetworkInfo(run=Run.reid(domain, seed), domain=domain, init=init, arch=reid_cfg, classes=ds.num_classes,
                       image_size=(data_cfg["height"], data_cfg["width"]), synthetic=index["synthetic"],
                       final=rows[-1], provenance=loop.provenance)
    loop.finish(info, model.state_dict(), training_log(out))
    return info
