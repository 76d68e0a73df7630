"""One method's images measured for a pair (Tables 1 and 4): the feature networks, the seeded
selection of sources and contexts, the renderings, the metrics, the figure and the record."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from crgan import runtime
from crgan.eval import quality
from crgan.eval.quality_nets import quality_nets
from crgan.eval.renderers import load_renderer
from crgan.grids import write_grid
from crgan.models.store import load_network
from crgan.records import QualityRecord


def measure_method(method: str, source: dict, target: dict, masks: tuple[str, str], generator: Path | None,
                   substitute: Path, cfg: dict[str, Any], seed: int, figure: Path,
                   device: torch.device) -> QualityRecord:
    """LPIPS, FID and KID of ``method``'s images for ``source`` -> ``target`` (``generator`` renders
    them; none for the data itself), with ImageNet feature networks or, where their weights are
    absent, the ``substitute`` re-id network; ``masks`` are the source and target mask folders;
    writes ``figure`` (source persons and their renderings)."""
    quality_cfg = cfg["quality"]

    def substitute_network():
        model, info = load_network(substitute, device)
        return model, (f"{info.arch['arch']} re-id network trained on {info.domain} labels in this "
                       f"workflow ({substitute})")

    lp, fid = quality_nets(quality_cfg, substitute_network, device)
    render = load_renderer(method, generator, device)
    sel = quality.select(source, target, *masks, quality_cfg, cfg["data"], seed)
    metrics, images = quality.measure(render, sel, lp, fid, quality_cfg["batch_size"], device)
    shown = min(quality_cfg["figure_sources"], len(sel.xs))
    write_grid([torch.cat([sel.xs[i:i + 1], images[i]]) for i in range(shown)], figure)
    return QualityRecord(method, source["domain"], target["domain"], seed, target["synthetic"], metrics,
                         {"lpips": lp.backbone, "fid": fid.backbone},
                         {"sources": len(sel.xs), "contexts": sel.xt.shape[1], "real_images": len(sel.real_target)},
                         None if generator is None else str(generator), runtime.provenance(cfg, seed, device))
