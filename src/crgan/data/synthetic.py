"""Embedded synthetic re-id benchmark: procedural persons rendered into domain contexts.

Identity lives in the person (body proportions, clothing colours and patterns,
accessories); the domain gap lives mostly in the context (background structure,
palette, lighting and colour tone that also tint the person, blur, noise) and in the
cameras (tint, brightness, viewpoint bias, a fixed scene layout per camera). The
``context_gap`` knob interpolates every domain style towards a shared neutral style:
at 0 the domains differ only in their identities, at 1 they look as designed.

Each domain is written in its real dataset's layout and file naming, so the same
parsers (:mod:`crgan.data.datasets`) read synthetic and real data.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from crgan.data.layouts import LAYOUTS, DomainLayout
from crgan.io import atomic_dir

#: Style of each synthetic domain. ``tone`` is a colour cast applied to the whole frame
#: (persons included), ``bg`` the background structure, ``palette`` its colours.
DOMAIN_STYLES: dict[str, dict[str, Any]] = {
    "market1501": dict(bg="facade", tone=(1.10, 1.00, 0.86), brightness=1.05, contrast=1.05,
                       palette=[(0.78, 0.74, 0.66), (0.55, 0.50, 0.42), (0.40, 0.55, 0.35),
                                (0.85, 0.83, 0.78), (0.62, 0.36, 0.28)],
                       blur=0.3, noise=0.015, light=(0.25, 0.0), crop_jitter=0.03),
    "dukemtmc": dict(bg="foliage", tone=(0.86, 0.96, 1.14), brightness=0.92, contrast=0.85,
                     palette=[(0.90, 0.92, 0.95), (0.30, 0.35, 0.32), (0.45, 0.42, 0.50),
                              (0.20, 0.24, 0.30), (0.66, 0.70, 0.74)],
                     blur=0.7, noise=0.03, light=(-0.15, 0.2), crop_jitter=0.05),
    "cuhk03": dict(bg="tiles", tone=(0.90, 1.12, 0.92), brightness=0.85, contrast=0.75,
                   palette=[(0.70, 0.72, 0.60), (0.52, 0.50, 0.48), (0.82, 0.80, 0.70),
                            (0.35, 0.40, 0.38), (0.60, 0.66, 0.52)],
                   blur=1.0, noise=0.05, light=(0.0, -0.3), crop_jitter=0.10),
}
NEUTRAL_STYLE: dict[str, Any] = dict(tone=(1.0, 1.0, 1.0), brightness=1.0, contrast=1.0,
                                     palette=[(0.5, 0.5, 0.5)] * 5, blur=0.5, noise=0.02,
                                     light=(0.0, 0.0), crop_jitter=0.05)

SKIN = np.array([(0.93, 0.78, 0.65), (0.80, 0.60, 0.45), (0.60, 0.42, 0.30), (0.40, 0.28, 0.20)])
HAIR = np.array([(0.08, 0.06, 0.05), (0.30, 0.18, 0.10), (0.75, 0.60, 0.35), (0.55, 0.55, 0.55)])


@dataclass(frozen=True)
class Identity:
    """What makes a person recognisable: fixed across all of their images."""

    skin: np.ndarray
    hair: np.ndarray
    long_hair: bool
    upper: np.ndarray
    upper_pattern: int  # 0 solid, 1 horizontal stripes, 2 vertical stripes, 3 checks, 4 two-tone
    pattern_colour: np.ndarray
    period: float
    long_sleeves: bool
    lower: np.ndarray
    lower_kind: int  # 0 trousers, 1 shorts, 2 skirt
    shoes: np.ndarray
    accessory: int  # 0 none, 1 backpack, 2 shoulder bag, 3 hat
    accessory_colour: np.ndarray
    height: float
    shoulders: float


def _hsv_colour(rng: np.random.Generator) -> np.ndarray:
    """A clothing colour: saturated or greyish, bright or dark."""
    h = rng.random()
    s = rng.choice([rng.uniform(0.0, 0.15), rng.uniform(0.4, 0.9)], p=[0.3, 0.7])
    v = rng.uniform(0.15, 0.95)
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i])


def sample_identity(rng: np.random.Generator) -> Identity:
    return Identity(
        skin=SKIN[rng.integers(len(SKIN))], hair=HAIR[rng.integers(len(HAIR))],
        long_hair=bool(rng.random() < 0.35), upper=_hsv_colour(rng),
        upper_pattern=int(rng.choice(5, p=[0.4, 0.2, 0.15, 0.1, 0.15])),
        pattern_colour=_hsv_colour(rng), period=float(rng.uniform(5, 10)),
        long_sleeves=bool(rng.random() < 0.5), lower=_hsv_colour(rng),
        lower_kind=int(rng.choice(3, p=[0.65, 0.2, 0.15])), shoes=_hsv_colour(rng) * 0.6,
        accessory=int(rng.choice(4, p=[0.4, 0.3, 0.15, 0.15])), accessory_colour=_hsv_colour(rng),
        height=float(rng.uniform(0.80, 0.92)), shoulders=float(rng.uniform(0.30, 0.42)),
    )


def _lerp_style(style: dict[str, Any], gap: float) -> dict[str, Any]:
    """Move a domain style towards the neutral one; ``gap`` 1 keeps it, 0 neutralises it."""
    out = dict(style)
    for key in ("tone", "palette", "light"):
        a, b = np.asarray(NEUTRAL_STYLE[key], float), np.asarray(style[key], float)
        out[key] = a + gap * (b - a)
    for key in ("brightness", "contrast", "blur", "noise", "crop_jitter"):
        out[key] = NEUTRAL_STYLE[key] + gap * (style[key] - NEUTRAL_STYLE[key])
    return out


@dataclass(frozen=True)
class Camera:
    """One camera of a domain: its tint, exposure, viewpoint bias and fixed scene layout."""

    tint: np.ndarray
    brightness: float
    back_view: float  # probability of seeing a person from behind
    scene_seed: int
    palette_shift: int


def make_cameras(rng: np.random.Generator, n: int, gap: float) -> list[Camera]:
    return [Camera(tint=1 + gap * rng.uniform(-0.08, 0.08, 3), brightness=1 + gap * rng.uniform(-0.12, 0.12),
                   back_view=float(rng.uniform(0.2, 0.8)), scene_seed=int(rng.integers(2**31)),
                   palette_shift=int(rng.integers(5))) for _ in range(n)]


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return (yy + 0.5) / h, (xx + 0.5) / w


def render_background(kind: str, palette: np.ndarray, cam: Camera, h: int, w: int,
                      rng: np.random.Generator) -> np.ndarray:
    """A background of the domain's structure; its layout is fixed per camera, jittered per image."""
    yy, xx = _grid(h, w)
    scene = np.random.default_rng(cam.scene_seed)
    pal = np.roll(palette, cam.palette_shift, axis=0)
    shift = rng.uniform(-0.15, 0.15)
    img = np.empty((h, w, 3), np.float32)
    if kind == "facade":  # buildings: vertical pillars and windows above a paved ground
        img[:] = pal[0]
        for _ in range(4):
            x0, width = scene.uniform(-0.2, 1.0), scene.uniform(0.08, 0.3)
            m = (xx - shift > x0) & (xx - shift < x0 + width) & (yy < 0.7)
            img[m] = pal[scene.integers(1, 5)]
        win = ((np.floor((xx - shift) * 9) % 2) == 0) & ((np.floor(yy * 12) % 3) == 0) & (yy < 0.6)
        img[win] = img[win] * 0.6
        ground = yy > 0.7
        img[ground] = pal[3] * (0.85 + 0.15 * ((np.floor(yy[ground] * 30) % 2)[:, None]))
    elif kind == "foliage":  # trees, snow and parked cars: blobs and diagonal railings
        img[:] = pal[0]
        for _ in range(7):
            cy, cx, r = scene.uniform(0, 0.8), scene.uniform(-0.2, 1.2), scene.uniform(0.1, 0.35)
            d = ((yy - cy) / r) ** 2 + ((xx - cx - shift) / (r * 0.6)) ** 2
            img[d < 1] = pal[scene.integers(1, 5)]
        rail = ((np.floor((xx + yy * 0.7 + shift) * 10) % 4) == 0) & (yy > 0.55) & (yy < 0.75)
        img[rail] = pal[3]
        car = (yy > 0.6) & (np.abs(xx - 0.5 - shift * 2) < 0.35) & (scene.random() < 0.5)
        img[car] = pal[2]
    elif kind == "tiles":  # indoor corridor: wall band, tiled floor, strip lights
        img[:] = pal[2]
        img[yy < 0.45] = pal[0]
        period = scene.uniform(0.08, 0.16)
        lines = ((np.abs(((xx + shift) / period) % 1.0) < 0.12) | (np.abs((yy / (period * 1.5)) % 1.0) < 0.1)) & (yy > 0.45)
        img[lines] = pal[3]
        img[(yy < 0.06)] = pal[4] * 1.3
    else:
        raise ValueError(f"unknown background kind {kind!r}")
    return img + rng.normal(0, 0.02, (1, 1, 3)).astype(np.float32)


