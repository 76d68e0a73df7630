"""TAUDL (Li, Zhu, Gong, ECCV 2018): unsupervised re-id on the unlabelled target from tracklets.

Tracklets on image datasets (TAUDL's protocol): every (person, camera) pair of the target's
training set is one tracklet, labelled only by its index within its camera; which tracklets of
different cameras show the same person is never used. Two losses on the embedding:

- PCTD (per-camera tracklet discrimination): one classifier head per camera over that camera's
  tracklets; cross-entropy of each image over its own camera's head, averaged within a camera and
  summed over the cameras of the batch.
- CCTA (cross-camera tracklet association): per batch, tracklet features s_i (mean of their image
  features), a_ij = exp(-||s_i - s_j|| / (2 sigma)); L = mean_i -log(sum of the top-K a_ij over
  tracklets of other cameras / sum of a_ij over all other tracklets): each tracklet is pulled
  toward its cross-camera nearest neighbours, mined afresh in every batch as the features improve.

L = (1 - lambda) PCTD + lambda CCTA. Training starts from a plain backbone (row "TAUDL") or from
the backbone of a CR-GAN or SPGAN fine-tuned network (rows "CR-GAN+TAUDL", "SPGAN+TAUDL").
"""
from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from crgan.data.datasets import Record, records_of
from crgan.data.loader import ReidImages
from crgan.errors import DatasetError, WeightsError
from crgan.models.reid import build_backbone
from crgan.models.store import load_network
from crgan.models.taudl import TaudlNet
from crgan.records import NetworkInfo
from crgan.runs import Run
from crgan.train.loop import TrainingLoop, optimise
from crgan.train.schedule import lr_factor

log = logging.getLogger(__name__)


def tracklets(records: list[Record], num_cameras: int) -> tuple[list[list[int]], list[int], list[int]]:
    """Image indices of each tracklet, its camera, and its label within that camera (0..M_c-1).

    Tracklets are numbered camera by camera, in person-id order within a camera.
    """
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, rec in enumerate(records):
        if not 0 <= rec.camid < num_cameras:
            raise DatasetError(f"{rec.path}: camera {rec.camid + 1} outside 1-{num_cameras}")
        groups[(rec.camid, rec.pid)].append(i)
    keys = sorted(groups)
    labels, counts = [], defaultdict(int)
    for cam, _ in keys:
        labels.append(counts[cam])
        counts[cam] += 1
    return [groups[k] for k in keys], [cam for cam, _ in keys], labels


def sample_tracklets(cameras: list[int], n: int, gen: torch.Generator) -> list[int]:
    """``n`` distinct tracklets drawn round-robin over the cameras (random camera order, random
    tracklets within a camera), so every batch spans as many cameras as it can."""
    by_cam: dict[int, list[int]] = defaultdict(list)
    for t, cam in enumerate(cameras):
        by_cam[cam].append(t)
    order = [sorted(by_cam)[i] for i in torch.randperm(len(by_cam), generator=gen).tolist()]
    queues = {c: [by_cam[c][i] for i in torch.randperm(len(by_cam[c]), generator=gen).tolist()] for c in order}
    picked: list[int] = []
    while len(picked) < min(n, len(cameras)):
        for c in order:
            if queues[c] and len(picked) < n:
                picked.append(queues[c].pop())
    return picked


