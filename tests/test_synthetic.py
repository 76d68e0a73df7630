"""The embedded benchmark: deterministic, in the real layouts, with masks; and each property the
world claims (docs/assumptions.md) measured on the images it generates, with each knob at 0
removing its effect."""
from __future__ import annotations

import colorsys
import dataclasses
import hashlib
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_SYNTH
from PIL import Image

from crgan.data import synthetic
from crgan.data import synthetic_render as render
from crgan.data import synthetic_shots as shots
from crgan.data import synthetic_world as worlds
from crgan.data.datasets import load_dataset
from crgan.data.layouts import LAYOUTS, SPLIT_DIRS

#: Larger than the fixture's default, so rates and correlations are measured on enough images.
MORE = {"domains": {d: {"train_ids": 24, "test_ids": 2, "distractor_ids": 0, "junk_images": 0} for d in LAYOUTS},
        "images_per_camera": [2, 3]}


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return h.hexdigest()


def images(root: Path) -> list[dict]:
    """Every train image of a generated domain: pixels in [0, 1], person mask, identity and camera."""
    index = load_dataset(json.loads((root / "meta.json").read_text())["domain"], root)
    out = []
    for rec in index["splits"]["train"]:
        image = np.asarray(Image.open(root / rec["path"]), float) / 255
        mask = np.asarray(Image.open(root / "masks" / Path(rec["path"]).with_suffix(".png"))) > 127
        out.append({"image": image, "mask": mask, "pid": rec["pid"], "cam": rec["camid"], "path": rec["path"]})
    return out


@pytest.mark.parametrize("domain", sorted(LAYOUTS))
def test_layout_masks_and_meta(synthetic_domain, domain):
    root = synthetic_domain(domain)
    index = load_dataset(domain, root)  # names parse and counts agree with meta.json
    meta = json.loads((root / "meta.json").read_text())
    assert meta["seed"] == 0 and meta["train_ids"] == 6
    assert {k: meta[k] for k in worlds.KNOBS} == dict.fromkeys(worlds.KNOBS, 1.0)
    for split in ("train", "query", "gallery"):
        for rec in index["splits"][split]:
            image = Image.open(root / rec["path"])
            mask = np.asarray(Image.open(root / "masks" / Path(rec["path"]).with_suffix(".png")))
            assert image.size == (16, 32) and mask.shape == (32, 16)
            assert 0.02 < (mask > 127).mean() < 0.8  # a person (perhaps partly hidden), not the whole frame
    train_ids = {r["pid"] for r in index["splits"]["train"]}
    test_ids = {r["pid"] for r in index["splits"]["query"]}
    assert not train_ids & test_ids


def test_validation_split_is_disjoint_and_leaves_every_other_image_as_it_was(synthetic_domain):
    with_validation = synthetic_domain("market1501")  # the fixture's domains have 3 validation identities
    without = synthetic_domain("market1501", domains={d: {**c, "validation_ids": 0} for d, c in TINY_SYNTH["domains"].items()})
    index = load_dataset("market1501", with_validation)
    validation = {r["pid"] for r in index["splits"]["val_query"]}
    others = {r["pid"] for split in SPLIT_DIRS for r in index["splits"][split]}
    assert len(validation) == 3 and not validation & others
    distractors = [r for r in index["splits"]["val_gallery"] if r["pid"] not in validation]
    assert len(distractors) == round(3 * 3 / 5) and {r["pid"] for r in distractors} == {0}  # the test's share, as "0000"
    matched = {(r["pid"], r["camid"]) for r in index["splits"]["val_gallery"]}
    assert all((r["pid"], r["camid"]) in matched for r in index["splits"]["val_query"])  # a same-camera shot exists ...
    cameras = {pid: {c for p, c in matched if p == pid} for pid in validation}
    assert all(len(cams) >= 2 for cams in cameras.values())  # ... and one from another camera to find
    for folder in SPLIT_DIRS.values():
        assert tree_digest(with_validation / folder) == tree_digest(without / folder)
        assert tree_digest(with_validation / "masks" / folder) == tree_digest(without / "masks" / folder)
    assert "val_query" not in load_dataset("market1501", without)["splits"]


def test_deterministic_for_a_seed(synthetic_domain):
    a = synthetic_domain("market1501")
    b = synthetic_domain("market1501", images_per_camera=[1, 2])  # same values, separate folder
    c = synthetic_domain("market1501", seed=1)
    assert a != b and tree_digest(a) == tree_digest(b)
    assert tree_digest(a) != tree_digest(c)


def background_mean(root: Path) -> np.ndarray:
    return np.mean([item["image"][~item["mask"]].mean(axis=0) for item in images(root)], axis=0)


