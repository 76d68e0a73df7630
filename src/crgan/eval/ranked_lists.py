"""Ranked lists, as torchreid's visrank: a few queries with their top gallery images, correct
matches framed green and wrong ones red.

The queries are chosen from the test set by a seed alone (``eval.ranked_seed``), so every method
evaluated on a domain shows the same queries. Gallery images of the query's identity and camera
are left out, as the CMC/mAP protocol does. An evaluation stores the lists (indices into the
query and gallery splits, and whether each is a match); :func:`draw_lists` turns them into a PNG
strip from the dataset's images.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from crgan.data.datasets import records_of
from crgan.io import atomic_file

#: Frame colours of a correct and a wrong match.
MATCH, MISMATCH = (0, 170, 0), (220, 0, 0)


def choose_queries(num_query: int, count: int, seed: int) -> list[int]:
    """``count`` query indices drawn from ``seed`` alone (the same for every method), in order."""
    return sorted(np.random.default_rng(seed).choice(num_query, size=min(count, num_query), replace=False).tolist())


def ranked_lists(rows: np.ndarray, queries: list[int], q_pids: np.ndarray, g_pids: np.ndarray,
                 q_cams: np.ndarray, g_cams: np.ndarray, top: int) -> list[dict[str, Any]]:
    """For each query index, from its row of gallery distances (``rows[i]`` belongs to ``queries[i]``):
    its ``top`` closest gallery indices (junk left out) and which match."""
    lists = []
    for row, q in zip(rows, queries):
        order = np.argsort(row, kind="stable")
        keep = order[~((g_pids[order] == q_pids[q]) & (g_cams[order] == q_cams[q]))][:top]
        lists.append({"query": int(q), "gallery": keep.tolist(), "match": (g_pids[keep] == q_pids[q]).tolist()})
    return lists


def _tile(path: Path, size: tuple[int, int], colour: tuple[int, int, int] | None, border: int) -> Image.Image:
    h, w = size
    tile = Image.new("RGB", (w + 2 * border, h + 2 * border), colour or (255, 255, 255))
    with Image.open(path) as im:
        tile.paste(im.convert("RGB").resize((w, h), Image.BILINEAR), (border, border))
    return tile


def draw_lists(index: dict, lists: list[dict[str, Any]], out: str | Path, size: tuple[int, int] = (64, 32),
               border: int = 3, gap: int = 12) -> Path:
    """An image (PNG, or JPEG for a .jpg path) with one row per query: the query, then its ranked
    gallery images framed green (match) or red (wrong), written atomically."""
    root = Path(index["root"])
    query, gallery = records_of(index, "query"), records_of(index, "gallery")
    h, w = size[0] + 2 * border, size[1] + 2 * border
    columns = max((len(item["gallery"]) for item in lists), default=0)
    canvas = Image.new("RGB", (w * (columns + 1) + gap + border * columns, max(1, len(lists)) * (h + border)),
                       (255, 255, 255))
    for row, item in enumerate(lists):
        y = row * (h + border)
        canvas.paste(_tile(root / query[item["query"]].path, size, (90, 90, 90), border), (0, y))
        for col, (g, match) in enumerate(zip(item["gallery"], item["match"])):
            x = w + gap + col * (w + border)
            canvas.paste(_tile(root / gallery[g].path, size, MATCH if match else MISMATCH, border), (x, y))
    ImageDraw.Draw(canvas).line([(w + gap // 2, 0), (w + gap // 2, canvas.height)], fill=(180, 180, 180))
    with atomic_file(out) as tmp:
        canvas.save(tmp, format="JPEG" if Path(out).suffix.lower() in (".jpg", ".jpeg") else "PNG", quality=80)
    return Path(out)