def pctd_loss(model: TaudlNet, feats: torch.Tensor, cams: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-camera tracklet discrimination: per-camera mean cross-entropy, summed over cameras."""
    return sum(F.cross_entropy(model.camera_logits(feats[cams == c], int(c)), labels[cams == c])
               for c in cams.unique())


def ccta_loss(track_feats: torch.Tensor, track_cams: torch.Tensor, sigma: float, top_k: int) -> torch.Tensor:
    """Cross-camera tracklet association on a batch's tracklet features (T, C) and cameras (T,).

    Computed in log space: log a_ij = -||s_i - s_j|| / (2 sigma). Tracklets with no other camera
    in the batch are skipped; a batch where none has one gives 0.
    """
    logits = -torch.cdist(track_feats, track_feats) / (2 * sigma)
    other_cam = track_cams[:, None] != track_cams[None, :]
    not_self = ~torch.eye(len(track_cams), dtype=torch.bool, device=track_feats.device)
    has_other = other_cam.any(1)
    if not has_other.any():
        return track_feats.sum() * 0
    k = min(top_k, int(other_cam.sum(1)[has_other].min()))
    neighbours = logits.masked_fill(~other_cam, float("-inf")).topk(k, dim=1).values
    log_ratio = torch.logsumexp(neighbours, 1) - torch.logsumexp(logits.masked_fill(~not_self, float("-inf")), 1)
    return -log_ratio[has_other].mean()


def start_backbone(cfg: dict[str, Any], init_model: Path | None
                   ) -> tuple[nn.Module, dict[str, Any], Run | None, str]:
    """The backbone TAUDL starts from, the re-id config that rebuilds it, the CR-GAN or SPGAN run
    it comes from (None for a plain start) and the backbone's initialisation before any training
    (``scratch`` or ``imagenet:<file>``)."""
    if init_model is None:
        backbone, init = build_backbone(cfg["reid"])
        return backbone, cfg["reid"], None, init
    net, info = load_network(init_model, torch.device("cpu"))
    if info.run.method not in ("crgan", "spgan"):
        raise WeightsError(f"{init_model} is a {info.run.method} network; TAUDL starts from a plain backbone or "
                           f"from a CR-GAN or SPGAN fine-tuned network")
    return net.backbone, info.arch, info.run, info.init


def train_taudl(target: dict, cfg: dict[str, Any], seed: int, out: Path, device: torch.device,
                init_model: Path | None = None) -> NetworkInfo:
    """Train TAUDL on ``target``'s unlabelled training set; writes ``out`` and ``<out>.log.csv``."""
    taudl_cfg, data_cfg, total = cfg["taudl"], cfg["data"], cfg["taudl"]["iterations"]
    records = records_of(target, "train")
    members, cameras, labels = tracklets(records, target["num_cameras"])
    per_camera = [cameras.count(c) for c in range(target["num_cameras"])]
    backbone, reid_cfg, start, init = start_backbone(cfg, init_model)
    run = (Run.taudl(target["domain"], seed=seed) if start is None
           else Run.taudl(target["domain"], start.method, start.source, seed))
    model = TaudlNet(backbone, per_camera).to(device)
    ds = ReidImages(target["root"], records, data_cfg["height"], data_cfg["width"], train=True)
    top_k = taudl_cfg["top_k"] or max(1, target["num_cameras"] // 2)
    loop = TrainingLoop(out, f"TAUDL ({run.variant}) on {run.target}",
                        {"taudl": taudl_cfg, "data": data_cfg, "reid": reid_cfg, "domain": run.target, "init": init,
                         "start": start.to_dict() if start else None},
                        cfg, seed, device, total, taudl_cfg["checkpoint_every"])
    opt = torch.optim.Adam(model.parameters(), lr=taudl_cfg["lr"], weight_decay=taudl_cfg["weight_decay"])
    draws = torch.Generator().manual_seed(seed + 30)
    loop.track(model=model, opt=opt, draws=draws)
    per_tracklet = taudl_cfg["images_per_tracklet"]

    def step(it: int) -> dict[str, Any]:
        picked = sample_tracklets(cameras, taudl_cfg["tracklets_per_batch"], draws)
        idx = [members[t][j] for t in picked
               for j in torch.randint(len(members[t]), (per_tracklet,), generator=draws).tolist()]
        images = torch.stack([ds[i][0] for i in idx]).to(device)
        cams = torch.tensor([cameras[t] for t in picked for _ in range(per_tracklet)], device=device)
        labs = torch.tensor([labels[t] for t in picked for _ in range(per_tracklet)], device=device)
        model.train()
        feats = model(images)
        l_pctd = pctd_loss(model, feats, cams, labs)
        l_ccta = ccta_loss(feats.view(len(picked), per_tracklet, -1).mean(1), cams[::per_tracklet],
                           taudl_cfg["sigma"], top_k)
        loss = (1 - taudl_cfg["lambda_ccta"]) * l_pctd + taudl_cfg["lambda_ccta"] * l_ccta
        optimise(opt, loss, f"TAUDL on {run.target}, iteration {it + 1}")
        return {"iteration": it + 1, "loss": round(loss.item(), 5), "loss_pctd": round(l_pctd.item(), 5),
                "loss_ccta": round(l_ccta.item(), 5), "lr": f"{taudl_cfg['lr'] * lr_factor(it, total):.3g}"}

    rows = loop.run(step, lr_at=lambda it: taudl_cfg["lr"] * lr_factor(it, total))
    info = NetworkInfo(run, target["domain"], init, reid_cfg, per_camera, (data_cfg["height"], data_cfg["width"]),
                       target["synthetic"], rows[-1], loop.provenance,
                       {"num_tracklets": len(members), "top_k": top_k})
    loop.finish(info, model.state_dict(), f"{out}.log.csv")
    return info
