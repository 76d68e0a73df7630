"""Person masks for every image of a domain: ground truth, a segmentation model, or a folder.

Output mirrors the dataset tree (``<split dir>/<image stem>.png``, 255 = person) plus a
``summary.json`` with coverage statistics and, where ground truth exists, the IoU against it.
"""
from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from crgan.data.datasets import Record, records_of
from crgan.errors import DatasetError, WeightsError
from crgan.io import atomic_dir, write_json
from crgan.runs import draw_seed
from crgan.weights import SEGMENTATION_HUB_FILES, find_weights, load_state_dict_checked

log = logging.getLogger(__name__)

VOC_PERSON = 15


def mask_path(rec: Record) -> Path:
    """Where an image's mask lives, relative to a mask root (same tree, PNG)."""
    return Path(rec.path).with_suffix(".png")


def _read_mask(path: Path, size: tuple[int, int], what: str) -> np.ndarray:
    if not path.is_file():
        raise DatasetError(f"missing mask {path} ({what})")
    try:
        with Image.open(path) as im:
            m = np.asarray(im.convert("L"))
    except Exception as exc:
        raise DatasetError(f"unreadable mask {path}: {exc}") from None
    if m.shape != size:
        raise DatasetError(f"mask {path} is {m.shape[1]}x{m.shape[0]} but its image is {size[1]}x{size[0]}")
    return m > 127


def segmentation_masker(cfg: dict[str, Any], dev: torch.device) -> Callable[[Image.Image], np.ndarray]:
    """A function image -> person mask from torchvision's segmentation model (VOC class 15)."""
    from torchvision.models import segmentation

    name = cfg["segmentation_model"]
    path = find_weights(cfg["segmentation_weights"], [SEGMENTATION_HUB_FILES[name]])
    if path is None:
        raise WeightsError(f"masks.method 'segmentation' needs {name} weights: put {SEGMENTATION_HUB_FILES[name]} in "
                           f"$TORCH_HOME/hub/checkpoints/ or set masks.segmentation_weights to its path")
    net = getattr(segmentation, name)(weights=None, weights_backbone=None, aux_loss=True, num_classes=21)
    load_state_dict_checked(net, path, f"torchvision {name}")
    net.eval().to(dev)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)

    @torch.no_grad()
    def predict(img: Image.Image) -> np.ndarray:
        x = torch.from_numpy(np.array(img.convert("RGB"))).permute(2, 0, 1).float() / 255
        prob = net(((x - mean) / std)[None].to(dev))["out"].softmax(1)[0, VOC_PERSON]
        return (prob > cfg["threshold"]).cpu().numpy()

    return predict


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def parser_errors(mask: np.ndarray, target_iou: float, rng: np.random.Generator) -> np.ndarray:
    """``mask`` with the kind of errors a human parser makes, at an IoU of about ``target_iou`` with it.

    A soft signed map of the mask (its blur, positive inside) plus a smooth random field (noise on a
    grid of ~8 pixels, upsampled) is thresholded at 0: the boundary moves by blobs, so parts go
    missing and background bleeds in, as in real parser output; the field's amplitude is found by
    bisection so that the IoU with ``mask`` is the image's own target: ``target_iou`` plus a normal
    spread of 0.07 (clipped to [0.3, 0.98]), as a parser is better on some images than on others.
    """
    target_iou = float(np.clip(target_iou + 0.07 * rng.standard_normal(), 0.3, 0.98))
    h, w = mask.shape
    soft = torch.from_numpy(mask.astype(np.float32) * 2 - 1)[None, None]
    soft = F.avg_pool2d(F.pad(soft, (2, 2, 2, 2), mode="replicate"), 5, stride=1)[0, 0].numpy()
    coarse = torch.from_numpy(rng.standard_normal((1, 1, max(2, h // 8), max(2, w // 8))).astype(np.float32))
    field = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)[0, 0].numpy()
    low, high = 0.0, 8.0
    out = mask
    for _ in range(30):
        amplitude = (low + high) / 2
        out = soft + amplitude * field > 0
        iou = _iou(out, mask)
        if abs(iou - target_iou) < 0.01:
            break
        low, high = (amplitude, high) if iou > target_iou else (low, amplitude)
    return out


def make_masks(index: dict, cfg: dict[str, Any], out: Path, dev: torch.device, draw: int = 0) -> dict[str, Any]:
    """Write one mask per image of the train, query and gallery splits into ``out`` (atomically; the
    validation split is only ever evaluated) and return the summary;
    ``draw`` is the seed bundle's draw of the parser errors (seeded ``masks.parser_seed + draw``)."""
    masks_cfg, root = cfg["masks"], Path(index["root"])
    gt_root = root / "masks" if (root / "masks").is_dir() else None
    if masks_cfg["method"] == "groundtruth" and gt_root is None:
        raise DatasetError(f"masks.method 'groundtruth' but {root / 'masks'} does not exist "
                           f"(only the synthetic benchmark ships ground-truth masks)")
    if masks_cfg["method"] == "directory":
        src_root = Path(masks_cfg["directory"]) / index["domain"]
        if not src_root.is_dir():
            raise DatasetError(f"masks.directory: missing folder {src_root} (expected one sub-folder per domain)")
    predict = segmentation_masker(masks_cfg, dev) if masks_cfg["method"] == "segmentation" else None
    coverage, ious = [], []
    with atomic_dir(out) as tmp:
        recs = [r for split in ("train", "query", "gallery") for r in records_of(index, split)]
        for rec in tqdm(recs, desc=f"masks {index['domain']}", mininterval=5, leave=False):
            with Image.open(root / rec.path) as img:
                size = (img.height, img.width)
                gt = _read_mask(gt_root / mask_path(rec), size, "synthetic ground truth") if gt_root else None
                if masks_cfg["method"] == "groundtruth":
                    mask = gt
                    if masks_cfg.get("parser_iou") is not None:  # seeded per image: any subset, same masks
                        rng = np.random.default_rng([draw_seed(masks_cfg.get("parser_seed", 0), draw),
                                                     zlib.crc32(rec.path.encode())])
                        mask = parser_errors(mask, masks_cfg["parser_iou"], rng)
                elif masks_cfg["method"] == "directory":
                    mask = _read_mask(src_root / mask_path(rec), size, f"from masks.directory for {root / rec.path}")
                else:
                    mask = predict(img)
            dst = tmp / mask_path(rec)
            dst.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask.astype(np.uint8) * 255).save(dst)
            coverage.append(float(mask.mean()))
            if gt is not None:
                ious.append(_iou(mask, gt))
        cov = np.array(coverage)
        summary = {"domain": index["domain"], "method": masks_cfg["method"], "parser_iou": masks_cfg.get("parser_iou"),
                   "images": len(recs),
                   "coverage_mean": float(cov.mean()), "coverage_std": float(cov.std()),
                   "coverage_min": float(cov.min()), "coverage_max": float(cov.max()),
                   "empty_masks": int((cov == 0).sum()),
                   "iou_vs_groundtruth": float(np.mean(ious)) if ious else None}
        write_json(tmp / "summary.json", summary)
    if summary["empty_masks"]:
        log.warning("%d of %d masks of %s are empty", summary["empty_masks"], len(recs), index["domain"])
    return summary