def test_style_gap_scales_the_domains_difference(synthetic_domain):
    def gap(value):
        return np.abs(background_mean(synthetic_domain("market1501", style_gap=value))
                      - background_mean(synthetic_domain("dukemtmc", style_gap=value))).sum()

    assert gap(0.0) < 0.5 * gap(1.0)


def context_variety(items: list[dict]) -> float:
    """Mean absolute difference of the background pixels (background in both) between pairs of
    images of one camera: how much two views of one camera differ."""
    by_camera = defaultdict(list)
    for item in items:
        by_camera[item["cam"]].append(item)
    differences = []
    for group in by_camera.values():
        for a, b in zip(group, group[1:]):
            both = ~a["mask"] & ~b["mask"]
            differences.append(np.abs(a["image"][both] - b["image"][both]).mean())
    return float(np.mean(differences))


def test_context_varies_within_a_camera_and_grows_with_the_knob(synthetic_domain):
    variety = {d: context_variety(images(synthetic_domain("dukemtmc", context_diversity=d, occlusion=0.0, **MORE)))
               for d in (0.0, 0.5, 1.0)}
    assert variety[1.0] > 0.10  # the floor: two views of one camera differ by a tenth of the range on average
    assert variety[0.0] < variety[0.5] < variety[1.0]
    assert variety[0.0] < 0.04  # at 0 one view per camera: what is left is sensor noise and the person's shadow


def light_correlation(items: list[dict]) -> float:
    """Correlation, over images, of the person's and the background's log brightness, each relative
    to its own mean (the person's over their images, the background's over its camera's)."""
    person = np.array([np.log(item["image"][item["mask"]].mean() + 1e-3) for item in items])
    background = np.array([np.log(item["image"][~item["mask"]].mean() + 1e-3) for item in items])
    for key, values in (("pid", person), ("cam", background)):
        groups = np.array([item[key] for item in items])
        for g in set(groups):
            values[groups == g] -= values[groups == g].mean()
    return float(np.corrcoef(person, background)[0, 1])


def test_scene_light_falls_on_person_and_background_alike(synthetic_domain):
    lit = light_correlation(images(synthetic_domain("market1501", occlusion=0.0, **MORE)))
    constant = light_correlation(images(synthetic_domain("market1501", occlusion=0.0, context_diversity=0.0, **MORE)))
    assert lit > 0.5
    assert lit > constant + 0.3


@pytest.mark.parametrize("size", [(64, 32), (32, 16)])
def test_stripes_are_at_least_two_pixels_wide(size):
    """At the default and the test size, the narrowest stripe of any person is two pixels or more,
    and a vertically striped torso shows both of its colours side by side (not a flat blend)."""
    h, w = size
    smallest_body = 0.80 * np.exp(-max(style["box"]["scale"] for style in worlds.DOMAIN_STYLES.values()))
    for body in (smallest_body, 0.92 * np.exp(0.12)):
        down, across = render.stripe_widths(worlds.STRIPE_WIDTH[0], body, h, w)
        assert down * h * body >= 2 - 1e-9 and across * 2 * w * w * body / h >= 2 - 1e-9
    person = worlds.sample_identity(np.random.default_rng(0), worlds.population("market1501", 1.0))
    for pattern in (2, 3):
        striped = dataclasses.replace(person, upper=np.array([0.9, 0.1, 0.1]), pattern_colour=np.array([0.1, 0.1, 0.9]),
                                      upper_pattern=pattern, long_sleeves=True, accessory=0)
        image, alpha = render.render_person(striped, h, w, np.random.default_rng(1), back=False,
                                               box={"offset": 0.0, "scale": 0.0})
        torso = image[int(0.4 * h)][alpha[int(0.4 * h)] > 0.99]
        red, blue = torso[:, 0] > 2 * torso[:, 2], torso[:, 2] > 2 * torso[:, 0]
        assert red.sum() >= 1 and blue.sum() >= 1, (pattern, torso)


def test_silhouettes_have_soft_edges():
    pop = worlds.population("market1501", 1.0)
    rng = np.random.default_rng(0)
    box = worlds.DOMAIN_STYLES["market1501"]["box"]
    for i in range(5):
        _, alpha = render.render_person(worlds.sample_identity(np.random.default_rng(i), pop), 64, 32, rng,
                                           back=False, box=box)
        inside = alpha >= 0.5
        edge = inside ^ np.roll(inside, 1, axis=1)  # pixels where the silhouette starts or ends along a row
        partial = (alpha > 0) & (alpha < 1)
        assert partial[edge | np.roll(edge, -1, axis=1)].mean() > 0.9