def render_person(ident: Identity, h: int, w: int, rng: np.random.Generator, back: bool,
                  crop_jitter: float) -> tuple[np.ndarray, np.ndarray]:
    """The person's colours (H, W, 3) and silhouette mask (H, W) for one pose and crop."""
    yy, xx = _grid(h, w)
    bh = ident.height * rng.uniform(0.94, 1.06)
    y0 = (1 - bh) / 2 + rng.uniform(-crop_jitter, crop_jitter)
    cx = 0.5 + rng.uniform(-crop_jitter, crop_jitter)
    u, x = (yy - y0) / bh, (xx - cx) / bh * (h / w) * 0.5  # body-relative coordinates
    stride = rng.uniform(0.0, 0.06)
    sw = ident.shoulders * 0.5  # shoulder half-width in body units
    img = np.zeros((h, w, 3), np.float32)
    mask = np.zeros((h, w), bool)

    def paint(region: np.ndarray, colour: np.ndarray) -> None:
        img[region] = colour
        mask[region] = True

    legs = (u > 0.52) & (u < 0.95) & ((np.abs(x - stride) < sw * 0.42) | (np.abs(x + stride) < sw * 0.42)) & (np.abs(x) < sw * 0.9 + stride)
    paint(legs, ident.lower)
    if ident.lower_kind == 1:  # shorts: skin below the knee
        paint(legs & (u > 0.70), ident.skin)
    elif ident.lower_kind == 2:  # skirt: a trapezoid over the thighs
        paint((u > 0.5) & (u < 0.72) & (np.abs(x) < sw * (0.7 + (u - 0.5) * 1.5)), ident.lower)
        paint(legs & (u > 0.72), ident.skin)
    paint((u >= 0.95) & (u < 1.0) & ((np.abs(x - stride) < sw * 0.45) | (np.abs(x + stride) < sw * 0.45)), ident.shoes)
    arm_swing = rng.uniform(-0.02, 0.02)
    arms = (u > 0.17) & (u < 0.52) & (np.abs(np.abs(x) - sw * 1.05 - arm_swing) < sw * 0.2)
    paint(arms, ident.upper if ident.long_sleeves else ident.skin)
    paint(arms & (u < 0.3), ident.upper)
    torso = (u > 0.15) & (u < 0.54) & (np.abs(x) < sw * (1.0 - 0.25 * (u - 0.15)))
    colour = np.broadcast_to(ident.upper, (h, w, 3)).copy()
    pattern = {1: (np.floor(u * ident.period * 3) % 2) == 1,
               2: (np.floor(x * ident.period * 6) % 2) == 1,
               3: ((np.floor(u * ident.period * 3) + np.floor(x * ident.period * 6)) % 2) == 1,
               4: x > 0}.get(ident.upper_pattern)
    if pattern is not None:
        colour[pattern] = ident.pattern_colour
    img[torso], mask[torso] = colour[torso], True
    paint((u > 0.12) & (u <= 0.16) & (np.abs(x) < sw * 0.25), ident.skin)  # neck
    head = ((u - 0.07) / 0.065) ** 2 + (x / (sw * 0.48)) ** 2 < 1
    paint(head, ident.skin if not back else ident.hair)
    paint(head & (u < 0.045 if not back else head), ident.hair)
    if ident.long_hair:
        paint((u > 0.05) & (u < 0.22) & (np.abs(x) < sw * 0.5) & ((np.abs(x) > sw * 0.35) | back), ident.hair)
    acc = ident.accessory_colour
    if ident.accessory == 1:  # backpack: a block from behind, straps from the front
        paint((u > 0.18) & (u < 0.45) & (np.abs(x) < sw * 0.75) if back else
              (u > 0.16) & (u < 0.36) & (np.abs(np.abs(x) - sw * 0.55) < sw * 0.1), acc)
    elif ident.accessory == 2:  # shoulder bag at the hip
        paint((u > 0.42) & (u < 0.58) & (x > sw * 0.7) & (x < sw * 1.45), acc)
    elif ident.accessory == 3:  # cap
        paint(((u - 0.03) / 0.035) ** 2 + (x / (sw * 0.55)) ** 2 < 1, acc)
    shade = 0.85 + 0.15 * np.cos((x / (sw + 1e-6)) * 1.2).clip(0, 1)  # simple body shading
    img *= shade[..., None]
    return img * rng.uniform(0.85, 1.15, 3).astype(np.float32), mask


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur (numpy only) of an (H, W, 3) image."""
    if sigma < 0.15:
        return img
    r = max(1, int(np.ceil(2.5 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    pad = np.pad(img, ((r, r), (r, r), (0, 0)), mode="edge")
    tmp = sum(k[i] * pad[i:i + img.shape[0], :, :] for i in range(2 * r + 1))
    return sum(k[i] * tmp[:, i:i + img.shape[1], :] for i in range(2 * r + 1))


def compose(ident: Identity, style: dict[str, Any], cam: Camera, h: int, w: int,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One frame: person over the camera's background, then the domain's light, tone and optics."""
    bg = render_background(style["bg"], np.asarray(style["palette"], np.float32), cam, h, w, rng)
    person, mask = render_person(ident, h, w, rng, back=bool(rng.random() < cam.back_view),
                                 crop_jitter=style["crop_jitter"])
    img = np.where(mask[..., None], person, bg)
    yy, xx = _grid(h, w)
    ly, lx = style["light"]
    img = img * (1 + ly * (0.5 - yy) + lx * (xx - 0.5))[..., None]
    img = img * np.asarray(style["tone"], np.float32) * cam.tint * style["brightness"] * cam.brightness
    img = (img - 0.5) * style["contrast"] + 0.5
    img = _blur(img, style["blur"])
    img = img + rng.normal(0, style["noise"], img.shape)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), mask


