"""Ranked lists (visrank): seeded queries, junk left out, matches marked, the PNG's frames, the
`crgan visrank` command, and re-ranking through evaluation."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from conftest import CPU, save_network
from PIL import Image

from crgan.cli import main
from crgan.data.datasets import load_dataset
from crgan.eval.ranked_lists import MATCH, MISMATCH, choose_queries, draw_lists, ranked_lists
from crgan.eval.reid import evaluate_model
from crgan.io import write_json
from crgan.models.reid import build_reid


def test_queries_depend_on_the_seed_alone():
    assert choose_queries(100, 4, 7) == choose_queries(100, 4, 7) != choose_queries(100, 4, 8)
    assert choose_queries(3, 10, 0) == [0, 1, 2]


def test_lists_leave_out_same_camera_matches_and_mark_matches():
    dist = np.array([[0.1, 0.2, 0.3, 0.4, 0.5]])
    q_pids, q_cams = np.array([1]), np.array([0])
    g_pids, g_cams = np.array([1, 2, 1, 3, 1]), np.array([0, 1, 1, 0, 2])  # gallery 0: same person, same camera
    [item] = ranked_lists(dist, [0], q_pids, g_pids, q_cams, g_cams, top=3)
    assert item == {"query": 0, "gallery": [1, 2, 3], "match": [False, True, False]}


def test_strip_frames_matches_green_and_mistakes_red(synthetic_domain, tmp_path: Path):
    index = load_dataset("dukemtmc", synthetic_domain("dukemtmc"))
    lists = [{"query": 0, "gallery": [0, 1], "match": [True, False]}]
    png = draw_lists(index, lists, tmp_path / "strip.png", size=(16, 8), border=2, gap=4)
    with Image.open(png) as im:
        pixels = im.convert("RGB")
        tile = 8 + 4  # width plus both borders
        first, second = tile + 4, tile + 4 + tile + 2  # gallery tiles after the query and the gap
        assert pixels.getpixel((first, 0)) == MATCH and pixels.getpixel((second, 0)) == MISMATCH


def test_visrank_command_and_reranked_evaluation(synthetic_domain, tmp_path: Path):
    index = load_dataset("dukemtmc", synthetic_domain("dukemtmc"))
    write_json(tmp_path / "index.json", index)
    torch.manual_seed(0)
    model, _ = build_reid({"arch": "compact", "width": 4, "last_stride": 1}, index["train_ids"])
    model_file = save_network(tmp_path / "model.pt", model, "dukemtmc", {"arch": "compact", "width": 4, "last_stride": 1},
                              index["train_ids"])
    cfg = {"data": {"height": 32, "width": 16, "workers": 0, "source": "synthetic"}, "device": "cpu",
           "eval": {"ranked_queries": 3, "ranked_top": 4, "ranked_seed": 1}}
    assert main(["visrank", "--config-json", json.dumps(cfg), "--model", str(model_file), "--index",
                 str(tmp_path / "index.json"), "--out", str(tmp_path / "out")]) == 0
    ranked = json.loads((tmp_path / "out" / "dukemtmc_ranked.json").read_text())
    assert [item["query"] for item in ranked["lists"]] == choose_queries(len(index["splits"]["query"]), 3, 1)
    assert all(len(item["gallery"]) == 4 for item in ranked["lists"])
    assert (tmp_path / "out" / "dukemtmc_ranked.png").is_file()
    eval_cfg = {"metric": "euclidean", "lmp_parts": 2, "max_rank": 5, "batch_size": 64, "ranked_queries": 2,
                "ranked_top": 5, "ranked_seed": 0, "rerank": True, "rerank_k1": 6, "rerank_k2": 3, "rerank_lambda": 0.3}
    plain = evaluate_model(model, index, {**cfg, "eval": {**eval_cfg, "rerank": False}}, CPU)
    reranked = evaluate_model(model, index, {**cfg, "eval": eval_cfg}, CPU)
    assert plain["rerank"] is None and reranked["rerank"] == {"k1": 6, "k2": 3, "lambda": 0.3}
    assert reranked["gap"]["cmc"] != plain["gap"]["cmc"] or reranked["gap"]["map"] != plain["gap"]["map"]
