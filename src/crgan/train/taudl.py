"""TAUDL (Li, Zhu, Gong, ECCV 2018): unsupervised re-id on the unlabelled target from tracklets.

Tracklets on image datasets (TAUDL's protocol): every (person, camera) pair of the target's
training set is one tracklet, labelled only by its index within its camera; which tracklets of
different cameras show the same person is never used. Two losses on the embedding:

- PCTD (per-camera tracklet discrimination): one classifier head per camera over that camera's
  tracklets (initialised with std 0.001, as the authors' code); cross-entropy of each image over
  its own camera's head, averaged within a camera and summed over the cameras of the batch. Its
  chance level (sum over the batch's cameras of log M_c) is logged beside it.
- CCTA (cross-camera tracklet association): tracklet features s_i (mean of their image features),
  a_ij = exp(-||s_i - m_j|| / (2 sigma)) against a memory m of every tracklet's feature (updated
  with momentum from each batch); L = mean_i -log(sum of the top-K a_ij over tracklets of other
  cameras / sum of a_ij over all other tracklets). Neighbours are mined among all tracklets, as
  the method intends: inside a batch of 16 the true cross-camera match is a candidate about 5 %
  of the time, so a batch-mined pull mostly attracts different people.

L = (1 - lambda) PCTD + lambda CCTA. Training starts from a plain backbone (row "TAUDL") or from
the backbone of a CR-GAN or SPGAN fine-tuned network (rows "CR-GAN+TAUDL", "SPGAN+TAUDL"). The
``untrained`` start writes the plain network as initialised, no training: the floor every TAUDL
number is read against.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from crgan import runtime
from crgan.data.datasets import Record, records_of
from crgan.data.draws import StepBatches, Stream, to_device
from crgan.data.images import ReidImages
from crgan.errors import DatasetError
from crgan.methods import training_log
from crgan.models.taudl import TaudlNet
from crgan.records import NetworkInfo
from crgan.train.loop import Logged, TrainingLoop
from crgan.train.schedule import lr_factor
from crgan.train.starts import begin


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
    """Per-camera tracklet discrimination: per-camera mean cross-entropy, summed over cameras.

    ``cams`` stay on the host: the rows are grouped by camera there (a stable sort, each camera's rows
    in batch order) and reach the device in one copy, so the step never waits for it; ``labels``
    are on ``feats``' device."""
    cams = cams.cpu()
    present, counts = cams.unique(return_counts=True)
    order = to_device(torch.argsort(cams, stable=True), feats.device)
    groups = zip(present.tolist(), feats[order].split(counts.tolist()), labels[order].split(counts.tolist()))
    return sum(F.cross_entropy(model.camera_logits(group, c), group_labels) for c, group, group_labels in groups)


def pctd_chance(cams: torch.Tensor, per_camera: list[int]) -> float:
    """PCTD's value for a classifier that knows nothing: sum over the batch's cameras of log M_c."""
    return float(sum(math.log(max(1, per_camera[int(c)])) for c in cams.unique()))


class TrackletMemory:
    """A feature for every tracklet, updated with momentum from each batch (no gradient): where
    CCTA mines each tracklet's cross-camera neighbours, among all tracklets."""

    def __init__(self, features: torch.Tensor, momentum: float):
        self.features, self.momentum = features, momentum

    @torch.no_grad()
    def update(self, ids: torch.Tensor, feats: torch.Tensor) -> None:
        self.features[ids] = self.momentum * self.features[ids] + (1 - self.momentum) * feats.detach()

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"features": self.features}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.features = state["features"].to(self.features.device)


def ccta_loss(track_feats: torch.Tensor, ids: torch.Tensor, memory: torch.Tensor, cameras: torch.Tensor,
              sigma: float, top_k: int) -> torch.Tensor:
    """Cross-camera tracklet association of a batch's tracklets (features (B, C), indices ``ids``)
    against the memory of all tracklets (T, C) with their cameras (T,).

    Computed in log space: log a_ij = -||s_i - m_j|| / (2 sigma); j runs over all tracklets but i
    itself; the numerator over the top-K of other cameras. Gradients flow through s_i only.
    ``ids`` and ``cameras`` are host tensors: the masks and K are made there, so the step never
    waits for the device.
    """
    logits = -torch.cdist(track_feats, memory) / (2 * sigma)
    not_self = torch.ones(logits.shape, dtype=torch.bool)
    not_self[torch.arange(len(ids)), ids] = False
    other_cam = cameras[None, :] != cameras[ids][:, None]
    k = min(top_k, int(other_cam.sum(1).min()))
    not_self, other_cam = to_device(not_self, logits.device), to_device(other_cam, logits.device)
    if k == 0:
        return track_feats.sum() * 0
    neighbours = logits.masked_fill(~other_cam, float("-inf")).topk(k, dim=1).values
    log_ratio = torch.logsumexp(neighbours, 1) - torch.logsumexp(logits.masked_fill(~not_self, float("-inf")), 1)
    return -log_ratio.mean()


@torch.no_grad()
def tracklet_features(model: TaudlNet, ds: ReidImages, members: list[list[int]], batch: int,
                      device: torch.device) -> torch.Tensor:
    """Every tracklet's mean feature (images without augmentation): the memory's first state."""
    model.eval()
    order = [i for group in members for i in group]
    feats = torch.cat([model(torch.stack([ds.image(i) for i in order[s:s + batch]]).to(device))
                       for s in range(0, len(order), batch)])
    sizes = torch.tensor([len(group) for group in members], device=device)
    owner = torch.repeat_interleave(torch.arange(len(members), device=device), sizes)
    return torch.zeros(len(members), feats.shape[1], device=device).index_add_(0, owner, feats) / sizes[:, None]


