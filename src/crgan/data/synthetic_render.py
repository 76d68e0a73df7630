"""Rendering the synthetic world: scenes, clutter, persons, occluders and the image formation.

Every function draws from the random streams it is given (:mod:`crgan.data.synthetic_shots`), so
what one knob governs never shifts what another draws.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from crgan.data.synthetic_world import (
    DOMAIN_STYLES,
    SCENE_WIDTH,
    SKIN,
    STRIPE_ASPECT,
    Camera,
    Identity,
    Population,
    View,
    World,
    clothing_colour,
    draw_view,
)

#: Blur (pixels) of a person's outline before it is composed: anti-aliasing alone leaves half the edge hard.
EDGE_SOFTNESS = 0.5


@functools.lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [0, 1] (read-only, shared by every image of that size)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy, xx = (yy + 0.5) / h, (xx + 0.5) / w
    yy.flags.writeable = xx.flags.writeable = False
    return yy, xx


def _scene_coordinates(view: View, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Scene coordinates (y in image heights, x in image widths) of each pixel of a view."""
    yy, xx = _grid(h, w)
    return view.y + (yy - 0.5) * view.zoom, view.x + (xx - 0.5) * view.zoom


def render_scene(kind: str, palette: np.ndarray, cam: Camera, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """The camera's wide scene at scene coordinates ``yy``, ``xx``: its structures are fixed per camera."""
    scene = np.random.default_rng(cam.scene_seed)
    pal = np.roll(palette, cam.palette_shift, axis=0)
    img = np.empty((*yy.shape, 3), np.float32)
    n = int(round(3 * SCENE_WIDTH))
    if kind == "facade":  # buildings: pillars, doors and windows above a paved ground
        img[:] = pal[0]
        for _ in range(n):
            x0, width, top = scene.uniform(-0.2, SCENE_WIDTH), scene.uniform(0.08, 0.5), scene.uniform(-0.2, 0.3)
            img[(xx > x0) & (xx < x0 + width) & (yy < 0.7) & (yy > top)] = pal[scene.integers(1, 5)]
        period = scene.uniform(0.08, 0.14)
        win = ((np.floor(xx / period) % 2) == 0) & ((np.floor(yy * 12) % 3) == 0) & (yy < 0.6)
        img[win] = img[win] * 0.6
        ground = yy > 0.7
        img[ground] = pal[3] * (0.85 + 0.15 * ((np.floor(yy[ground] * 30) % 2)[:, None]))
    elif kind == "foliage":  # trees, snow, railings and parked cars
        img[:] = pal[0]
        for _ in range(2 * n):
            cy, cx, r = scene.uniform(0, 0.8), scene.uniform(-0.2, SCENE_WIDTH + 0.2), scene.uniform(0.1, 0.35)
            img[((yy - cy) / r) ** 2 + ((xx - cx) / (r * 0.6)) ** 2 < 1] = pal[scene.integers(1, 5)]
        img[((np.floor((xx + yy * 0.7) * 10) % 4) == 0) & (yy > 0.55) & (yy < 0.75)] = pal[3]
        for _ in range(n // 2):
            cx, half = scene.uniform(0, SCENE_WIDTH), scene.uniform(0.2, 0.4)
            img[(yy > 0.6) & (yy < 0.85) & (np.abs(xx - cx) < half)] = pal[2]
    elif kind == "tiles":  # corridor: wall panels, doors, tiled floor, strip lights
        img[:] = pal[2]
        img[yy < 0.45] = pal[0]
        for _ in range(n):
            x0, width = scene.uniform(0, SCENE_WIDTH), scene.uniform(0.1, 0.3)
            img[(xx > x0) & (xx < x0 + width) & (yy < 0.45) & (yy > 0.05)] = pal[scene.integers(1, 5)]
        period = scene.uniform(0.08, 0.16)
        lines = ((np.abs((xx / period) % 1.0) < 0.12) | (np.abs((yy / (period * 1.5)) % 1.0) < 0.1)) & (yy > 0.45)
        img[lines] = pal[3]
        img[(yy < 0.06) & ((np.floor(xx * 3) % 2) == 0)] = pal[4] * 1.3
    else:
        raise ValueError(f"unknown background kind {kind!r}")
    return img


class Panorama:
    """A camera's whole scene rendered once, finer than an image; a view samples its window from it."""

    #: The scene's vertical extent covers every window (offset 0.08, zoom up to e^0.25).
    TOP, BOTTOM, LEFT = -0.25, 1.25, -0.5

    def __init__(self, kind: str, palette: np.ndarray, cam: Camera, h: int, w: int):
        self.rows_per_unit, self.columns_per_unit = 2 * h, 2 * w
        ys = self.TOP + (np.arange(int((self.BOTTOM - self.TOP) * self.rows_per_unit)) + 0.5) / self.rows_per_unit
        xs = self.LEFT + (np.arange(int((SCENE_WIDTH - 2 * self.LEFT) * self.columns_per_unit)) + 0.5) \
            / self.columns_per_unit
        yy, xx = np.meshgrid(ys.astype(np.float32), xs.astype(np.float32), indexing="ij")
        self.image = render_scene(kind, palette, cam, yy, xx)
        self.shade = scene_shade(cam, xs)

    def view(self, view: View, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        """The (H, W, 3) window a view sees (nearest sample of the fine rendering) and its light
        (H, W): 1 where lit, lower where the scene's structures shade it, as deep as the sun is strong."""
        yy, xx = _scene_coordinates(view, h, w)
        rows = np.clip(((yy - self.TOP) * self.rows_per_unit).astype(int), 0, self.image.shape[0] - 1)
        columns = np.clip(((xx - self.LEFT) * self.columns_per_unit).astype(int), 0, self.image.shape[1] - 1)
        return self.image[rows, columns], 1 - 0.45 * view.sun * self.shade[columns]


def scene_shade(cam: Camera, xs: np.ndarray) -> np.ndarray:
    """How deep the scene's own structures shade each scene column (0 none .. 1 full), fixed per camera."""
    bands = np.random.default_rng([cam.scene_seed, 1])
    shade = np.zeros(len(xs), np.float32)
    for _ in range(3):
        x0, width = bands.uniform(0, SCENE_WIDTH), bands.uniform(0.3, 1.0)
        shade = np.maximum(shade, np.clip(1 - np.abs(xs - x0 - width / 2) / (width / 2), 0, 1) ** 0.3)
    return shade


def _ellipse(yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1


def scene_colour(rng: np.random.Generator, palette: np.ndarray) -> np.ndarray:
    """A colour of the domain's scenes: one of its palette, as it is or darker (vehicles, poles, signs)."""
    return (palette[rng.integers(len(palette))] * rng.uniform(0.6, 1.0)).astype(np.float32)


def add_clutter(img: np.ndarray, view: View, rng: np.random.Generator, palette: np.ndarray, pop: Population) -> None:
    """Passers-by further away (dressed as the domain's population), vehicles and objects (in the
    domain's scene colours), drawn into the background in place."""
    h, w, _ = img.shape
    yy, xx = _grid(h, w)
    for _ in range(view.clutter):
        kind, cx = rng.integers(3), rng.uniform(-0.1, 1.1)
        if kind == 0:  # a passer-by further away: smaller, higher in the frame, upper and lower garment
            s, foot = rng.uniform(0.35, 0.6), rng.uniform(0.55, 0.8)
            body = (yy > foot - 0.75 * s) & (yy < foot) & (np.abs(xx - cx) < 0.22 * s * h / w * 0.5)
            img[body & (yy < foot - 0.4 * s)] = clothing_colour(rng, pop)
            img[body & (yy >= foot - 0.4 * s)] = clothing_colour(rng, pop)
            img[_ellipse(yy, xx, foot - 0.83 * s, cx, 0.08 * s, 0.1 * s * h / w * 0.5)] = SKIN[rng.integers(len(SKIN))]
        elif kind == 1:  # a vehicle or bicycle at ground level
            top = rng.uniform(0.55, 0.75)
            img[(yy > top) & (yy < top + 0.2) & (np.abs(xx - cx) < rng.uniform(0.2, 0.5))] = scene_colour(rng, palette)
        else:  # a pole, bin or sign
            img[(yy > rng.uniform(0.1, 0.6)) & (yy < 0.9) & (np.abs(xx - cx) < rng.uniform(0.03, 0.1))] = \
                scene_colour(rng, palette) * 0.7


#: The narrowest stripe an image shows, in pixels (a one-pixel stripe blurs into its neighbours).
MIN_STRIPE_PIXELS = 2


def stripe_widths(stripe: float, body_height: float, h: int, w: int) -> tuple[float, float]:
    """Widths, in body units, of one horizontal and one vertical stripe of a person ``body_height``
    of an ``h`` x ``w`` image high: the person's own, but never under ``MIN_STRIPE_PIXELS`` pixels."""
    pixel_down = 1 / (h * body_height)  # render_person's u per image row
    pixel_across = h / (2 * w * w * body_height)  # its x per image column
    return max(stripe, MIN_STRIPE_PIXELS * pixel_down), max(STRIPE_ASPECT * stripe, MIN_STRIPE_PIXELS * pixel_across)


Painter = Callable[[np.ndarray, np.ndarray], None]


def render_person(ident: Identity, h: int, w: int, rng: np.random.Generator, back: bool,
                  box: dict[str, float], supersample: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The person's colours (H, W, 3) and soft silhouette (alpha in [0, 1], H x W) for one pose
    and box: rendered ``supersample`` times finer and averaged (anti-aliased), then softened by
    ``EDGE_SOFTNESS`` pixels."""
    hs, ws = h * supersample, w * supersample
    yy, xx = _grid(hs, ws)
    bh = ident.height * float(np.exp(rng.uniform(-box["scale"], box["scale"])))
    y0 = (1 - bh) / 2 + rng.uniform(-box["offset"], box["offset"])
    cx = 0.5 + rng.uniform(-box["offset"], box["offset"])
    lean = rng.uniform(-0.04, 0.04)
    side = rng.random() < 0.25  # a side view: narrower body, one arm seen
    u = (yy - y0) / bh
    x = (xx - cx) / bh * (h / w) * 0.5 - lean * (u - 0.5)  # body-relative coordinates
    stride = rng.uniform(0.0, 0.08)
    sw = ident.shoulders * 0.5 * (0.65 if side else 1.0)  # shoulder half-width in body units
    img = np.zeros((hs, ws, 3), np.float32)
    mask = np.zeros((hs, ws), bool)

    def paint(region: np.ndarray, colour: np.ndarray) -> None:
        img[region] = colour
        mask[region] = True

    _paint_legs(paint, ident, u, x, sw, stride)
    _paint_upper_body(paint, ident, u, x, sw, side, (bh, h, w), rng)
    _paint_head_and_accessory(paint, ident, u, x, sw, back)
    shade = 0.85 + 0.15 * np.cos((x / (sw + 1e-6)) * 1.2).clip(0, 1)  # body shading
    img *= shade[..., None] * rng.uniform(0.92, 1.08, 3).astype(np.float32)  # fabric and sensor response
    coverage = mask.astype(np.float32).reshape(h, supersample, w, supersample).mean(axis=(1, 3))
    premultiplied = (img * mask[..., None]).reshape(h, supersample, w, supersample, 3).mean(axis=(1, 3))
    # the lens and motion soften the outline over about a pixel: blur colour and coverage together
    soft = _blur(np.concatenate([premultiplied, coverage[..., None]], axis=2), EDGE_SOFTNESS)
    alpha = np.clip(soft[..., 3], 0, 1)
    return soft[..., :3] / np.maximum(alpha, 1e-6)[..., None], alpha


def _paint_legs(paint: Painter, ident: Identity, u: np.ndarray, x: np.ndarray, sw: float, stride: float) -> None:
    """Legs in the lower garment (trousers, shorts over bare shins, or a skirt) and shoes."""
    legs = (u > 0.52) & (u < 0.95) & ((np.abs(x - stride) < sw * 0.42) | (np.abs(x + stride) < sw * 0.42)) \
        & (np.abs(x) < sw * 0.9 + stride)
    paint(legs, ident.lower)
    if ident.lower_kind == 1:  # shorts: skin below the knee
        paint(legs & (u > 0.70), ident.skin)
    elif ident.lower_kind == 2:  # skirt: a trapezoid over the thighs
        paint((u > 0.5) & (u < 0.72) & (np.abs(x) < sw * (0.7 + (u - 0.5) * 1.5)), ident.lower)
        paint(legs & (u > 0.72), ident.skin)
    paint((u >= 0.95) & (u < 1.0) & ((np.abs(x - stride) < sw * 0.45) | (np.abs(x + stride) < sw * 0.45)), ident.shoes)


def _paint_upper_body(paint: Painter, ident: Identity, u: np.ndarray, x: np.ndarray, sw: float, side: bool,
                      size: tuple[float, int, int], rng: np.random.Generator) -> None:
    """Arms (sleeves or skin) and the torso in its garment's pattern; in a side view the near arm
    is drawn again over the torso. ``size``: the body's height in the frame and the image's H, W."""
    arm_swing = rng.uniform(-0.04, 0.04)
    arm_x = np.abs(x - arm_swing) if side else np.abs(x)
    arms = (u > 0.17) & (u < 0.52) & (np.abs(arm_x - (0.0 if side else sw * 1.05 + arm_swing)) < sw * 0.2)

    def paint_arms() -> None:
        paint(arms, ident.upper if ident.long_sleeves else ident.skin)
        paint(arms & (u < 0.3), ident.upper)

    paint_arms()
    torso = (u > 0.15) & (u < 0.54) & (np.abs(x) < sw * (1.0 - 0.25 * (u - 0.15)))
    colour = np.broadcast_to(ident.upper, (*u.shape, 3)).copy()
    down, across = stripe_widths(ident.stripe, *size)
    rows, columns = np.floor(u / down), np.floor(x / across)
    pattern = {1: rows % 2 == 1, 2: columns % 2 == 1, 3: (rows + columns) % 2 == 1, 4: x > 0,
               5: np.abs(x) < sw * 0.3}.get(ident.upper_pattern)
    if pattern is not None:
        colour[pattern] = ident.pattern_colour
    paint(torso, colour[torso])
    if side:  # the near arm over the torso
        paint_arms()


def _paint_head_and_accessory(paint: Painter, ident: Identity, u: np.ndarray, x: np.ndarray, sw: float,
                              back: bool) -> None:
    """Neck, head (face or the back of the head), hair, and the identity's accessory."""
    paint((u > 0.12) & (u <= 0.16) & (np.abs(x) < sw * 0.25), ident.skin)  # neck
    head = ((u - 0.07) / 0.065) ** 2 + (x / (ident.shoulders * 0.5 * 0.48)) ** 2 < 1
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
    elif ident.accessory == 3:  # hat
        paint(((u - 0.03) / 0.035) ** 2 + (x / (ident.shoulders * 0.5 * 0.55)) ** 2 < 1, acc)


def ground_shadow(alpha: np.ndarray, view: View) -> np.ndarray:
    """A soft shadow under the feet, cast away from the light (1 where there is none)."""
    h, w = alpha.shape
    rows = np.nonzero(alpha.max(axis=1) > 0.5)[0]
    if not len(rows):
        return np.ones_like(alpha)
    yy, xx = _grid(h, w)
    foot = (rows[-1] + 1) / h
    cx = float((alpha * xx).sum() / max(alpha.sum(), 1e-6))
    dx = -0.25 * np.cos(view.direction)
    d = ((yy - foot) / 0.05) ** 2 + ((xx - cx - dx / 2) / (0.3 + abs(dx))) ** 2
    return 1 - (0.2 + 0.3 * view.sun) * np.exp(-d).astype(np.float32)


def draw_occluder(rng: np.random.Generator, alpha: np.ndarray, pop: Population, palette: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Something between the camera and the person, placed on the person's box: a nearer pedestrian
    (dressed as the domain's population) over one side, a vehicle or bench across the legs, or a pole;
    its colours and coverage (alpha, H x W)."""
    h, w = alpha.shape
    yy, xx = _grid(h, w)
    rows, columns = np.nonzero(alpha.max(axis=1) > 0.5)[0], np.nonzero(alpha.max(axis=0) > 0.5)[0]
    top, bottom = (rows[0] / h, (rows[-1] + 1) / h) if len(rows) else (0.0, 1.0)
    left, right = (columns[0] / w, (columns[-1] + 1) / w) if len(columns) else (0.0, 1.0)
    kind = rng.integers(3)
    if kind == 0:  # a nearer pedestrian over one side of the person
        share, from_left = rng.uniform(0.25, 0.55), rng.random() < 0.5
        cover = xx < left + share * (right - left) if from_left else xx > right - share * (right - left)
        colour = np.where((yy > 0.55)[..., None], clothing_colour(rng, pop), clothing_colour(rng, pop))
    elif kind == 1:  # a car, bicycle or bench across the lower body
        cover = yy > top + rng.uniform(0.55, 0.8) * (bottom - top)
        colour = np.broadcast_to(scene_colour(rng, palette), (h, w, 3))
    else:  # a pole or sign post in front of the person
        cover = np.abs(xx - (left + rng.uniform(0.2, 0.8) * (right - left))) < rng.uniform(0.06, 0.12)
        colour = np.broadcast_to(scene_colour(rng, palette) * 0.7, (h, w, 3))
    return colour.astype(np.float32), cover.astype(np.float32)


#: The least share of a person an occluder leaves visible (a box is drawn around someone seen), and
#: the least it hides (an occluder that misses the person is no occlusion).
MIN_VISIBLE, MIN_HIDDEN = 0.4, 0.15


def occluder_for(alpha: np.ndarray, rng: np.random.Generator, pop: Population, palette: np.ndarray,
                 tries: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """An occluder that hides at least ``MIN_HIDDEN`` of the person and leaves at least ``MIN_VISIBLE``
    of them in view (after ``tries`` draws outside that range, none)."""
    for _ in range(tries):
        colour, cover = draw_occluder(rng, alpha, pop, palette)
        hidden = (alpha * cover).sum() / max(alpha.sum(), 1e-6)
        if MIN_HIDDEN <= hidden <= 1 - MIN_VISIBLE:
            return colour, cover
    return colour, np.zeros_like(alpha)


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur (numpy only) of an (H, W, C) image."""
    if sigma < 0.15:
        return img
    r = max(1, int(np.ceil(2.5 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    pad = np.pad(img, ((r, r), (r, r), (0, 0)), mode="edge")
    tmp = sum(k[i] * pad[i:i + img.shape[0], :, :] for i in range(2 * r + 1))
    return sum(k[i] * tmp[:, i:i + img.shape[1], :] for i in range(2 * r + 1))




def panorama(world: World, camera: int) -> Panorama:
    """Camera ``camera``'s scene in ``world``, rendered on first use (kept in the world's cache)."""
    if camera not in world.panoramas:
        world.panoramas[camera] = Panorama(world.style["bg"], np.asarray(world.style["palette"], np.float32),
                                           world.cameras[camera], world.height, world.width)
    return world.panoramas[camera]


def compose(ident: Identity, world: World, camera: int, streams: dict[str, np.random.Generator]
            ) -> tuple[np.ndarray, np.ndarray]:
    """One frame and the visible person's mask: the view of the scene with its clutter, the person
    (soft edges, ground shadow), an occluder, then the scene light on everything, the domain's tone,
    optics and sensor noise."""
    h, w, style = world.height, world.width, world.style
    cam = world.cameras[camera]
    view = draw_view(streams["scene"], cam, style, world.diversity, float(DOMAIN_STYLES[world.domain]["clutter"]))
    bg, scene_light = panorama(world, camera).view(view, h, w)
    palette = np.asarray(style["palette"], np.float32)
    add_clutter(bg, view, streams["scene"], palette, world.population)
    person, alpha = render_person(ident, h, w, streams["person"], back=bool(streams["person"].random() < cam.back_view),
                                  box=style["box"])
    img = (bg * ground_shadow(alpha, view)[..., None]) * (1 - alpha[..., None]) + person * alpha[..., None]
    visible = alpha
    if streams["occluder"].random() < world.occlusion_rate:
        colour, cover = occluder_for(alpha, streams["occluder"], world.population, palette)
        img = img * (1 - cover[..., None]) + colour * cover[..., None]
        visible = alpha * (1 - cover)
    yy, xx = _grid(h, w)
    gradient = 1 + 0.35 * view.sun * (np.cos(view.direction) * (xx - 0.5) + np.sin(view.direction) * (0.5 - yy))
    light = (gradient * scene_light)[..., None] * view.level * view.colour()
    img = img * light * np.asarray(style["tone"], np.float32) * cam.tint * style["brightness"]
    img = (img - 0.5) * style["contrast"] + 0.5
    img = _blur(img, style["blur"] + cam.extra_blur)
    img = img + streams["noise"].normal(0, style["noise"], img.shape)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), visible >= 0.5
