"""Cluster Contrast (Dai, Wang, Wang, Wang, Zhang; alibaba/cluster-contrast-reid): unsupervised
re-id on the unlabelled target by clustering and a contrastive cluster memory. Table 8, beyond the
paper.

Each epoch:
1. extract every target training image's feature (no augmentation, eval mode);
2. Jaccard distance of their k-reciprocal neighbour sets (crgan.eval.k_reciprocal; k1 30, k2 6);
3. DBSCAN on it (eps 0.6, min_samples 4): a pseudo-identity per cluster, un-clustered images left
   out of the epoch;
4. the cluster memory: each cluster's mean feature, L2-normalised;
5. ``iterations`` steps of P clusters x K images: cross-entropy of the normalised feature x memory /
   temperature (0.05) against the image's cluster; after each step every image of the batch, in
   order, pulls its cluster's row: m = momentum * m + (1 - momentum) * f, then L2-normalised.

Starts: the source model (UDA), CR-GAN's fine-tuned network (the hybrid), or the untrained
network (written as initialised, no training: the floor). The true identities of the target are
never used in training; each epoch's log row reports the pseudo-labels' agreement with them
(adjusted Rand index) as a diagnostic only.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score
from torch.utils.data import DataLoader

from crgan import runtime
from crgan.data.datasets import records_of
from crgan.data.draws import Draw, StepBatches, Stream, make_loader, to_device
from crgan.data.images import ReidImages
from crgan.eval.k_reciprocal import feature_jaccard_distance
from crgan.methods import training_log
from crgan.models.cluster_contrast import ClusterNet
from crgan.records import NetworkInfo
from crgan.train.loop import TrainingLoop
from crgan.train.starts import begin

log = logging.getLogger(__name__)


def pseudo_labels(features: torch.Tensor, cc_cfg: dict[str, Any]) -> np.ndarray:
    """DBSCAN on the k-reciprocal Jaccard distance: a cluster index per image, -1 for un-clustered."""
    distance = feature_jaccard_distance(features, cc_cfg["k1"], cc_cfg["k2"]).cpu().double().numpy()
    return DBSCAN(eps=cc_cfg["eps"], min_samples=cc_cfg["min_samples"], metric="precomputed").fit_predict(distance)


def cluster_centres(features: torch.Tensor, labels: np.ndarray) -> torch.Tensor:
    """(clusters, D): each cluster's mean feature, L2-normalised (the memory's first state)."""
    kept = torch.as_tensor(labels >= 0, device=features.device)
    index = torch.as_tensor(labels, device=features.device)[kept]
    count = int(labels.max()) + 1
    sums = torch.zeros(count, features.shape[1], device=features.device).index_add_(0, index, features[kept])
    return F.normalize(sums / torch.bincount(index, minlength=count)[:, None], dim=1)


class ClusterMemory:
    """One L2-normalised feature per cluster: the classifier of an epoch, updated with momentum."""

    def __init__(self, centres: torch.Tensor, temperature: float, momentum: float):
        self.features, self.temperature, self.momentum = centres.clone(), temperature, momentum

    def loss(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the normalised features against the memory (scaled by 1 / temperature), in
        float32 whatever the steps' precision: 1 / temperature (20) would multiply a bfloat16 product's
        relative error (about 0.4 %) into the logits."""
        with torch.autocast(features.device.type, enabled=False):
            logits = F.normalize(features.float(), dim=1) @ self.features.T / self.temperature
            return F.cross_entropy(logits, labels)

    @torch.no_grad()
    def update(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Each feature in batch order pulls its cluster's row, which is then re-normalised (as the
        authors' code, so two images of one cluster in a batch update it one after the other).

        Vectorised by rounds: round j updates, at once, every cluster with its j-th image of the batch
        (distinct rows), so a batch of P clusters x K images takes K updates, not P x K."""
        features = F.normalize(features.float(), dim=1)
        earlier = (labels[:, None] == labels[None, :]).tril(diagonal=-1).sum(dim=1)  # same cluster, before it
        for round_ in range(int(earlier.max()) + 1):
            chosen = earlier == round_
            rows_of = labels[chosen]
            rows = self.momentum * self.features[rows_of] + (1 - self.momentum) * features[chosen]
            self.features[rows_of] = rows / rows.norm(dim=1, keepdim=True)


def cluster_batches(labels: np.ndarray, clusters_per_batch: int, instances: int) -> Draw:
    """P clusters x K images per batch: P distinct clusters at random, K of each one's images (without
    replacement when it has K, else with replacement)."""
    members = [np.flatnonzero(labels == c) for c in range(int(labels.max()) + 1)]
    count = min(clusters_per_batch, len(members))

    def draw(gen: torch.Generator) -> list[int]:
        picked: list[int] = []
        for c in torch.randperm(len(members), generator=gen)[:count].tolist():
            group = members[c]
            order = (torch.randperm(len(group), generator=gen)[:instances] if len(group) >= instances
                     else torch.randint(len(group), (instances,), generator=gen))
            picked += group[order.numpy()].tolist()
        return picked

    return draw


@torch.no_grad()
def target_features(model: ClusterNet, loader: DataLoader, device: torch.device) -> torch.Tensor:
    """Every training image's L2-normalised feature (``loader``: in order, without augmentation), in eval
    mode and in float32 whatever the training steps' precision: the clustering reads them as an
    evaluation does (evaluation features are float32 always)."""
    model.eval()
    with torch.autocast(device.type, enabled=False):
        return torch.cat([F.normalize(model(images.to(device, non_blocking=True)).float(), dim=1)
                          for images, _, _ in loader])


def cluster_target(model: ClusterNet, in_order: Any, identities: np.ndarray, cc_cfg: dict[str, Any],
                   device: torch.device) -> tuple[torch.Tensor, np.ndarray, dict[str, Any]]:
    """An epoch's pseudo-labels: the target's features clustered, with the clusters' count, the share
    clustered and (a diagnostic only, never used in training) their agreement with the true identities."""
    features = target_features(model, in_order, device)
    labels = pseudo_labels(features, cc_cfg)
    kept = labels >= 0
    agreement = adjusted_rand_score(identities[kept], labels[kept]) if kept.any() else 0.0
    return features, labels, {"clusters": int(labels.max()) + 1, "clustered": round(float(kept.mean()), 4),
                              "ari_diagnostic": round(float(agreement), 4)}


def train_cluster_contrast(target: dict, cfg: dict[str, Any], seed: int, out: Path, device: torch.device,
                           init_model: Path | None = None, untrained: bool = False) -> NetworkInfo:
    """Cluster Contrast on ``target``'s unlabelled training set from ``init_model`` (a source model or
    a CR-GAN fine-tuned network); ``untrained``: the network as initialised is written as the floor.
    Writes ``out`` and ``<out>.log.csv`` (one row per epoch)."""
    cc_cfg, data_cfg = cfg["cluster_contrast"], cfg["data"]
    beginning = begin("cluster_contrast", cfg, init_model, untrained)
    model = ClusterNet(beginning.backbone) if beginning.network is None else ClusterNet.from_reid(beginning.network)
    model.to(device)
    run, start = beginning.run(target["domain"], seed), beginning.start_run
    total = 0 if beginning.untrained else cc_cfg["epochs"]
    records = records_of(target, "train")
    plain = ReidImages(target["root"], records, data_cfg["height"], data_cfg["width"])
    augmented = ReidImages(target["root"], records, data_cfg["height"], data_cfg["width"], train=True,
                           erasing=cc_cfg["random_erasing"])
    identities = np.array([r.pid for r in records])
    loop = TrainingLoop(out, f"Cluster Contrast ({run.start_name}) on {run.target}",
                        {"cluster_contrast": cc_cfg, "data": data_cfg, "reid": beginning.arch, "domain": run.target,
                         "init": beginning.init, "start": start.to_dict() if start else None},
                        cfg, seed, device, total, cc_cfg["checkpoint_every"], unit="epoch",
                        section="cluster_contrast")
    opt = torch.optim.Adam(model.parameters(), lr=cc_cfg["lr"], weight_decay=cc_cfg["weight_decay"])
    runtime.conv_layout(model, cfg)  # re-id networks: channels-last pays
    loop.track(model=model, opt=opt)
    iterations, per_cluster = cc_cfg["iterations"], cc_cfg["instances"]
    # made once: with worker processes they persist over the epochs, each with the images it decoded
    in_order = make_loader(plain, cfg["eval"]["batch_size"], False, data_cfg["workers"], pin=device.type == "cuda")
    batches = StepBatches(augmented, lambda gen: [], seed, Stream.CLUSTER_CONTRAST, data_cfg["workers"], device)

    def epoch(e: int) -> dict[str, Any]:
        features, labels, row = cluster_target(model, in_order, identities, cc_cfg, device)
        row, clusters = {"epoch": e + 1, **row}, row["clusters"]
        if clusters < 2:
            log.warning("epoch %d: %d clusters, nothing to contrast; the epoch is skipped", e + 1, clusters)
            return {**row, "loss_first": "", "loss": "", "chance": ""}
        memory = ClusterMemory(cluster_centres(features, labels), cc_cfg["temperature"], cc_cfg["momentum"])
        draw = cluster_batches(labels, cc_cfg["batch_size"] // per_cluster, per_cluster)
        batches.redraw(draw)
        model.train()
        losses = []
        for i in range(iterations):
            loaded = batches(e * iterations + i)
            picked = to_device(labels[loaded.drawn], device)
            images = loaded[0].to(device, non_blocking=True)
            feats = model(images)
            loss = memory.loss(feats, picked)
            loop.optimise(opt, loss, f"Cluster Contrast on {run.target}, epoch {e + 1} iteration {i + 1}")
            memory.update(feats.detach(), picked)
            losses.append(loss.detach())
        losses = loop.settle(losses)  # raises first if a loss was not finite
        return {**row, "loss_first": round(losses[0], 5), "loss": round(float(np.mean(losses)), 5),
                "chance": round(math.log(clusters), 5)}

    rows = loop.run(epoch, lr_at=lambda e: cc_cfg["lr"] * 0.1 ** (e // cc_cfg["step_size"]))
    info = NetworkInfo(run=run, domain=target["domain"], init=beginning.init, arch=beginning.arch, classes=0,
                       image_size=(data_cfg["height"], data_cfg["width"]), synthetic=target["synthetic"],
                       final=rows[-1] if rows else {}, provenance=loop.provenance,
                       details={"clusters": [r["clusters"] for r in rows]})
    loop.finish(info, model.state_dict(), training_log(out))
    return info
