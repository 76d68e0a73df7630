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

The world (styles, populations, persons, cameras, views) is :mod:`crgan.data.synthetic_world`, its
rendering :mod:`crgan.data.synthetic_render`, the shot plan :mod:`crgan.data.synthetic_shots`; this
module writes a domain. Each domain is written in its real dataset's layout and file naming, so the same parsers
(:mod:`crgan.data.datasets`) read synthetic and real data. Random draws come from separate
streams per image (person, scene, light, occluder, sensor noise), so changing one knob leaves
what the others draw unchanged.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from crgan.data.layouts import LAYOUTS
from crgan.data.synthetic_render import compose
from crgan.data.synthetic_shots import VALIDATION_STREAM, image_streams, plan_domain, plan_validation
from crgan.data.synthetic_world import KNOBS, Identity, make_world, sample_identity
from crgan.io import atomic_dir


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
