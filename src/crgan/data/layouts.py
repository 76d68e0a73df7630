"""On-disk layouts and file naming of Market1501, DukeMTMC-reID and CUHK03 (cuhk03-np, detected).

The parsers read these, and the synthetic generator writes them, so the two can never drift apart.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

SPLIT_DIRS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
#: The validation split (identities disjoint from train and test), for choosing training budgets only:
#: never a table or a claim. The synthetic benchmark writes it; on real data it is optional (a held-out
#: part of a dataset, placed by the user in these folders under its root).
VALIDATION_DIRS = {"val_query": "validation/query", "val_gallery": "validation/bounding_box_test"}
#: The splits an evaluation reads, by the split it is named for.
EVALUATION_SPLITS = {"test": ("query", "gallery"), "validation": ("val_query", "val_gallery")}


@dataclass(frozen=True)
class DomainLayout:
    """How one dataset names its files, which ids are junk or distractors, and its official counts."""

    name: str
    title: str
    pattern: re.Pattern
    example: str
    num_cameras: int
    official: dict[str, int]  # image counts per split (files on disk) and train identities
    junk_pid: int | None = None  # images to drop entirely (Market's -1)
    distractor_pid_zero: bool = False  # Market: gallery-only distractors share pid 0000
    camera_pairs: int = 0  # CUHK03: identities live in one of several camera pairs
    split_dirs: dict[str, str] = field(default_factory=lambda: dict(SPLIT_DIRS))

    def folder(self, split: str) -> str:
        """A split's folder under the dataset root (the validation splits' too)."""
        return {**self.split_dirs, **VALIDATION_DIRS}[split]

    @property
    def physical_cameras(self) -> int:
        return 2 * self.camera_pairs if self.camera_pairs else self.num_cameras

    def physical_camera(self, cam: int, pid: int) -> int:
        """The physical camera behind a named camera (CUHK03 names only c1/c2 within a pair)."""
        return 2 * (abs(pid) % self.camera_pairs) + cam if self.camera_pairs else cam

    def sample_cameras(self, rng: np.random.Generator) -> list[int]:
        """The cameras an identity is seen in: at least two, so every query can have a match."""
        k = int(rng.integers(2, self.num_cameras + 1))
        return sorted(int(c) for c in rng.choice(self.num_cameras, size=k, replace=False))

    def file_name(self, pid: int, cam: int, index: int, rng: np.random.Generator) -> str:
        """A file name in the dataset's own convention (``cam`` is 0-based here, 1-based on disk)."""
        if self.name == "market1501":
            pid_str = "-1" if pid == -1 else f"{pid:04d}"
            return f"{pid_str}_c{cam + 1}s{int(rng.integers(1, 7))}_{index:06d}_{int(rng.integers(1, 10)):02d}.jpg"
        if self.name == "dukemtmc":
            return f"{pid:04d}_c{cam + 1}_f{index:07d}.jpg"
        return f"{pid:04d}_c{cam + 1}_{index}.png"

    def parse_name(self, name: str) -> tuple[int, int] | None:
        """(pid, 0-based camera) from a file name, or None if it does not follow the convention."""
        m = self.pattern.match(name)
        if not m:
            return None
        pid, cam = int(m.group(1)), int(m.group(2)) - 1
        return (pid, cam) if 0 <= cam < self.num_cameras else None


LAYOUTS: dict[str, DomainLayout] = {
    "market1501": DomainLayout(
        name="market1501", title="Market1501", pattern=re.compile(r"^(-1|\d{4})_c(\d)s\d_\d{6}_\d{2}\.jpg$"),
        example="0002_c1s1_000451_01.jpg", num_cameras=6,
        official={"train": 12936, "query": 3368, "gallery": 19732, "train_ids": 751},
        junk_pid=-1, distractor_pid_zero=True),
    "dukemtmc": DomainLayout(
        name="dukemtmc", title="DukeMTMC-reID", pattern=re.compile(r"^(\d{4})_c(\d)_f\d{7}\.jpg$"),
        example="0005_c2_f0046985.jpg", num_cameras=8,
        official={"train": 16522, "query": 2228, "gallery": 17661, "train_ids": 702}),
    "cuhk03": DomainLayout(
        name="cuhk03", title="CUHK03 (detected, cuhk03-np)", pattern=re.compile(r"^(\d{4})_c(\d)_\d+\.png$"),
        example="0001_c1_1.png", num_cameras=2, camera_pairs=5,
        official={"train": 7365, "query": 1400, "gallery": 5332, "train_ids": 767}),
}