def hidden_shares(domain: str, knob: float, n: int, size: tuple[int, int] = (64, 32)) -> np.ndarray:
    """How much of the person an occluder hides in each of ``n`` images of ``domain`` (from the written
    masks, against the same image without occluders: the random streams are separate)."""
    cfg = {**TINY_SYNTH, "height": size[0], "width": size[1]}
    clear = worlds.make_world(domain, {**cfg, "occlusion": 0.0}, np.random.default_rng(0))
    occluded = worlds.make_world(domain, {**cfg, "occlusion": knob}, np.random.default_rng(0))
    shares = []
    for i in range(n):
        person = worlds.sample_identity(np.random.default_rng([i, 1]), clear.population)
        camera = i % len(clear.cameras)
        _, seen = render.compose(person, clear, camera, shots.image_streams(0, 1, i))
        _, visible = render.compose(person, occluded, camera, shots.image_streams(0, 1, i))
        shares.append(1 - visible.sum() / max(seen.sum(), 1))
    return np.array(shares)


@pytest.mark.parametrize("domain, knob, size", [("dukemtmc", 1.0, (64, 32)), ("dukemtmc", 0.5, (32, 16)),
                                               ("market1501", 1.0, (32, 16))])
def test_occlusion_rate_as_configured(domain, knob, size):
    """The share of persons more than 10 % hidden, measured on the masks, is the domain's rate times
    the knob within 0.03 (1,200 images: 0.03 is 2.3 to 3.3 standard errors), and an occluder never
    hides more than 1 - MIN_VISIBLE of a person."""
    shares = hidden_shares(domain, knob, 1200, size)
    expected = knob * worlds.DOMAIN_STYLES[domain]["occlusion"]
    assert abs((shares > 0.10).mean() - expected) < 0.03, ((shares > 0.10).mean(), expected)
    assert shares.max() < 1 - render.MIN_VISIBLE + 0.05


def dressed_for_winter(pop: worlds.Population, n: int = 400) -> float:
    """The share of persons drawn from ``pop`` in long sleeves and dark upper garments."""
    people = [worlds.sample_identity(np.random.default_rng(i), pop) for i in range(n)]
    return float(np.mean([p.long_sleeves and p.upper.max() < 0.4 for p in people]))


def colour_bin(colour: np.ndarray) -> tuple:
    """A colour as a person would name it roughly: grey or one of six hues, and dark, mid or light."""
    h, s, v = colorsys.rgb_to_hsv(*map(float, colour))
    return ("grey" if s < 0.2 else int(h * 6) % 6, int(v >= 0.35) + int(v >= 0.65))


def appearance_code(person: worlds.Identity) -> tuple:
    """The coarse look of a person: upper and lower colour, pattern, sleeves, lower garment, accessory."""
    return (colour_bin(person.upper), colour_bin(person.lower), person.upper_pattern, person.long_sleeves,
            person.lower_kind, person.accessory)


@pytest.mark.parametrize("domain", sorted(LAYOUTS))
def test_most_identities_have_a_look_of_their_own(domain):
    """Of a domain's 250 training identities, at least 80 % have a coarse appearance code no other has
    (three draws), so a re-id network has cues to learn in every domain, the winter one included."""
    pop = worlds.population(domain, 1.0)
    for draw in range(3):
        codes = [appearance_code(worlds.sample_identity(np.random.default_rng([draw, 1, k, 1]), pop))
                 for k in range(250)]
        counts = Counter(codes)
        assert np.mean([counts[c] == 1 for c in codes]) >= 0.8, (domain, draw)


def test_population_shift_changes_who_walks_and_zero_removes_it():
    summer, winter = (worlds.population(d, 1.0) for d in ("market1501", "dukemtmc"))
    assert dressed_for_winter(winter) > dressed_for_winter(summer) + 0.3
    neutral = [worlds.population(d, 0.0) for d in LAYOUTS]
    assert all(p == neutral[0] for p in neutral)


def in_population_range(colour: np.ndarray, pop: worlds.Population) -> bool:
    """Whether ``colour`` is one the population's clothing can have (its brightness and saturation ranges)."""
    _, s, v = colorsys.rgb_to_hsv(*map(float, colour))
    return pop.value[0] - 1e-6 <= v <= pop.value[1] + 1e-6 and (s <= 0.15 + 1e-6 or 0.4 - 1e-6 <= s <= 0.9 + 1e-6)


def along_palette(colour: np.ndarray, palette: np.ndarray) -> bool:
    """Whether ``colour`` is a palette colour made darker or lighter."""
    cosine = palette @ colour / (np.linalg.norm(palette, axis=1) * np.linalg.norm(colour) + 1e-9)
    return cosine.max() > 0.9999


