"""The AdaBN control (Li et al. 2016): the source re-id model (or CR-GAN's fine-tuned network, the
CR-GAN+AdaBN control) with the running statistics of its backbone's BatchNorm layers (those the
tested features go through) re-estimated on the unlabelled target training images; no weight
changes, no labels.

It tells how much of a method's gain on the target comes from normalising to the target's
statistics alone. One pass over the target training set (no augmentation), in training mode so
BatchNorm accumulates, with a cumulative average (``momentum=None``) from reset statistics.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from crgan.data.datasets import records_of
from crgan.data.draws import make_loader
from crgan.data.images import ReidImages
from crgan.methods import adabn_of, training_log
from crgan.models.reid import ReIDNet
from crgan.records import NetworkInfo
from crgan.runs import Run
from crgan.train.loop import TrainingLoop


def adapt_batch_norm(did: ReIDNet, did_info: NetworkInfo, target: dict, cfg: dict[str, Any], seed: int, out: Path,
                     device: torch.device) -> NetworkInfo:
    """Re-estimate ``did``'s BatchNorm statistics on ``target``'s training images; writes ``out``
    and ``<out>.log.csv`` (images seen per batch). The run is the AdaBN control of ``did``'s method."""
    data_cfg = cfg["data"]
    ds = ReidImages(target["root"], records_of(target, "train"), data_cfg["height"], data_cfg["width"])
    loader = make_loader(ds, cfg["eval"]["batch_size"], train=False, workers=data_cfg["workers"])
    run = Run.of_pair(adabn_of(did_info.run.method), did_info.domain, target["domain"], seed)
    norms = [m for m in did.backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the pass
    did.to(device).train()
    loop = TrainingLoop(out, f"AdaBN {run.source}->{run.target}", {"data": data_cfg, "domain": run.target}, cfg, seed,
                        device, total=len(loader), checkpoint_every=len(loader))
    loop.track(model=did)
    batches = enumerate(loader)  # in a fixed order, so a resumed pass skips the batches it has seen

    @torch.no_grad()
    def step(i: int) -> dict[str, Any]:
        index, (images, _, _) = next(batches)
        while index < i:
            index, (images, _, _) = next(batches)
        did.feature_map(images.to(device))
        return {"batch": i + 1, "images": min((i + 1) * loader.batch_size, len(ds))}

    rows = loop.run(step)
    for norm in norms:
        norm.momentum = 0.1  # torch's default, for anyone who trains the network further
    info = replace(did_info, run=run, final=rows[-1], provenance=loop.provenance, details={"batch_norm_layers": len(norms)})
    loop.finish(info, did.state_dict(), training_log(out))
    return info
