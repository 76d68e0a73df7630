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
from tqdm import tqdm

from crgan import runtime
from crgan.config import config_hash
from crgan.data.datasets import Record, records_of
from crgan.data.loader import ReidImages
from crgan.errors import DatasetError
from crgan.models.reid import build_backbone
from crgan.models.taudl import TaudlNet
from crgan.train.checkpoint import finish, load_state, optimise, rng_state, save_state, set_rng_state
from crgan.train.reid import load_reid
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


def start_backbone(cfg: dict[str, Any], init_model: Path | None) -> tuple[nn.Module, dict[str, Any], dict[str, Any]]:
    """The backbone TAUDL starts from, the re-id config that rebuilds it, and where it came from:
    {'start': plain | crgan | spgan | reid, 'source': the domain it was trained from, 'init': text}."""
    if init_model is None:
        backbone, init = build_backbone(cfg["reid"])
        return backbone, cfg["reid"], {"start": "plain", "source": None, "init": init}
    net, meta = load_reid(init_model, torch.device("cpu"))
    method = meta.get("method", "reid")
    what = {"crgan": "CR-GAN", "spgan": "SPGAN"}.get(method, "re-id")
    init = f"{what} {meta['domain']}->{meta.get('target', meta['domain'])} ({meta['init']})"
    return net.backbone, meta["reid"], {"start": method, "source": meta["domain"], "init": init}


def train_taudl(target: dict, cfg: dict[str, Any], seed: int, out: Path, dev: torch.device,
                init_model: Path | None = None) -> dict[str, Any]:
    """Train TAUDL on ``target``'s unlabelled training set; writes ``out`` and ``<out>.log.csv``."""
    tc, dc = cfg["taudl"], cfg["data"]
    records = records_of(target, "train")
    members, cameras, labels = tracklets(records, target["num_cameras"])
    per_camera = [cameras.count(c) for c in range(target["num_cameras"])]
    backbone, reid_cfg, origin = start_backbone(cfg, init_model)
    model = TaudlNet(backbone, per_camera).to(dev)
    ds = ReidImages(target["root"], records, dc["height"], dc["width"], train=True)
    top_k = tc["top_k"] or max(1, target["num_cameras"] // 2)
    chash = config_hash({"taudl": tc, "data": dc, "reid": reid_cfg, "seed": seed, "domain": target["domain"],
                         "init": origin["init"]})
    opt = torch.optim.Adam(model.parameters(), lr=tc["lr"], weight_decay=tc["weight_decay"])
    gen = torch.Generator().manual_seed(seed + 30)
    prov = runtime.provenance(cfg, seed, dev)  # in every checkpoint and the final file
    ckpt_path = Path(f"{out}.ckpt")
    total, first, rows = tc["iterations"], 0, []
    state = load_state(ckpt_path, chash)
    if state is not None:
        model.load_state_dict(state["model"]); opt.load_state_dict(state["opt"]); set_rng_state(state["rng"])
        gen.set_state(state["gen"])
        first, rows = state["iteration"], state["rows"]
        log.info("resuming %s from iteration %d", out, first)
    k_img = tc["images_per_tracklet"]
    for it in tqdm(range(first, total), desc=f"TAUDL ({origin['start']}) on {target['domain']}", initial=first, total=total,
                   mininterval=5):
        for group in opt.param_groups:
            group["lr"] = tc["lr"] * lr_factor(it, total)
        picked = sample_tracklets(cameras, tc["tracklets_per_batch"], gen)
        idx = [members[t][j] for t in picked
               for j in torch.randint(len(members[t]), (k_img,), generator=gen).tolist()]
        images = torch.stack([ds[i][0] for i in idx]).to(dev)
        cams = torch.tensor([cameras[t] for t in picked for _ in range(k_img)], device=dev)
        labs = torch.tensor([labels[t] for t in picked for _ in range(k_img)], device=dev)
        model.train()
        feats = model(images)
        l_pctd = pctd_loss(model, feats, cams, labs)
        l_ccta = ccta_loss(feats.view(len(picked), k_img, -1).mean(1), cams[::k_img], tc["sigma"], top_k)
        loss = (1 - tc["lambda_ccta"]) * l_pctd + tc["lambda_ccta"] * l_ccta
        optimise(opt, loss, f"TAUDL on {target['domain']}, iteration {it + 1}")
        rows.append({"iteration": it + 1, "loss": round(loss.item(), 5), "loss_pctd": round(l_pctd.item(), 5),
                     "loss_ccta": round(l_ccta.item(), 5), "lr": f"{tc['lr'] * lr_factor(it, total):.3g}"})
        if (it + 1) % tc["checkpoint_every"] == 0:
            save_state(ckpt_path, {"config_hash": chash, "provenance": prov, "iteration": it + 1, "rows": rows,
                                   "model": model.state_dict(), "opt": opt.state_dict(), "rng": rng_state(),
                                   "gen": gen.get_state()})
    meta = {"method": "taudl", **origin, "domain": target["domain"], "target": target["domain"],
            "variant": None, "reid": reid_cfg,
            "tracklets_per_camera": per_camera, "num_tracklets": len(members), "top_k": top_k, "taudl": tc,
            "data": {"height": dc["height"], "width": dc["width"], "synthetic": target["synthetic"]},
            "final_loss": rows[-1]["loss"], "provenance": prov}
    finish(out, {"model": model.state_dict(), "meta": meta}, rows, f"{out}.log.csv")
    return meta
