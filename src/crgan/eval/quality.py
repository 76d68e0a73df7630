"""Image quality of generated data, Tables 1 and 4 (Section 4.1): LPIPS, FID and KID.

One selection per pair and seed serves every method: ``sources`` source training images, each
paired with ``contexts`` target instances (image and person mask); ``real_images`` distinct source
images, each paired with one target instance, and as many real target images. A method is a
renderer ``(XS, XT, MT) -> images``:

- LPIPS, the paper's "translation diversity" (the reading of docs/assumptions.md): the mean LPIPS
  between each source image XS and its rendering XG, over every (source, context) pair of the
  selection: how far rendering moves an image. The "source-target data" row, its upper bound, is
  the mean LPIPS between XS and the target instance XT over the same pairs.
- ``lpips_diversity`` (not in the paper): per source image, the mean LPIPS over all pairs of its
  renderings into the different contexts, averaged over source images (the data row: over its
  target instances). A renderer that ignores XT (SPGAN, w/o dual condition) has 0 by definition.
- Both LPIPS values also by region: over the source person (``lpips_person``, its mask MF) and over
  the background (``lpips_background``), beside the whole image.
- FID on distinct samples: the ``real_images`` distinct source images, each rendered into its one
  context, against as many real target images (the data row: the source images themselves), so
  every method's covariance comes from as many independent images. KID (unbiased; not in the
  paper) beside it, since FID is biased on small sets.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from crgan.data.datasets import records_of
from crgan.data.images import MaskedImages
from crgan.eval.quality_nets import FidNet, LpipsNet

#: (XS, XT, MT), all (N, C, H, W), images in [-1, 1] -> renderings (N, 3, H, W) in [-1, 1].
Renderer = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _unit(f: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Unit length along channels, as lpips.normalize_tensor."""
    return f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


#: The regions LPIPS is averaged over: the whole image, the source person (MF), the background (1 - MF).
REGIONS = ("", "person", "background")


def region_weights(mask: torch.Tensor | None, size: tuple[int, int]) -> dict[str, torch.Tensor | None]:
    """Per-position weights (N, h, w) of each region at one layer's size (``None``: uniform; the
    person mask (N, 1, H, W) resized by area averaging)."""
    if mask is None:
        return {"": None}
    person = F.interpolate(mask.float(), size=size, mode="area").squeeze(1)
    return {"": None, "person": person, "background": 1 - person}


