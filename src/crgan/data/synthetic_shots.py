"""The synthetic benchmark's shot plan: which identity each image shows, from which camera, in which
split and under which file name, and each image's random streams."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crgan.data.layouts import DomainLayout

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
    train, test and distractor id), each with a query per camera and a gallery as the test split's, and
    gallery-only distractors in the test split's proportion (a rank-1 depends on the gallery it ranks).
    Planned after (and from another stream than) the rest, so adding it leaves every other image as it was."""
    shots: list[Shot] = []

    def add(split: str, pid: int, cam: int) -> None:
        shots.append(Shot(split, pid, cam, layout.file_name(pid, cam, len(shots) + 1, rng)))

    n_validation = counts.get("validation_ids", 0)
    for pid in range(first, first + n_validation):
        for cam in layout.sample_cameras(rng):
            add("val_query", pid, cam)
            for _ in range(int(rng.integers(images_per_camera[0], images_per_camera[1] + 1))):
                add("val_gallery", pid, cam)
    for pid in range(first + n_validation, first + n_validation + validation_distractors(counts)):
        add("val_gallery", 0 if layout.distractor_pid_zero else pid, int(rng.integers(layout.num_cameras)))
    return shots


def validation_distractors(counts: dict[str, int]) -> int:
    """Gallery-only identities of the validation split: the test split's distractors per test identity."""
    if not counts["test_ids"]:
        return 0
    return round(counts["distractor_ids"] * counts.get("validation_ids", 0) / counts["test_ids"])
