"""Embedded synthetic re-id benchmark: procedural persons filmed in wide, lit, cluttered scenes.

Identity lives in the person (body proportions, clothing colours, garments and patterns,
accessories). What real footage adds around a person is drawn per image, as a detection box
shows it: each camera films a wide scene, and each image is a window of it at its own position
and scale, with passers-by, vehicles and objects; the scene light (level, colour temperature,
direction, shadows of the scene) is drawn per image and falls on the person as on the scene; the
person has soft silhouette edges, a ground shadow, a pose, a box offset and scale, and may be
partly hidden by an occluder. The domains differ in their scenes, their image formation
(tone, contrast, blur, noise, light, boxes), their populations (a summer and a winter one) and
how often people are occluded. Four knobs, each at 0 removing its effect (docs/assumptions.md):

- ``style_gap``: the domains' image formation and palettes, 0 = one neutral style for all;
- ``context_diversity``: per-image context and light within a camera, 0 = one view of the scene
  per camera at its mean light, no clutter;
- ``population_shift``: the domains' clothing distributions, 0 = one population for all;
- ``occlusion``: the domains' occlusion rates, 0 = nobody occluded.

Each domain is written in its real dataset's layout and file naming, so the same parsers
(:mod:`crgan.data.datasets`) read synthetic and real data. Random draws come from separate
streams per image (person, scene, light, occluder, sensor noise), so changing one knob leaves
what the others draw unchanged.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from crgan.data.layouts import LAYOUTS, DomainLayout
from crgan.io import atomic_dir

#: The knobs of the benchmark and the config keys that hold them (each 0 removes its effect).
KNOBS = ("style_gap", "context_diversity", "population_shift", "occlusion")

#: Image formation of each domain (docs/assumptions.md gives each value's source). ``tone`` is the
#: white balance of the domain's cameras, ``brightness``/``contrast``/``blur``/``noise`` its optics
#: and sensor, ``light`` the mean level, its spread over the day (log units), the colour-temperature
#: spread and the strength of directional sun; ``box`` the detection boxes' offset and scale spread.
DOMAIN_STYLES: dict[str, dict[str, Any]] = {
    "market1501": dict(bg="facade", tone=(1.06, 1.00, 0.92), brightness=1.05, contrast=1.05,
                       palette=[(0.78, 0.74, 0.66), (0.55, 0.50, 0.42), (0.40, 0.55, 0.35),
                                (0.85, 0.83, 0.78), (0.62, 0.36, 0.28)],
                       blur=0.35, noise=0.015, light=dict(level=1.05, spread=0.20, temperature=0.6, sun=0.8),
                       box=dict(offset=0.06, scale=0.10), clutter=1.5, occlusion=0.10, low_res_camera=5),
    "dukemtmc": dict(bg="foliage", tone=(0.94, 0.98, 1.08), brightness=0.92, contrast=0.90,
                     palette=[(0.90, 0.92, 0.95), (0.30, 0.35, 0.32), (0.45, 0.42, 0.50),
                              (0.20, 0.24, 0.30), (0.66, 0.70, 0.74)],
                     blur=0.45, noise=0.02, light=dict(level=0.92, spread=0.15, temperature=0.4, sun=0.3),
                     box=dict(offset=0.025, scale=0.05), clutter=2.0, occlusion=0.30, low_res_camera=None),
    "cuhk03": dict(bg="tiles", tone=(0.95, 1.05, 0.96), brightness=0.88, contrast=0.85,
                   palette=[(0.70, 0.72, 0.60), (0.52, 0.50, 0.48), (0.82, 0.80, 0.70),
                            (0.35, 0.40, 0.38), (0.60, 0.66, 0.52)],
                   blur=0.9, noise=0.04, light=dict(level=0.90, spread=0.10, temperature=0.3, sun=0.1),
                   box=dict(offset=0.08, scale=0.12), clutter=1.0, occlusion=0.15, low_res_camera=None),
}
#: The style every domain moves to at ``style_gap`` 0 (background structure is kept).
NEUTRAL_STYLE: dict[str, Any] = dict(tone=(1.0, 1.0, 1.0), brightness=1.0, contrast=1.0,
                                     palette=[(0.5, 0.5, 0.5)] * 5, blur=0.5, noise=0.02,
                                     light=dict(level=1.0, spread=0.15, temperature=0.4, sun=0.4),
                                     box=dict(offset=0.05, scale=0.08))


@dataclass(frozen=True)
class Population:
    """Who walks in a domain: garment and colour distributions (a domain's season and place)."""

    short_sleeves: float  # probability of short sleeves (unless in a coat)
    lower_kinds: tuple[float, float, float]  # trousers, shorts, skirt
    coat: float  # probability of a winter coat (dark, muted colours, long sleeves) as the upper garment
    value: tuple[float, float]  # brightness range of clothing colours
    saturated: float  # probability that a clothing colour is saturated rather than greyish
    accessories: tuple[float, float, float, float]  # none, backpack, shoulder bag, hat


#: Market-1501 was filmed in summer, DukeMTMC-reID in winter (docs/assumptions.md); CUHK03 between.
POPULATIONS: dict[str, Population] = {
    "market1501": Population(0.70, (0.45, 0.40, 0.15), 0.03, (0.35, 0.95), 0.75, (0.45, 0.30, 0.17, 0.08)),
    "dukemtmc": Population(0.05, (0.90, 0.02, 0.08), 0.60, (0.10, 0.65), 0.45, (0.35, 0.35, 0.10, 0.20)),
    "cuhk03": Population(0.45, (0.65, 0.20, 0.15), 0.15, (0.20, 0.90), 0.60, (0.40, 0.35, 0.15, 0.10)),
}

SKIN = np.array([(0.93, 0.78, 0.65), (0.80, 0.60, 0.45), (0.60, 0.42, 0.30), (0.40, 0.28, 0.20)])
HAIR = np.array([(0.08, 0.06, 0.05), (0.30, 0.18, 0.10), (0.75, 0.60, 0.35), (0.55, 0.55, 0.55)])
#: Blur (pixels) of a person's outline before it is composed: anti-aliasing alone leaves half the edge hard.
EDGE_SOFTNESS = 0.5
#: A camera's scene is this many image widths wide; an image is a window of it.
SCENE_WIDTH = 4.0


def _mix(a: Any, b: Any, t: float) -> Any:
    """``a + t (b - a)`` for numbers, tuples, lists and dicts of them."""
    if isinstance(a, dict):
        return {k: _mix(a[k], b[k], t) for k in a}
    if isinstance(a, (tuple, list)):
        return type(a)(np.asarray(a, float) + t * (np.asarray(b, float) - np.asarray(a, float)))
    return a + t * (b - a)


def domain_style(domain: str, style_gap: float) -> dict[str, Any]:
    """A domain's image formation moved towards the neutral one; ``style_gap`` 1 keeps it, 0 neutralises it."""
    style = DOMAIN_STYLES[domain]
    out = dict(style)
    for key in NEUTRAL_STYLE:
        out[key] = _mix(NEUTRAL_STYLE[key], style[key], style_gap)
    return out


def population(domain: str, shift: float) -> Population:
    """A domain's population moved towards the mean of all domains; ``shift`` 0 gives every domain the mean."""
    own, values = POPULATIONS[domain], {}
    for name in (f.name for f in fields(Population)):
        mean = np.mean([np.asarray(getattr(p, name), float) for p in POPULATIONS.values()], axis=0)
        value = mean + shift * (np.asarray(getattr(own, name), float) - mean)
        values[name] = tuple(float(v) for v in value) if np.ndim(value) else float(value)
    return Population(**values)


@dataclass(frozen=True)
class Identity:
    """What makes a person recognisable: fixed across all of their images."""

    skin: np.ndarray
    hair: np.ndarray
    long_hair: bool
    upper: np.ndarray
    upper_pattern: int  # 0 solid, 1 horizontal stripes, 2 vertical stripes, 3 checks, 4 two-tone, 5 open coat
    pattern_colour: np.ndarray  # the stripes', checks' or second half's colour; an open coat's inner garment
    stripe: float  # width of one stripe in body heights (horizontal; vertical stripes are STRIPE_ASPECT wider)
    long_sleeves: bool
    lower: np.ndarray
    lower_kind: int  # 0 trousers, 1 shorts, 2 skirt
    shoes: np.ndarray
    accessory: int  # 0 none, 1 backpack, 2 shoulder bag, 3 hat
    accessory_colour: np.ndarray
    height: float
    shoulders: float


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i])


