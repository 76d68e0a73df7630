"""Fine-tuning a source re-id model on source persons rendered in the target's style.

CR-GAN (Algorithm 1, part III): images rendered on the fly, XG = G(XS, X'T), every batch pairing
random source images (with their identity labels) with random target instances; nothing
synthetic is stored. The paste control composes them without a GAN: XG = XS * MF + X'T * (1 - MF),
the source person (its mask MF) pasted onto the masked target X'T = XT * (1 - MT) that G sees. SPGAN: the source training set
translated once by :mod:`crgan.train.spgan`. All start from the source re-id model and keep its
identity classes (the source labels).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from crgan.data.datasets import records_of
from crgan.data.draws import Stream, pair_batches, uniform_batches
from crgan.data.images import MaskedImages, to_reid_input
from crgan.methods import VARIANTS, training_log
from crgan.models.generator import masked_target
from crgan.models.reid import ReIDNet
from crgan.models.store import load_generator
from crgan.records import NetworkInfo
from crgan.runs import Run
from crgan.train.crgan import masked_images
from crgan.train.loop import Logged, TrainingLoop

#: A batch source: step -> (images in [-1, 1], identity labels); batch i depends on the step alone.
Batches = Callable[[int], tuple[torch.Tensor, torch.Tensor]]


def finetune_reid(did: ReIDNet, did_info: NetworkInfo, batches: Batches, cfg: dict[str, Any], run: Run,
                  identity: dict[str, Any], out: Path, device: torch.device, details: dict[str, Any]) -> NetworkInfo:
    """Identity cross-entropy on ``batches`` with a cosine lr; writes ``out`` and ``<out>.log.csv``.

    ``identity`` describes the images (part of the checkpoint's identity).
    """
    finetune_cfg, total = cfg["finetune"], cfg["finetune"]["iterations"]
    loop = TrainingLoop(out, f"fine-tune {run.label} {run.source}->{run.target}",
                        {"finetune": finetune_cfg, "data": cfg["data"], **identity}, cfg, run.seed, device, total,
                        finetune_cfg["checkpoint_every"], section="finetune")
    did.to(device)
    opt = torch.optim.Adam(did.parameters(), lr=finetune_cfg["lr"], weight_decay=finetune_cfg["weight_decay"])
    loop.track(model=did, opt=opt)

    def step(it: int) -> dict[str, Any]:
        images, labels = batches(it)
        did.train()
        logits = did(to_reid_input(images))
        loss = F.cross_entropy(logits, labels, label_smoothing=finetune_cfg["label_smoothing"])
        loop.optimise(opt, loss, f"fine-tuning ({run.label}), iteration {it + 1}")
        return {"iteration": it + 1, "loss": Logged(loss),
                "train_acc": Logged((logits.argmax(1) == labels).float().mean(), 4)}

    def cosine_lr(it: int) -> float:
        return finetune_cfg["lr"] * 0.5 * (1 + torch.cos(torch.tensor(torch.pi * it / total)).item())

    rows = loop.run(step, lr_at=cosine_lr)
    info = replace(did_info, run=run, final=rows[-1], provenance=loop.provenance, details=details)
    loop.finish(info, did.state_dict(), training_log(out))
    return info


#: (XS, MF, XT, MT) -> composite images in [-1, 1] with XS's person.
Compose = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def finetune_on_composites(did: ReIDNet, did_info: NetworkInfo, compose: Compose, source: dict, target: dict,
                           masks: tuple[Path, Path], cfg: dict[str, Any], run: Run, identity: dict[str, Any],
                           out: Path, device: torch.device, details: dict[str, Any]) -> NetworkInfo:
    """Fine-tune ``did`` on ``compose`` of random (source, target) pairs made on the fly, with the
    source identity labels (``finetune.real_fraction`` of each batch stays real source images)."""
    finetune_cfg = cfg["finetune"]
    src_ds, tgt_ds = masked_images(source, masks[0], cfg["data"]), masked_images(target, masks[1], cfg["data"])
    src_batches, tgt_batches = pair_batches(src_ds, tgt_ds, finetune_cfg["batch_size"], run.seed,
                                            (Stream.FINETUNE_SOURCE, Stream.FINETUNE_TARGET), cfg["data"], device)

    def batches(it: int) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ms, ys, _ = (t.to(device, non_blocking=True) for t in src_batches(it))
        xt, mt, _, _ = (t.to(device, non_blocking=True) for t in tgt_batches(it))
        with torch.no_grad():
            xg = compose(xs, ms, xt, mt)
        n_real = int(round(finetune_cfg["real_fraction"] * len(xs)))
        return (torch.cat([xs[:n_real], xg[n_real:]]) if n_real else xg), ys

    return finetune_reid(did, did_info, batches, cfg, run, identity, out, device, details)


def finetune_on_rendered(did: ReIDNet, did_info: NetworkInfo, generator_path: Path, source: dict, target: dict,
                         masks: tuple[Path, Path], cfg: dict[str, Any], seed: int, out: Path,
                         device: torch.device) -> NetworkInfo:
    """CR-GAN part III: fine-tune ``did`` on G's renderings of random (XS, X'T) pairs."""
    g, g_info = load_generator(generator_path, device)
    variant = g_info.run.variant
    dual = VARIANTS[variant].dual
    run = Run.crgan(source["domain"], target["domain"], variant, seed)
    identity = {"method": "crgan", "domain": source["domain"], "target": target["domain"], "variant": variant,
                "g": g_info.provenance["config_hash"], "generator_file": str(generator_path)}
    return finetune_on_composites(
        did, did_info, lambda xs, ms, xt, mt: g(xs, masked_target(xt, mt) if dual else None)[0], source, target,
        masks, cfg, run, identity, out, device, {"generator_file": str(generator_path)})


def paste(xs: torch.Tensor, ms: torch.Tensor, xt: torch.Tensor, mt: torch.Tensor) -> torch.Tensor:
    """The paste control's composite: XS * MF + X'T * (1 - MF), no GAN, on X'T = XT * (1 - MT), the
    masked target CR-GAN's generator sees (like for like: no target-person pixel is kept)."""
    return xs * ms + masked_target(xt, mt) * (1 - ms)