@pytest.mark.parametrize("domain", ["market1501", "dukemtmc"])
def test_clutter_and_occluders_take_the_domains_colours(domain):
    """Passers-by wear the domain's clothing (or show its skin tones); vehicles, poles and occluding
    objects take the domain's scene palette: no colour from outside the domain's world."""
    world = worlds.make_world(domain, TINY_SYNTH | {"height": 64, "width": 32}, np.random.default_rng(0))
    palette = np.asarray(world.style["palette"], np.float32)
    rng = np.random.default_rng(0)
    colours = []
    for _ in range(40):
        image = np.full((64, 32, 3), np.nan, np.float32)
        render.add_clutter(image, dataclasses.replace(worlds.draw_view(rng, world.cameras[0], world.style, 1.0, 0),
                                                         clutter=3), rng, palette, world.population)
        colours += list(image[~np.isnan(image[..., 0])])
        _, alpha = render.render_person(worlds.sample_identity(rng, world.population), 64, 32, rng, False,
                                           world.style["box"])
        colour, cover = render.draw_occluder(rng, alpha, world.population, palette)
        colours += list(colour[cover > 0])
    colours = np.unique(np.round(np.array(colours), 5), axis=0)
    foreign = [c for c in colours if not (in_population_range(c, world.population) or along_palette(c, palette)
                                          or np.abs(worlds.SKIN - c).max(axis=1).min() < 1e-4)]
    assert len(colours) > 20 and not foreign, foreign[:5]


def test_windows_fall_anywhere_in_the_scene_and_none_past_its_ends():
    """At context_diversity 1 a window's centre is uniform over the scene (a camera whose own view is
    near one end included): no pile-up at the ends as clipping would give."""
    world = worlds.make_world("market1501", TINY_SYNTH, np.random.default_rng(0))
    camera = dataclasses.replace(world.cameras[0], centre=1.0)
    rng = np.random.default_rng(0)
    xs = np.array([worlds.draw_view(rng, camera, world.style, 1.0, 0).x for _ in range(4000)])
    assert xs.min() >= 0.5 and xs.max() <= worlds.SCENE_WIDTH - 0.5
    ends = ((xs < 0.55) | (xs > worlds.SCENE_WIDTH - 0.55)).mean()
    assert ends < 2 * 0.05 / (worlds.SCENE_WIDTH - 1) + 0.015, ends


def test_light_direction_and_sun_spread_grow_with_context_diversity():
    world = worlds.make_world("market1501", TINY_SYNTH, np.random.default_rng(0))
    spreads = []
    for diversity in (0.0, 0.25, 0.5, 1.0):
        rng = np.random.default_rng(0)
        views = [worlds.draw_view(rng, world.cameras[0], world.style, diversity, 1.0) for _ in range(2000)]
        spreads.append((np.ptp([v.direction for v in views]), np.ptp([v.sun for v in views])))
    assert spreads[0] == (0.0, 0.0)
    for kind in range(2):
        assert all(a[kind] < b[kind] for a, b in zip(spreads, spreads[1:])), spreads


def test_style_gap_zero_leaves_every_camera_untinted():
    for domain in LAYOUTS:
        cameras = worlds.make_world(domain, TINY_SYNTH | {"style_gap": 0.0}, np.random.default_rng(0)).cameras
        assert all(np.array_equal(c.tint, np.ones(3)) and c.brightness == 1 and c.temperature == 0 for c in cameras)
        assert all(v.colour().tolist() == [1, 1, 1] for v in (worlds.draw_view(np.random.default_rng(i), cameras[0],
                   worlds.domain_style(domain, 0.0), 0.0, 0) for i in range(5)))


def test_style_and_diversity_at_zero_give_one_look_per_camera(synthetic_domain):
    """style_gap 0 and context_diversity 0 together: every camera of every domain differs from the
    others only by its scene's structure (backgrounds drawn from one palette, one light)."""
    items = images(synthetic_domain("market1501", style_gap=0.0, context_diversity=0.0, occlusion=0.0, **MORE))
    assert context_variety(items) < 0.04


def test_generation_stays_under_a_minute_per_domain_on_one_core(tmp_path: Path):
    """The largest default domain (DukeMTMC-like, about 6,300 images), extrapolated from 300 images'
    CPU time, including writing them."""
    cfg = {"seed": 0, "height": 64, "width": 32, "images_per_camera": [1, 3],
           **dict.fromkeys(worlds.KNOBS, 1.0),
           "domains": {"dukemtmc": {"train_ids": 50, "test_ids": 0, "distractor_ids": 0, "junk_images": 0}}}
    start = time.process_time()
    meta = synthetic.generate_domain("dukemtmc", tmp_path / "duke", cfg, seed=0)
    per_image = (time.process_time() - start) / sum(meta["counts"].values())
    assert per_image * 6300 < 60, f"{per_image * 1000:.1f} ms per image"