def _clothing_colour(rng: np.random.Generator, pop: Population) -> np.ndarray:
    """A clothing colour of the population: saturated or greyish, in its brightness range."""
    saturated = rng.random() < pop.saturated
    s = rng.uniform(0.4, 0.9) if saturated else rng.uniform(0.0, 0.15)
    return _hsv(rng.random(), s, rng.uniform(*pop.value))


def _probabilities(p: tuple[float, ...]) -> np.ndarray:
    p = np.clip(np.asarray(p, float), 0, None)
    return p / p.sum()


#: Stripe widths in body heights: at least 2 pixels for a person of the smallest box at 64x32
#: (narrower stripes would blend into one flat colour), 3-7 stripes over a torso.
STRIPE_WIDTH = (0.045, 0.09)
#: Vertical stripes are this much wider (in body units) than horizontal ones, as the body's units
#: are twice as fine across as down in a 2:1 image.
STRIPE_ASPECT = 1.6
#: The share of winter coats worn open, showing the garment under them (a vertical band).
OPEN_COAT = 0.4


def coat_colour(rng: np.random.Generator) -> np.ndarray:
    """A winter coat: black, grey, navy, brown, olive, burgundy or camel; dark and muted."""
    return _hsv(rng.random(), rng.uniform(0.0, 0.6), rng.uniform(0.08, 0.55))