def lpips_between(net: LpipsNet, a: list[torch.Tensor], b: list[torch.Tensor],
                  mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """LPIPS of each pair of images given their layer features ``a[k][i]`` and ``b[k][i]``: per
    layer, the channel-weighted squared difference of unit-normalised features, averaged over space;
    by region: over the whole image (key ``""``) and, given the person mask (N, 1, H, W) of the
    first images, over the person and over the background (area-weighted at each layer's size)."""
    totals: dict[str, torch.Tensor] = {}
    for fa, fb, w in zip(a, b, net.weights):
        d = (_unit(fa) - _unit(fb)).pow(2)
        d = d.sum(dim=1) if w is None else (d * w.view(1, -1, 1, 1)).sum(dim=1)
        for region, weight in region_weights(mask, tuple(d.shape[-2:])).items():
            value = d.mean(dim=(1, 2)) if weight is None else \
                (d * weight).sum(dim=(1, 2)) / weight.sum(dim=(1, 2)).clamp_min(1e-6)
            totals[region] = totals[region] + value if region in totals else value
    return totals


def metric_name(base: str, kind: str, region: str) -> str:
    """``lpips`` -> ``lpips_diversity_person``, keeping a stand-in's ``_substitute`` suffix."""
    stand_in = base.endswith("_substitute")
    name = "_".join(part for part in (base.removesuffix("_substitute"), kind, region) if part)
    return name + ("_substitute" if stand_in else "")


def lpips_diversity(net: LpipsNet, renderings: torch.Tensor, masks: torch.Tensor | None = None) -> dict[str, float]:
    """Mean over groups (dim 0) of the mean LPIPS over all pairs within a group (dim 1), by region
    (``masks``: one person mask (G, 1, H, W) per group, its source's)."""
    per_group: dict[str, list[float]] = {}
    for g, group in enumerate(renderings):
        feats = net.layers(group)
        i, j = map(list, zip(*itertools.combinations(range(len(group)), 2)))
        mask = None if masks is None else masks[g:g + 1].expand(len(i), -1, -1, -1)
        for region, value in lpips_between(net, [f[i] for f in feats], [f[j] for f in feats], mask).items():
            per_group.setdefault(region, []).append(value.mean().item())
    return {region: float(np.mean(values)) for region, values in per_group.items()}


def lpips_paired(net: LpipsNet, a: torch.Tensor, b: torch.Tensor, batch: int,
                 mask: torch.Tensor | None = None) -> dict[str, float]:
    """Mean LPIPS between ``a[i]`` and ``b[i]``, by region (``mask``: the person masks of ``a``)."""
    out: dict[str, list[torch.Tensor]] = {}
    for s in range(0, len(a), batch):
        m = None if mask is None else mask[s:s + batch]
        for region, value in lpips_between(net, net.layers(a[s:s + batch]), net.layers(b[s:s + batch]), m).items():
            out.setdefault(region, []).append(value)
    return {region: torch.cat(values).mean().item() for region, values in out.items()}


def features(net: FidNet, images: torch.Tensor, batch: int) -> np.ndarray:
    return torch.cat([net.features(images[s:s + batch]) for s in range(0, len(images), batch)]).double().cpu().numpy()


#: The diagonal offset the Fréchet distance adds when the product of covariances is singular (pytorch-fid's).
SINGULAR_OFFSET = 1e-6


def frechet_distance(fa: np.ndarray, fb: np.ndarray) -> float:
    """FID between two feature sets: |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), with the
    matrix square root taken as pytorch-fid takes it (SciPy's sqrtm; a small diagonal offset when the
    product is singular; the real part). Computed here so a quality job does not import pytorch-fid,
    whose module imports torchvision (seconds); a test checks it equals pytorch-fid's."""
    from scipy import linalg

    mu_a, mu_b = fa.mean(0), fb.mean(0)
    sigma_a, sigma_b = np.atleast_2d(np.cov(fa, rowvar=False)), np.atleast_2d(np.cov(fb, rowvar=False))
    root = linalg.sqrtm(sigma_a @ sigma_b)  # disp=False (pytorch-fid's) is deprecated in SciPy 1.17: same root
    if not np.isfinite(root).all():
        offset = np.eye(len(sigma_a)) * SINGULAR_OFFSET
        root = linalg.sqrtm((sigma_a + offset) @ (sigma_b + offset))
    if np.iscomplexobj(root):
        if not np.allclose(np.diagonal(root).imag, 0, atol=1e-3):
            raise ValueError(f"FID: the matrix square root has an imaginary part of {np.abs(root.imag).max():.3g}")
        root = root.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(sigma_a) + np.trace(sigma_b) - 2 * np.trace(root))


