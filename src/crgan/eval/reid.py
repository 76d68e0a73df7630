"""Evaluate a trained re-id network on a domain's query/gallery split (CMC and mAP, GAP and LMP)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from crgan import runtime
from crgan.data.datasets import records_of
from crgan.data.draws import make_loader
from crgan.data.images import ReidImages
from crgan.data.layouts import EVALUATION_SPLITS
from crgan.errors import DatasetError
from crgan.eval.features import extract
from crgan.eval.k_reciprocal import rerank_distance
from crgan.eval.ranked_lists import choose_queries, ranked_lists
from crgan.eval.ranking import evaluate_rank
from crgan.kernels import pairwise_distance
from crgan.models.reid import ReIDNet
from crgan.records import EvaluationRecord
from crgan.runs import Evaluation


def evaluate_model(model: ReIDNet, index: dict, cfg: dict[str, Any], dev: torch.device,
                   split: str = "test") -> dict[str, Any]:
    """Metrics in percent for each pooling: rank1/5/10, mAP and the CMC curve; with ``eval.rerank``,
    on k-reciprocal re-ranked distances (``rerank`` records its parameters, None without). ``ranked``
    holds the ranked lists of a few seeded queries (GAP features) for the report. ``split`` is
    ``test`` (query and gallery) or ``validation`` (the validation query and gallery)."""
    eval_cfg, data_cfg = cfg["eval"], cfg["data"]
    runtime.conv_layout(model, cfg)
    feats, labels = {}, {}
    for role, name in zip(("query", "gallery"), EVALUATION_SPLITS[split]):
        if name not in index["splits"]:
            raise DatasetError(f"{index['domain']}: no {split} split in the index of {index['root']} (expected "
                               f"the folders validation/query and validation/bounding_box_test under the root)")
        recs = records_of(index, name)
        if not recs:
            raise DatasetError(f"{index['domain']}: the {name} set is empty (index {index['root']})")
        ds = ReidImages(index["root"], recs, data_cfg["height"], data_cfg["width"])
        loader = make_loader(ds, eval_cfg["batch_size"], False, data_cfg["workers"])
        feats[role] = extract(model, loader, eval_cfg["lmp_parts"], dev, desc=f"{index['domain']} {name}")
        labels[role] = (np.array([r.pid for r in recs]), np.array([r.camid for r in recs]))
    (q_pids, q_cams), (g_pids, g_cams) = labels["query"], labels["gallery"]
    out: dict[str, Any] = {"num_query": len(q_pids), "num_gallery": len(g_pids), "lmp_parts": eval_cfg["lmp_parts"],
                           "metric": eval_cfg["metric"]}
    out["rerank"] = ({"k1": eval_cfg["rerank_k1"], "k2": eval_cfg["rerank_k2"], "lambda": eval_cfg["rerank_lambda"]}
                     if eval_cfg.get("rerank") else None)
    for pooling in ("gap", "lmp"):
        query, gallery = feats["query"][pooling], feats["gallery"][pooling]
        if out["rerank"]:
            dist = rerank_distance(query, gallery, eval_cfg["rerank_k1"], eval_cfg["rerank_k2"],
                                   eval_cfg["rerank_lambda"], eval_cfg["metric"])
        else:
            dist = pairwise_distance(query, gallery, eval_cfg["metric"])
        cmc, m_ap = evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams, max_rank=eval_cfg["max_rank"])
        if pooling == "gap":  # the report's ranked lists: the same queries for every method on this domain
            queries = choose_queries(len(q_pids), eval_cfg["ranked_queries"], eval_cfg["ranked_seed"])
            lists = ranked_lists(dist[queries].cpu().numpy(), queries, q_pids, g_pids, q_cams, g_cams,
                                 eval_cfg["ranked_top"])
            out["ranked"] = {"pooling": pooling, "lists": lists}
        out[pooling] = {"rank1": 100 * cmc[0], "rank5": 100 * cmc[min(4, len(cmc) - 1)],
                        "rank10": 100 * cmc[min(9, len(cmc) - 1)], "map": 100 * m_ap,
                        "cmc": [round(100 * float(c), 4) for c in cmc]}
    out["chance_rank1"] = 100.0 / len(set(g_pids.tolist()) - {0})
    return out


def evaluate_file(model_path: str | Path, index: dict, cfg: dict[str, Any], seed: int,
                  device: torch.device, split: str = "test") -> EvaluationRecord:
    """The network in ``model_path`` tested on ``index``'s query/gallery (``split`` ``test``: the
    record a table reads) or its validation query/gallery (``validation``: budget curves only), with
    its run, how it started, the metrics and the provenance of this evaluation (with the precision the
    network itself was trained in, from its file)."""
    from crgan import runtime
    from crgan.models.store import load_network

    model, info = load_network(model_path, device)
    metrics = evaluate_model(model, index, cfg, device, split)
    return EvaluationRecord(Evaluation(info.run, index["domain"]), info.init, index["synthetic"], metrics,
                            {**runtime.provenance(cfg, seed, device),
                             "training_precision": info.provenance.get("training_precision", "float32")}, split)