def sample_identity(rng: np.random.Generator, pop: Population) -> Identity:
    """One person of ``pop``: a coat (dark, muted, long sleeves, perhaps open over another garment) or
    a garment of the season."""
    coat = rng.random() < pop.coat
    upper = coat_colour(rng) if coat else _clothing_colour(rng, pop)
    patterns = rng.choice(5, p=[0.4, 0.2, 0.15, 0.1, 0.15])  # drawn for a coat too: the stream stays aligned
    return Identity(
        skin=SKIN[rng.integers(len(SKIN))], hair=HAIR[rng.integers(len(HAIR))],
        long_hair=bool(rng.random() < 0.35), upper=upper,
        upper_pattern=(5 if rng.random() < OPEN_COAT else 0) if coat else int(patterns),
        pattern_colour=_clothing_colour(rng, pop), stripe=float(rng.uniform(*STRIPE_WIDTH)),
        long_sleeves=bool(coat or rng.random() >= pop.short_sleeves), lower=_clothing_colour(rng, pop),
        lower_kind=int(rng.choice(3, p=_probabilities(pop.lower_kinds))),
        shoes=_clothing_colour(rng, pop) * 0.6,
        accessory=int(rng.choice(4, p=_probabilities(pop.accessories))), accessory_colour=_clothing_colour(rng, pop),
        height=float(rng.uniform(0.80, 0.92)), shoulders=float(rng.uniform(0.30, 0.42)),
    )


@dataclass(frozen=True)
class Camera:
    """One camera of a domain: its white balance, exposure, time of day, viewpoint bias and scene."""

    tint: np.ndarray
    brightness: float
    temperature: float  # mean colour temperature of its light (-1 cool .. 1 warm)
    back_view: float  # probability of seeing a person from behind
    scene_seed: int
    palette_shift: int
    centre: float  # the scene position of the view at context_diversity 0
    extra_blur: float  # a low-resolution camera's softer image


