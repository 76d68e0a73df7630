"""Each method of Tables 1 and 4 as a renderer (XS, XT, MT) -> images, loaded from its trained file."""
from __future__ import annotations

from pathlib import Path

import torch

from crgan.errors import WeightsError
from crgan.eval.quality import Renderer
from crgan.models.generator import masked_target
from crgan.models.store import load_generator, load_translator


def load_renderer(method: str, path: Path | None, device: torch.device) -> Renderer | None:
    """The method's renderer; ``None`` for the data itself ("source-target", which needs no file)."""
    if method == "source-target":
        return None
    if path is None:
        raise WeightsError(f"quality of {method} needs its generator file")
    if method == "spgan":
        g, _ = load_translator(path, device)
        return lambda xs, xt, mt: g(xs)
    g, info = load_generator(path, device)
    if info.run.variant != method:
        raise WeightsError(f"{path} is a {info.run.variant} generator, not {method}")
    return lambda xs, xt, mt: g(xs, masked_target(xt, mt) if g.dual else None)[0]