def finetune_on_pasted(did: ReIDNet, did_info: NetworkInfo, source: dict, target: dict, masks: tuple[Path, Path],
                       cfg: dict[str, Any], seed: int, out: Path, device: torch.device) -> NetworkInfo:
    """The paste control: fine-tune ``did`` exactly as CR-GAN's part III, on pasted composites."""
    run = Run.of_pair("paste", source["domain"], target["domain"], seed)
    identity = {"method": "paste", "domain": source["domain"], "target": target["domain"]}
    return finetune_on_composites(did, did_info, paste, source, target, masks, cfg, run, identity, out, device, {})


def finetune_on_translated(did: ReIDNet, did_info: NetworkInfo, translated: dict, cfg: dict[str, Any], seed: int,
                           out: Path, device: torch.device) -> NetworkInfo:
    """SPGAN: fine-tune ``did`` on the stored translation of the source training set (source labels)."""
    finetune_cfg, data_cfg = cfg["finetune"], cfg["data"]
    ds = MaskedImages(translated["root"], None, records_of(translated, "train"), data_cfg["height"], data_cfg["width"])
    source_batches = uniform_batches(ds, finetune_cfg["batch_size"], seed, Stream.FINETUNE_SOURCE, data_cfg, device)

    def batches(it: int) -> tuple[torch.Tensor, torch.Tensor]:
        xs, _, ys, _ = (t.to(device, non_blocking=True) for t in source_batches(it))
        return xs, ys

    run = Run.of_pair("spgan", translated["domain"], translated["translated_to"], seed)
    identity = {"method": "spgan", "domain": run.source, "target": run.target, "translation": translated["translated_by"]}
    return finetune_reid(did, did_info, batches, cfg, run, identity, out, device,
                         {"translation": translated["translated_by"]})