@dataclass(frozen=True)
class Shot:
    """One image to write: who, which camera, which split and its file name."""

    split: str
    pid: int
    cam: int
    name: str


def plan_domain(layout: DomainLayout, counts: dict[str, int], images_per_camera: tuple[int, int],
                rng: np.random.Generator) -> list[Shot]:
    """Assign identities to cameras and splits, and name files as the real dataset does."""
    n_train, n_test = counts["train_ids"], counts["test_ids"]
    ids = rng.permutation(np.arange(1, 2 * (n_train + n_test + counts["distractor_ids"]) + 2))
    train_ids = np.sort(ids[:n_train])
    test_ids = np.sort(ids[n_train:n_train + n_test])
    extra_ids = np.sort(ids[n_train + n_test:n_train + n_test + counts["distractor_ids"]])
    shots: list[Shot] = []
    counter = {"n": 0}

    def views(pid: int) -> list[tuple[int, int]]:
        cams = layout.sample_cameras(rng)
        return [(c, int(rng.integers(images_per_camera[0], images_per_camera[1] + 1))) for c in cams]

    def add(split: str, pid: int, cam: int) -> None:
        counter["n"] += 1
        shots.append(Shot(split, pid, cam, layout.file_name(pid, cam, counter["n"], rng)))

    for pid in train_ids:
        for cam, k in views(int(pid)):
            for _ in range(k):
                add("train", int(pid), cam)
    for pid in test_ids:
        for cam, k in views(int(pid)):
            add("query", int(pid), cam)
            for _ in range(k):
                add("gallery", int(pid), cam)
    for pid in extra_ids:  # gallery-only identities: Market's "0000" distractors, Duke's extra ids
        cam = int(rng.integers(layout.num_cameras))
        gallery_pid = 0 if layout.distractor_pid_zero else int(pid)
        add("gallery", gallery_pid, cam)
    for _ in range(counts["junk_images"] if layout.junk_pid is not None else 0):
        add("gallery", layout.junk_pid, int(rng.integers(layout.num_cameras)))
    return shots


