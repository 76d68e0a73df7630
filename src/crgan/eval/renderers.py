"""Each method of Tables 1 and 4 as a renderer (XS, XT, MT) -> images, loaded from its trained file."""
from __future__ import annotations

from pathlib import Path

import torch

from crgan.errors import WeightsError
from crgan.eval.quality import Renderer
from crgan.models.generator import masked_target


def load_renderer(method: str, path: Path | None, dev: torch.device) -> Renderer | None:
    """The method's renderer; ``None`` for the data itself ("source-target", which needs no file)."""
    if method == "source-target":
        return None
    if path is None:
        raise WeightsError(f"quality of {method} needs its generator file")
    if method == "spgan":
        from crgan.train.spgan import load_translator

        g, _ = load_translator(path, dev)
        return lambda xs, xt, mt: g(xs)
    from crgan.train.finetune import load_generator

    g, meta = load_generator(path, dev)
    if meta["variant"] != method:
        raise WeightsError(f"{path} is a {meta['variant']} generator, not {method}")
    return lambda xs, xt, mt: g(xs, masked_target(xt, mt) if g.dual else None)[0]