def make_cameras(rng: np.random.Generator, n: int, style: dict[str, Any], gap: float,
                 low_res: int | None) -> list[Camera]:
    """The cameras of a domain; their differences (tint, exposure, colour temperature) scale with
    ``gap`` (style_gap): at 0 every camera is neutral."""
    return [Camera(tint=1 + gap * rng.uniform(-0.06, 0.06, 3), brightness=1 + gap * rng.uniform(-0.10, 0.10),
                   temperature=gap * float(rng.uniform(-1, 1)) * style["light"]["temperature"],
                   back_view=float(rng.uniform(0.2, 0.8)), scene_seed=int(rng.integers(2**31)),
                   palette_shift=int(rng.integers(5)), centre=float(rng.uniform(1.0, SCENE_WIDTH - 1.0)),
                   extra_blur=0.6 * gap if c == low_res else 0.0) for c in range(n)]


@dataclass(frozen=True)
class View:
    """One image's window of its camera's scene and its light."""

    x: float  # scene position of the window's centre (scene units: image widths)
    y: float  # vertical offset of the window
    zoom: float  # window size relative to one image
    level: float  # light level
    temperature: float  # colour temperature (-1 cool .. 1 warm)
    direction: float  # angle of the light's gradient
    sun: float  # strength of directional light and shadows (0 overcast)
    clutter: int  # number of passers-by, vehicles and objects behind the person

    def colour(self) -> np.ndarray:
        """The light's colour: warm light is redder, cool light bluer."""
        return np.array([1 + 0.08 * self.temperature, 1.0, 1 - 0.08 * self.temperature], np.float32)


def draw_view(rng: np.random.Generator, cam: Camera, style: dict[str, Any], diversity: float,
              clutter_rate: float) -> View:
    """Where an image looks and how it is lit; ``diversity`` scales every spread continuously (the
    window's position, the light's level, colour, direction and sun, the clutter), and 0 gives every
    image of a camera one view at the camera's mean light and no clutter."""
    light = style["light"]
    anywhere = rng.uniform(0.5, SCENE_WIDTH - 0.5)  # a window anywhere in the scene, none past its ends
    return View(x=float(cam.centre + diversity * (anywhere - cam.centre)), y=0.5 + diversity * rng.uniform(-0.08, 0.08),
                zoom=float(np.exp(diversity * rng.uniform(-0.25, 0.25))),
                level=float(light["level"] * cam.brightness * np.exp(diversity * rng.normal(0, light["spread"]))),
                temperature=float(cam.temperature + diversity * rng.normal(0, light["temperature"])),
                direction=float(diversity * rng.uniform(-np.pi, np.pi)),
                sun=float(light["sun"] * (0.5 + diversity * (rng.random() - 0.5))),
                clutter=int(rng.poisson(diversity * clutter_rate)))


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
            img[body & (yy < foot - 0.4 * s)] = _clothing_colour(rng, pop)
            img[body & (yy >= foot - 0.4 * s)] = _clothing_colour(rng, pop)
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

    legs = (u > 0.52) & (u < 0.95) & ((np.abs(x - stride) < sw * 0.42) | (np.abs(x + stride) < sw * 0.42)) \
        & (np.abs(x) < sw * 0.9 + stride)
    paint(legs, ident.lower)
    if ident.lower_kind == 1:  # shorts: skin below the knee
        paint(legs & (u > 0.70), ident.skin)
    elif ident.lower_kind == 2:  # skirt: a trapezoid over the thighs
        paint((u > 0.5) & (u < 0.72) & (np.abs(x) < sw * (0.7 + (u - 0.5) * 1.5)), ident.lower)
        paint(legs & (u > 0.72), ident.skin)
    paint((u >= 0.95) & (u < 1.0) & ((np.abs(x - stride) < sw * 0.45) | (np.abs(x + stride) < sw * 0.45)), ident.shoes)
    arm_swing = rng.uniform(-0.04, 0.04)
    arm_x = np.abs(x - arm_swing) if side else np.abs(x)
    arms = (u > 0.17) & (u < 0.52) & (np.abs(arm_x - (0.0 if side else sw * 1.05 + arm_swing)) < sw * 0.2)
    paint(arms, ident.upper if ident.long_sleeves else ident.skin)
    paint(arms & (u < 0.3), ident.upper)
    torso = (u > 0.15) & (u < 0.54) & (np.abs(x) < sw * (1.0 - 0.25 * (u - 0.15)))
    colour = np.broadcast_to(ident.upper, (hs, ws, 3)).copy()
    down, across = stripe_widths(ident.stripe, bh, h, w)
    rows, columns = np.floor(u / down), np.floor(x / across)
    pattern = {1: rows % 2 == 1, 2: columns % 2 == 1, 3: (rows + columns) % 2 == 1, 4: x > 0,
               5: np.abs(x) < sw * 0.3}.get(ident.upper_pattern)
    if pattern is not None:
        colour[pattern] = ident.pattern_colour
    img[torso], mask[torso] = colour[torso], True
    if side:  # the near arm over the torso
        paint(arms, ident.upper if ident.long_sleeves else ident.skin)
        paint(arms & (u < 0.3), ident.upper)
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
    shade = 0.85 + 0.15 * np.cos((x / (sw + 1e-6)) * 1.2).clip(0, 1)  # body shading
    img *= shade[..., None] * rng.uniform(0.92, 1.08, 3).astype(np.float32)  # fabric and sensor response
    coverage = mask.astype(np.float32).reshape(h, supersample, w, supersample).mean(axis=(1, 3))
    premultiplied = (img * mask[..., None]).reshape(h, supersample, w, supersample, 3).mean(axis=(1, 3))
    # the lens and motion soften the outline over about a pixel: blur colour and coverage together
    soft = _blur(np.concatenate([premultiplied, coverage[..., None]], axis=2), EDGE_SOFTNESS)
    alpha = np.clip(soft[..., 3], 0, 1)
    return soft[..., :3] / np.maximum(alpha, 1e-6)[..., None], alpha


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
        colour = np.where((yy > 0.55)[..., None], _clothing_colour(rng, pop), _clothing_colour(rng, pop))
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


