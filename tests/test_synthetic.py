"""The embedded benchmark: deterministic, in the real layouts, with masks; and each property the
world claims (docs/assumptions.md) measured on the images it generates, with each knob at 0
removing its effect."""
from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_SYNTH
from PIL import Image

from crgan.data import synthetic
from crgan.data.datasets import load_dataset
from crgan.data.layouts import LAYOUTS, SPLIT_DIRS, VALIDATION_DIRS

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
    assert {k: meta[k] for k in synthetic.KNOBS} == dict.fromkeys(synthetic.KNOBS, 1.0)
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
    validation = {r["pid"] for split in VALIDATION_DIRS for r in index["splits"][split]}
    others = {r["pid"] for split in SPLIT_DIRS for r in index["splits"][split]}
    assert len(validation) == 3 and not validation & others
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


def test_silhouettes_have_soft_edges():
    pop = synthetic.population("market1501", 1.0)
    rng = np.random.default_rng(0)
    box = synthetic.DOMAIN_STYLES["market1501"]["box"]
    for i in range(5):
        _, alpha = synthetic.render_person(synthetic.sample_identity(np.random.default_rng(i), pop), 64, 32, rng,
                                           back=False, box=box)
        inside = alpha >= 0.5
        edge = inside ^ np.roll(inside, 1, axis=1)  # pixels where the silhouette starts or ends along a row
        partial = (alpha > 0) & (alpha < 1)
        assert partial[edge | np.roll(edge, -1, axis=1)].mean() > 0.9


def changed_masks(a: Path, b: Path) -> float:
    """The share of images whose person mask differs between two renderings of one domain."""
    masks = sorted((a / "masks").rglob("*.png"))
    return float(np.mean([not np.array_equal(np.asarray(Image.open(m)), np.asarray(Image.open(b / m.relative_to(a))))
                          for m in masks]))


@pytest.mark.parametrize("knob", [1.0, 0.5])
def test_occlusion_rate_as_configured(synthetic_domain, knob):
    """The same domain with and without occluders (separate random streams, so only occluders
    differ): the share of masks an occluder cut is the domain's rate times the knob."""
    clear = synthetic_domain("dukemtmc", occlusion=0.0, **MORE)
    occluded = synthetic_domain("dukemtmc", occlusion=knob, **MORE)
    rate = changed_masks(clear, occluded)
    expected = knob * synthetic.DOMAIN_STYLES["dukemtmc"]["occlusion"]
    n = len(list((clear / "masks").rglob("*.png")))
    assert abs(rate - expected) < 3 * np.sqrt(expected * (1 - expected) / n) + 0.02, (rate, expected, n)


def dressed_for_winter(pop: synthetic.Population, n: int = 400) -> float:
    """The share of persons drawn from ``pop`` in long sleeves and dark upper garments."""
    people = [synthetic.sample_identity(np.random.default_rng(i), pop) for i in range(n)]
    return float(np.mean([p.long_sleeves and p.upper.max() < 0.4 for p in people]))


def test_population_shift_changes_who_walks_and_zero_removes_it():
    summer, winter = (synthetic.population(d, 1.0) for d in ("market1501", "dukemtmc"))
    assert dressed_for_winter(winter) > dressed_for_winter(summer) + 0.3
    neutral = [synthetic.population(d, 0.0) for d in LAYOUTS]
    assert all(p == neutral[0] for p in neutral)


def test_style_and_diversity_at_zero_give_one_look_per_camera(synthetic_domain):
    """style_gap 0 and context_diversity 0 together: every camera of every domain differs from the
    others only by its scene's structure (backgrounds drawn from one palette, one light)."""
    items = images(synthetic_domain("market1501", style_gap=0.0, context_diversity=0.0, occlusion=0.0, **MORE))
    assert context_variety(items) < 0.04


def test_generation_stays_under_a_minute_per_domain_on_one_core(tmp_path: Path):
    """The largest default domain (DukeMTMC-like, about 6,300 images), extrapolated from 300 images'
    CPU time, including writing them."""
    cfg = {"seed": 0, "height": 64, "width": 32, "images_per_camera": [1, 3],
           **dict.fromkeys(synthetic.KNOBS, 1.0),
           "domains": {"dukemtmc": {"train_ids": 50, "test_ids": 0, "distractor_ids": 0, "junk_images": 0}}}
    start = time.process_time()
    meta = synthetic.generate_domain("dukemtmc", tmp_path / "duke", cfg, seed=0)
    per_image = (time.process_time() - start) / sum(meta["counts"].values())
    assert per_image * 6300 < 60, f"{per_image * 1000:.1f} ms per image"