def tracklet_draw(members: list[list[int]], cameras: list[int], tracklets_per_batch: int,
                  per_tracklet: int) -> Callable[[torch.Generator], list[int]]:
    """A step's image draw: ``per_tracklet`` images of each of ``tracklets_per_batch`` tracklets
    (drawn round-robin over cameras)."""
    def draw(gen: torch.Generator) -> list[int]:
        picked = sample_tracklets(cameras, tracklets_per_batch, gen)
        return [members[t][j] for t in picked
                for j in torch.randint(len(members[t]), (per_tracklet,), generator=gen).tolist()]

    return draw


def train_taudl(target: dict, cfg: dict[str, Any], seed: int, out: Path, device: torch.device,
                init_model: Path | None = None, untrained: bool = False) -> NetworkInfo:
    """Train TAUDL on ``target``'s unlabelled training set from ``init_model`` (a CR-GAN or SPGAN
    fine-tuned network) or the plain backbone; writes ``out`` and ``<out>.log.csv`` (``untrained``:
    the plain network as initialised, the floor)."""
    taudl_cfg, data_cfg = cfg["taudl"], cfg["data"]
    records = records_of(target, "train")
    members, cameras, labels = tracklets(records, target["num_cameras"])
    tracklet_of = {i: t for t, group in enumerate(members) for i in group}
    per_camera = [cameras.count(c) for c in range(target["num_cameras"])]
    beginning = begin("taudl", cfg, init_model, untrained)
    total = 0 if beginning.untrained else taudl_cfg["iterations"]
    run, start = beginning.run(target["domain"], seed), beginning.start_run
    model = TaudlNet(beginning.backbone, per_camera).to(device)
    ds = ReidImages(target["root"], records, data_cfg["height"], data_cfg["width"], train=True)
    top_k = taudl_cfg["top_k"] or max(1, target["num_cameras"] // 2)
    per_tracklet = taudl_cfg["images_per_tracklet"]
    loop = TrainingLoop(out, f"TAUDL ({run.start_name}) on {run.target}",
                        {"taudl": taudl_cfg, "data": data_cfg, "reid": beginning.arch, "domain": run.target,
                         "init": beginning.init, "start": start.to_dict() if start else None},
                        cfg, seed, device, total, taudl_cfg["checkpoint_every"], section="taudl")
    opt = torch.optim.Adam(model.parameters(), lr=taudl_cfg["lr"], weight_decay=taudl_cfg["weight_decay"])

    draw = tracklet_draw(members, cameras, taudl_cfg["tracklets_per_batch"], per_tracklet)
    batches = StepBatches(ds, draw, seed, Stream.TAUDL, data_cfg["workers"], device)
    batch = taudl_cfg["tracklets_per_batch"] * taudl_cfg["images_per_tracklet"]
    memory = TrackletMemory(tracklet_features(model, ds, members, batch, device) if total else torch.zeros(0),
                            taudl_cfg["memory_momentum"])
    runtime.conv_layout(model, cfg)  # re-id networks: channels-last pays
    loop.track(model=model, opt=opt, memory=memory)
    all_cameras = torch.tensor(cameras)

    def step(it: int) -> dict[str, Any]:
        loaded = batches(it)
        images = loaded[0].to(device, non_blocking=True)
        owners = [tracklet_of[i] for i in loaded.drawn]  # the tracklet of each image, in batch order
        picked = owners[::per_tracklet]
        cams = torch.tensor([cameras[t] for t in owners])  # indices stay on the host (see pctd_loss)
        labs = to_device([labels[t] for t in owners], device)
        model.train()
        feats = model(images)
        l_pctd = pctd_loss(model, feats, cams, labs)
        ids = torch.tensor(picked)
        track_feats = feats.view(len(picked), per_tracklet, -1).mean(1)
        l_ccta = ccta_loss(track_feats, ids, memory.features, all_cameras, taudl_cfg["sigma"], top_k)
        weight = taudl_cfg["lambda_ccta"] if it >= taudl_cfg["ccta_from"] * total else 0.0
        loss = (1 - weight) * l_pctd + weight * l_ccta
        loop.optimise(opt, loss, f"TAUDL on {run.target}, iteration {it + 1}")
        memory.update(to_device(ids, device), track_feats)
        return {"iteration": it + 1, "loss": Logged(loss), "loss_pctd": Logged(l_pctd),
                "loss_ccta": Logged(l_ccta), "pctd_chance": round(pctd_chance(cams, per_camera), 5),
                "lr": f"{taudl_cfg['lr'] * lr_factor(it, total):.3g}"}

    rows = loop.run(step, lr_at=lambda it: taudl_cfg["lr"] * lr_factor(it, total))
    info = NetworkInfo(run=run, domain=target["domain"], init=beginning.init, arch=beginning.arch, classes=per_camera,
                       image_size=(data_cfg["height"], data_cfg["width"]), synthetic=target["synthetic"],
                       final=rows[-1] if rows else {}, provenance=loop.provenance,
                       details={"num_tracklets": len(members), "top_k": top_k})
    loop.finish(info, model.state_dict(), training_log(out))
    return info