@dataclass(frozen=True)
class World:
    """What one domain's images are drawn from at the configured knobs."""

    domain: str
    style: dict[str, Any]
    population: Population
    cameras: list[Camera]
    diversity: float
    occlusion_rate: float
    height: int
    width: int
    knobs: dict[str, float] = field(default_factory=dict)
    panoramas: dict[int, Panorama] = field(default_factory=dict, repr=False)

    def panorama(self, camera: int) -> Panorama:
        """Camera ``camera``'s scene, rendered on first use."""
        if camera not in self.panoramas:
            self.panoramas[camera] = Panorama(self.style["bg"], np.asarray(self.style["palette"], np.float32),
                                              self.cameras[camera], self.height, self.width)
        return self.panoramas[camera]


def make_world(domain: str, cfg: dict[str, Any], rng: np.random.Generator) -> World:
    """The domain at the config's knobs (``synthetic.style_gap`` etc.), its cameras drawn from ``rng``."""
    knobs = {k: float(cfg[k]) for k in KNOBS}
    layout = LAYOUTS[domain]
    style = domain_style(domain, knobs["style_gap"])
    cams = make_cameras(rng, layout.physical_cameras, style, knobs["style_gap"], DOMAIN_STYLES[domain]["low_res_camera"])
    return World(domain, style, population(domain, knobs["population_shift"]), cams, knobs["context_diversity"],
                 knobs["occlusion"] * DOMAIN_STYLES[domain]["occlusion"], int(cfg["height"]), int(cfg["width"]), knobs)


def compose(ident: Identity, world: World, camera: int, streams: dict[str, np.random.Generator]
            ) -> tuple[np.ndarray, np.ndarray]:
    """One frame and the visible person's mask: the view of the scene with its clutter, the person
    (soft edges, ground shadow), an occluder, then the scene light on everything, the domain's tone,
    optics and sensor noise."""
    h, w, style = world.height, world.width, world.style
    cam = world.cameras[camera]
    view = draw_view(streams["scene"], cam, style, world.diversity, float(DOMAIN_STYLES[world.domain]["clutter"]))
    bg, scene_light = world.panorama(camera).view(view, h, w)
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


