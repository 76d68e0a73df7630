"""Checks before any job runs: the data roots and the pretrained weights a configuration needs.

``crgan validate-config`` prints the table and the Snakefile runs the same checks before the
first job, so a missing folder or weights file is found in a second, not after hours of
training. Each row says what was looked for, where, and what happens without it:

- ``error``: the run cannot go on (a missing dataset root or layout, segmentation weights for
  ``masks.method: segmentation``, ImageNet weights for a real-data ResNet unless
  ``reid.allow_scratch`` is true: a from-scratch ResNet50 is not the paper's experiment);
- ``scratch``: networks start from random weights (said in every table's ``init`` column);
- ``substitute``: LPIPS/FID run on the named substitute network (said in Tables 1 and 4).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crgan.data.layouts import LAYOUTS
from crgan.errors import WeightsError
from crgan.weights import (
    ALEXNET_HUB_FILES,
    INCEPTION_HUB_FILES,
    RESNET_HUB_FILES,
    SEGMENTATION_HUB_FILES,
    find_weights,
    hub_cache_dir,
)


@dataclass(frozen=True)
class Check:
    """One thing a run needs: what, where it was looked for, whether it was found, and what happens without it."""

    what: str
    where: str
    found: bool
    without: str  # "error", "scratch" or "substitute"

    @property
    def fatal(self) -> bool:
        return not self.found and self.without == "error"


def _weights(what: str, configured: str | None, hub_names: list[str], without: str) -> Check:
    try:
        path = find_weights(configured, hub_names)
    except WeightsError:  # a configured file that does not exist
        return Check(what, str(configured), False, "error")
    where = str(path) if path else f"{configured or hub_cache_dir() / hub_names[0]}"
    return Check(what, where, path is not None, without)


def _root(cfg: dict[str, Any], domain: str) -> Check:
    """A real dataset root: the folder and each of its split folders with at least one image."""
    layout = LAYOUTS[domain]
    root = cfg["data"]["roots"].get(domain)
    if not root:
        return Check(f"{layout.title} root (data.roots.{domain})", "not set", False, "error")
    missing = [sub for sub in layout.split_dirs.values() if not (Path(root) / sub).is_dir()]
    where = f"{root}" + (f" (no {', '.join(missing)}/)" if missing and Path(root).is_dir() else "")
    return Check(f"{layout.title} root (data.roots.{domain})", where, Path(root).is_dir() and not missing, "error")


def checks(cfg: dict[str, Any]) -> list[Check]:
    """Everything ``cfg`` needs from the disk before its first job."""
    out: list[Check] = []
    domains = sorted({d for pair in cfg["pairs"] + cfg["cuhk03_pairs"] for d in pair})
    if cfg["data"]["source"] == "real":
        out += [_root(cfg, domain) for domain in domains]
    reid = cfg["reid"]
    if reid["arch"] != "compact":
        scratch_ok = cfg["data"]["source"] == "synthetic" or reid.get("allow_scratch", False)
        out.append(_weights(f"ImageNet {reid['arch']} (reid.pretrained)", reid.get("pretrained"),
                            RESNET_HUB_FILES[reid["arch"]], "scratch" if scratch_ok else "error"))
    masks = cfg["masks"]
    if masks["method"] == "segmentation":
        out.append(_weights(f"{masks['segmentation_model']} (masks.segmentation_weights)",
                            masks.get("segmentation_weights"), [SEGMENTATION_HUB_FILES[masks["segmentation_model"]]],
                            "error"))
    elif masks["method"] == "directory":
        folder = Path(masks["directory"] or "")
        out.append(Check("person masks (masks.directory)", str(folder), folder.is_dir(), "error"))
    quality = cfg.get("quality", {})
    out.append(_weights("ImageNet AlexNet for LPIPS (quality.alexnet)", quality.get("alexnet"), ALEXNET_HUB_FILES,
                        "substitute"))
    out.append(_weights("FID Inception (quality.inception)", quality.get("inception"), INCEPTION_HUB_FILES, "substitute"))
    return out


def table(rows: list[Check]) -> str:
    """The checks as an aligned text table: what, found or missing, where, and what happens without it."""
    consequence = {"error": "the run stops", "scratch": "trains from scratch", "substitute": "named substitute"}
    lines = [f"{'needed':<56} {'status':<8} {'without it':<20} where"]
    for row in rows:
        lines.append(f"{row.what:<56} {'found' if row.found else 'MISSING':<8} "
                     f"{'-' if row.found else consequence[row.without]:<20} {row.where}")
    return "\n".join(lines)
