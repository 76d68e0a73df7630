"""The synthetic benchmark's world: what each domain's images are drawn from.

The domains' image formation (styles), their populations and the persons drawn from them, their
cameras, and each image's view of its camera's scene and light; each at the configured knobs
(:data:`KNOBS`, docs/assumptions.md). Rendering them is :mod:`crgan.data.synthetic_render`'s job.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from crgan.data.layouts import LAYOUTS

#: The knobs of the benchmark and the config keys that hold them (each 0 removes its effect).
KNOBS = ("style_gap", "context_diversity", "population_shift", "occlusion")

#: Image formation of each domain (docs/assumptions.md gives each value's source). ``tone`` is the
#: white balance of the domain's cameras, ``brightness``/``contrast``/``blur``/``noise`` its optics
#: and sensor, ``light`` the mean level, its spread over the day (log units), the colour-temperature
#: spread and the strength of directional sun; ``box`` the detection boxes' offset and scale spread.
#: Calibrated (issue 32; docs/assumptions.md, "What the calibration changed"): white balance, exposure,
#: contrast and light level are half-way from the designed values to NEUTRAL_STYLE's, Market's palette
#: half-way to its own mean colour, Duke's boxes the neutral ones; written out as measured, not derived.
DOMAIN_STYLES: dict[str, dict[str, Any]] = {
    "market1501": dict(bg="facade", tone=(1.03, 1.00, 0.96), brightness=1.025, contrast=1.025,
                       palette=[(0.71, 0.668, 0.579), (0.595, 0.548, 0.459), (0.52, 0.573, 0.424),
                                (0.745, 0.713, 0.639), (0.63, 0.478, 0.389)],
                       blur=0.35, noise=0.015, light=dict(level=1.025, spread=0.20, temperature=0.6, sun=0.8),
                       box=dict(offset=0.06, scale=0.10), clutter=1.5, occlusion=0.10, low_res_camera=5),
    "dukemtmc": dict(bg="foliage", tone=(0.97, 0.99, 1.04), brightness=0.96, contrast=0.95,
                     palette=[(0.90, 0.92, 0.95), (0.30, 0.35, 0.32), (0.45, 0.42, 0.50),
                              (0.20, 0.24, 0.30), (0.66, 0.70, 0.74)],
                     blur=0.45, noise=0.02, light=dict(level=0.96, spread=0.15, temperature=0.4, sun=0.3),
                     box=dict(offset=0.045, scale=0.08), clutter=2.0, occlusion=0.30, low_res_camera=None),
    "cuhk03": dict(bg="tiles", tone=(0.975, 1.025, 0.98), brightness=0.94, contrast=0.925,
                   palette=[(0.70, 0.72, 0.60), (0.52, 0.50, 0.48), (0.82, 0.80, 0.70),
                            (0.35, 0.40, 0.38), (0.60, 0.66, 0.52)],
                   blur=0.9, noise=0.04, light=dict(level=0.95, spread=0.10, temperature=0.3, sun=0.1),
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
    "dukemtmc": Population(0.05, (0.90, 0.02, 0.08), 0.60, (0.10, 0.80), 0.55, (0.35, 0.35, 0.10, 0.20)),
    "cuhk03": Population(0.45, (0.65, 0.20, 0.15), 0.15, (0.20, 0.90), 0.60, (0.40, 0.35, 0.15, 0.10)),
}

SKIN = np.array([(0.93, 0.78, 0.65), (0.80, 0.60, 0.45), (0.60, 0.42, 0.30), (0.40, 0.28, 0.20)])
HAIR = np.array([(0.08, 0.06, 0.05), (0.30, 0.18, 0.10), (0.75, 0.60, 0.35), (0.55, 0.55, 0.55)])
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


def clothing_colour(rng: np.random.Generator, pop: Population) -> np.ndarray:
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
    upper = coat_colour(rng) if coat else clothing_colour(rng, pop)
    patterns = rng.choice(5, p=[0.4, 0.2, 0.15, 0.1, 0.15])  # drawn for a coat too: the stream stays aligned
    return Identity(
        skin=SKIN[rng.integers(len(SKIN))], hair=HAIR[rng.integers(len(HAIR))],
        long_hair=bool(rng.random() < 0.35), upper=upper,
        upper_pattern=(5 if rng.random() < OPEN_COAT else 0) if coat else int(patterns),
        pattern_colour=clothing_colour(rng, pop), stripe=float(rng.uniform(*STRIPE_WIDTH)),
        long_sleeves=bool(coat or rng.random() >= pop.short_sleeves), lower=clothing_colour(rng, pop),
        lower_kind=int(rng.choice(3, p=_probabilities(pop.lower_kinds))),
        shoes=clothing_colour(rng, pop) * 0.6,
        accessory=int(rng.choice(4, p=_probabilities(pop.accessories))), accessory_colour=clothing_colour(rng, pop),
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
    panoramas: dict[int, Any] = field(default_factory=dict, repr=False)  # each camera's scene, rendered on first use


def make_world(domain: str, cfg: dict[str, Any], rng: np.random.Generator) -> World:
    """The domain at the config's knobs (``synthetic.style_gap`` etc.), its cameras drawn from ``rng``."""
    knobs = {k: float(cfg[k]) for k in KNOBS}
    layout = LAYOUTS[domain]
    style = domain_style(domain, knobs["style_gap"])
    cams = make_cameras(rng, layout.physical_cameras, style, knobs["style_gap"], DOMAIN_STYLES[domain]["low_res_camera"])
    return World(domain, style, population(domain, knobs["population_shift"]), cams, knobs["context_diversity"],
                 knobs["occlusion"] * DOMAIN_STYLES[domain]["occlusion"], int(cfg["height"]), int(cfg["width"]), knobs)