#: The per-image random streams and their sub-seeds.
STREAMS = {"person": 2, "scene": 3, "occluder": 4, "noise": 5}
#: The validation split's plan draws from its own stream (the domain's is ``[seed, domain]``).
VALIDATION_STREAM = 7


def image_streams(seed: int, domain_index: int, image: int) -> dict[str, np.random.Generator]:
    """Separate random streams of one image, so a knob changes only what it governs."""
    return {name: np.random.default_rng([seed, domain_index, image, sub]) for name, sub in STREAMS.items()}


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


def plan_validation(layout: DomainLayout, counts: dict[str, int], images_per_camera: tuple[int, int], first: int,
                    rng: np.random.Generator) -> list[Shot]:
    """The validation split: ``counts['validation_ids']`` identities numbered from ``first`` (above every
    train, test and distractor id), each with a query per camera and a gallery as the test split's.
    Planned after (and from another stream than) the rest, so adding it leaves every other image as it was."""
    shots: list[Shot] = []
    for pid in range(first, first + counts.get("validation_ids", 0)):
        for cam in layout.sample_cameras(rng):
            shots.append(Shot("val_query", pid, cam, layout.file_name(pid, cam, len(shots) + 1, rng)))
            for _ in range(int(rng.integers(images_per_camera[0], images_per_camera[1] + 1))):
                shots.append(Shot("val_gallery", pid, cam, layout.file_name(pid, cam, len(shots) + 1, rng)))
    return shots


def generate_domain(domain: str, out_dir: Path, cfg: dict[str, Any], seed: int) -> dict[str, Any]:
    """Render one synthetic domain into ``out_dir`` (images, ``masks/`` and ``meta.json``)."""
    layout = LAYOUTS[domain]
    counts = cfg["domains"][domain]
    domain_index = sorted(LAYOUTS).index(domain)
    rng = np.random.default_rng([seed, domain_index])
    world = make_world(domain, cfg, rng)
    shots = plan_domain(layout, counts, tuple(cfg["images_per_camera"]), rng)
    first_validation_id = 2 * (counts["train_ids"] + counts["test_ids"] + counts["distractor_ids"]) + 2
    shots += plan_validation(layout, counts, tuple(cfg["images_per_camera"]), first_validation_id,
                             np.random.default_rng([seed, domain_index, VALIDATION_STREAM]))
    splits = list(dict.fromkeys(shot.split for shot in shots))
    identities: dict[int, Identity] = {}
    with atomic_dir(out_dir) as tmp:
        for sub in map(layout.folder, splits):
            (tmp / sub).mkdir(parents=True)
            (tmp / "masks" / sub).mkdir(parents=True)
        for i, shot in enumerate(shots):
            key = shot.pid if shot.pid > 0 else -1_000_000 - i  # every distractor/junk image its own person
            if key not in identities:
                identities[key] = sample_identity(np.random.default_rng([seed, domain_index, key & 0x7FFFFFFF, 1]),
                                                  world.population)
            cam = layout.physical_camera(shot.cam, shot.pid)
            img, mask = compose(identities[key], world, cam, image_streams(seed, domain_index, i))
            sub = layout.folder(shot.split)
            Image.fromarray(img).save(tmp / sub / shot.name, quality=92)
            Image.fromarray(mask.astype(np.uint8) * 255).save(tmp / "masks" / sub / (Path(shot.name).stem + ".png"))
        keys = ("height", "width", *KNOBS, "images_per_camera")
        meta = {
            "domain": domain, "synthetic": True, "seed": seed, "height": world.height, "width": world.width,
            **world.knobs,
            "counts": {split: sum(s.split == split for s in shots) for split in splits},
            "train_ids": len({s.pid for s in shots if s.split == "train"}),
            "cameras": layout.num_cameras, "physical_cameras": layout.physical_cameras,
            "config": {k: cfg[k] for k in keys} | {"counts": counts},
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    return meta