def generate_domain(domain: str, out_dir: Path, cfg: dict[str, Any], seed: int) -> dict[str, Any]:
    """Render one synthetic domain into ``out_dir`` (images, ``masks/`` and ``meta.json``)."""
    layout = LAYOUTS[domain]
    h, w = int(cfg["height"]), int(cfg["width"])
    gap = float(cfg["context_gap"])
    counts = cfg["domains"][domain]
    domain_index = sorted(LAYOUTS).index(domain)
    rng = np.random.default_rng([seed, domain_index])
    style = _lerp_style(DOMAIN_STYLES[domain], gap)
    cams = make_cameras(rng, layout.physical_cameras, gap)
    shots = plan_domain(layout, counts, tuple(cfg["images_per_camera"]), rng)
    identities: dict[int, Identity] = {}
    with atomic_dir(out_dir) as tmp:
        for sub in layout.split_dirs.values():
            (tmp / sub).mkdir(parents=True)
            (tmp / "masks" / sub).mkdir(parents=True)
        for i, shot in enumerate(shots):
            key = shot.pid if shot.pid > 0 else -1_000_000 - i  # every distractor/junk image its own person
            if key not in identities:
                identities[key] = sample_identity(np.random.default_rng([seed, domain_index, key & 0x7FFFFFFF, 1]))
            img_rng = np.random.default_rng([seed, domain_index, i, 2])
            cam = cams[layout.physical_camera(shot.cam, shot.pid)]
            img, mask = compose(identities[key], style, cam, h, w, img_rng)
            sub = layout.split_dirs[shot.split]
            Image.fromarray(img).save(tmp / sub / shot.name, quality=92)
            Image.fromarray(mask.astype(np.uint8) * 255).save(tmp / "masks" / sub / (Path(shot.name).stem + ".png"))
        meta = {
            "domain": domain, "synthetic": True, "seed": seed, "height": h, "width": w, "context_gap": gap,
            "counts": {split: sum(s.split == split for s in shots) for split in layout.split_dirs},
            "train_ids": len({s.pid for s in shots if s.split == "train"}),
            "cameras": layout.num_cameras, "physical_cameras": layout.physical_cameras,
            "config": {k: cfg[k] for k in ("height", "width", "context_gap", "images_per_camera")} | {"counts": counts},
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    return meta