def kernel_inception_distance(fa: np.ndarray, fb: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3 (Binkowski et al.)."""
    d = fa.shape[1]
    kaa, kbb, kab = ((x @ y.T / d + 1) ** 3 for x, y in ((fa, fa), (fb, fb), (fa, fb)))
    m, n = len(fa), len(fb)
    return float((kaa.sum() - np.trace(kaa)) / (m * (m - 1)) + (kbb.sum() - np.trace(kbb)) / (n * (n - 1))
                 - 2 * kab.mean())


@dataclass
class Selection:
    """The images every method of one pair and seed is measured on."""

    xs: torch.Tensor  # (S, 3, H, W) source images
    ms: torch.Tensor  # (S, 1, H, W) their person masks (MF)
    xt: torch.Tensor  # (S, M, 3, H, W) target instances per source image
    mt: torch.Tensor  # (S, M, 1, H, W) their person masks
    real_source: torch.Tensor  # (R, 3, H, W) distinct source images (FID: rendered once each)
    real_context: torch.Tensor  # (R, 3, H, W) one target instance per real source image
    real_context_mask: torch.Tensor  # (R, 1, H, W) its person mask
    real_target: torch.Tensor  # (R, 3, H, W) distinct real target images

    def xs_per_context(self) -> torch.Tensor:
        """Each source image repeated once per context: (S * M, 3, H, W), in ``xt.flatten(0, 1)`` order."""
        return self.xs.repeat_interleave(self.xt.shape[1], dim=0)

    def ms_per_context(self) -> torch.Tensor:
        """Each source person mask repeated once per context, as :meth:`xs_per_context`."""
        return self.ms.repeat_interleave(self.xt.shape[1], dim=0)


def _stack(ds: MaskedImages, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    items = [ds[int(i)] for i in idx]
    return torch.stack([x for x, *_ in items]), torch.stack([m for _, m, *_ in items])


def select(source: dict, target: dict, source_masks: str, target_masks: str, quality_cfg: dict, data_cfg: dict,
           seed: int) -> Selection:
    """A seeded draw (without augmentation) from the two training splits; sizes capped by the data."""
    rng = np.random.default_rng(seed)
    size = (data_cfg["height"], data_cfg["width"])
    src = MaskedImages(source["root"], source_masks, records_of(source, "train"), *size, train=False)
    tgt = MaskedImages(target["root"], target_masks, records_of(target, "train"), *size, train=False)
    n_src, m = min(quality_cfg["sources"], len(src)), quality_cfg["contexts"]
    xs, ms = _stack(src, rng.choice(len(src), n_src, replace=False))
    xt, mt = _stack(tgt, rng.choice(len(tgt), n_src * m, replace=len(tgt) < n_src * m))
    n_real = min(quality_cfg["real_images"], len(src), len(tgt))
    real_source = _stack(src, rng.choice(len(src), n_real, replace=False))[0]
    real_target = _stack(tgt, rng.choice(len(tgt), n_real, replace=False))[0]
    real_context, real_context_mask = _stack(tgt, rng.choice(len(tgt), n_real, replace=False))
    return Selection(xs, ms, xt.view(n_src, m, *xt.shape[1:]), mt.view(n_src, m, *mt.shape[1:]), real_source,
                     real_context, real_context_mask, real_target)


def render_batched(render: Renderer, xs: torch.Tensor, xt: torch.Tensor, mt: torch.Tensor, batch: int,
                   dev: torch.device) -> torch.Tensor:
    """``render`` over aligned (N, ...) batches of sources, contexts and masks; (N, 3, H, W) on the CPU."""
    return torch.cat([render(xs[i:i + batch].to(dev), xt[i:i + batch].to(dev), mt[i:i + batch].to(dev)).cpu()
                      for i in range(0, len(xs), batch)])


@torch.no_grad()
def measure(render: Renderer | None, sel: Selection, lp: LpipsNet, fid: FidNet, batch: int,
            dev: torch.device) -> tuple[dict[str, float], torch.Tensor]:
    """Metrics of one method and its images (S, M, 3, H, W); ``render=None`` measures the data
    itself (the "source-target data" row), whose images are the target instances."""
    real_target = features(fid, sel.real_target.to(dev), batch)
    xs = sel.xs_per_context()
    if render is None:
        images, fid_images = sel.xt, sel.real_source
    else:
        images = render_batched(render, xs, sel.xt.flatten(0, 1), sel.mt.flatten(0, 1), batch, dev).view(sel.xt.shape)
        fid_images = render_batched(render, sel.real_source, sel.real_context, sel.real_context_mask, batch, dev)
    fake = features(fid, fid_images.to(dev), batch)
    paired = lpips_paired(lp, xs.to(dev), images.flatten(0, 1).to(dev), batch, sel.ms_per_context().to(dev))
    diversity = lpips_diversity(lp, images.to(dev), sel.ms.to(dev))
    metrics = {**{metric_name(lp.metric, "", region): value for region, value in paired.items()},
               **{metric_name(lp.metric, "diversity", region): value for region, value in diversity.items()},
               fid.metric: frechet_distance(fake, real_target),
               fid.metric.replace("fid", "kid"): kernel_inception_distance(fake, real_target)}
    return metrics, images
