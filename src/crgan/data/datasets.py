"""Parsers for the official layouts of Market1501, DukeMTMC-reID and CUHK03 (cuhk03-np, detected).

A parser returns (path, person id, camera id) records per split and checks what it finds
before any training starts: missing folders, file names off the convention, unreadable or
truncated images and counts that differ from the official ones (or from ``meta.json`` for the
synthetic benchmark) each raise :class:`DatasetError` naming the path and what was expected.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

from crgan.data.layouts import LAYOUTS, VALIDATION_DIRS, DomainLayout
from crgan.errors import DatasetError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


@dataclass(frozen=True)
class Record:
    """One image: path relative to the dataset root, person id, 0-based camera id."""

    path: str
    pid: int
    camid: int


def _parse_split(root: Path, layout: DomainLayout, split: str) -> tuple[list[Record], int]:
    """Records of one split (junk dropped) and the number of image files found."""
    folder = root / layout.folder(split)
    if not folder.is_dir():
        raise DatasetError(f"{layout.title}: missing folder {folder} (expected the {split} split "
                           f"'{layout.folder(split)}/' under the dataset root {root})")
    records, n_files = [], 0
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            if path.is_file() and not path.name.startswith(".") and path.name != "Thumbs.db":
                raise DatasetError(f"{layout.title}: {path} is not an image file (expected names like {layout.example})")
            continue
        parsed = layout.parse_name(path.name)
        if parsed is None:
            raise DatasetError(f"{layout.title}: file name {path} does not follow the dataset's naming "
                               f"(expected names like {layout.example}, cameras 1-{layout.num_cameras})")
        n_files += 1
        pid, camid = parsed
        if layout.junk_pid is not None and pid == layout.junk_pid:
            continue
        if split in ("train", "query", "val_query") and pid == 0 and layout.distractor_pid_zero:
            raise DatasetError(f"{layout.title}: distractor id 0000 in the {split} split: {path}")
        records.append(Record(str(path.relative_to(root)), pid, camid))
    return records, n_files


def expected_counts(root: Path, layout: DomainLayout) -> tuple[dict[str, int], str]:
    """Counts to check against: ``meta.json`` of a synthetic domain, else the official ones."""
    meta = root / "meta.json"
    if meta.is_file():
        m = json.loads(meta.read_text())
        return {**m["counts"], "train_ids": m["train_ids"]}, f"{meta}"
    return dict(layout.official), f"the official {layout.title} statistics"


def verify_images(root: Path, records: Iterable[Record]) -> None:
    """Decode every image fully, so a truncated or corrupt file fails now, not mid-training."""
    for rec in records:
        path = root / rec.path
        try:
            with Image.open(path) as im:
                im.load()
        except Exception as exc:  # PIL raises several types for broken files
            raise DatasetError(f"unreadable or truncated image {path}: {exc}") from None


def load_dataset(domain: str, root: str | Path, check_counts: bool = True, verify: bool = True) -> dict:
    """Parse and check one dataset root; returns a JSON-ready index with records per split."""
    if domain not in LAYOUTS:
        raise DatasetError(f"unknown dataset {domain!r} (expected one of {sorted(LAYOUTS)})")
    layout, root = LAYOUTS[domain], Path(root)
    if not root.is_dir():
        raise DatasetError(f"{layout.title}: dataset root {root} does not exist or is not a folder")
    splits, files = {}, {}
    validation = (root / Path(next(iter(VALIDATION_DIRS.values()))).parent).is_dir()  # optional on real data
    for split in [*layout.split_dirs, *(VALIDATION_DIRS if validation else ())]:
        splits[split], files[split] = _parse_split(root, layout, split)
        if not splits[split]:
            raise DatasetError(f"{layout.title}: no images in {root / layout.folder(split)}")
    train_ids = len({r.pid for r in splits["train"]})
    if check_counts:
        expected, source = expected_counts(root, layout)
        found = {**files, "train_ids": train_ids}
        for key, want in expected.items():
            if found.get(key, 0) != want:
                what = "train identities" if key == "train_ids" else f"image files in {root / layout.folder(key)}"
                raise DatasetError(f"{layout.title}: found {found[key]} {what}, expected {want} "
                                   f"(from {source}); set data.check_counts: false to accept a modified copy")
    if verify:
        for recs in splits.values():
            verify_images(root, recs)
    if validation:
        overlap = {r.pid for r in splits["val_query"]} & {r.pid for s in ("train", "query") for r in splits[s]}
        if overlap:
            raise DatasetError(f"{layout.title}: identities {sorted(overlap)[:5]} of {root / 'validation'} are also in "
                               f"the train or test split (the validation identities must be disjoint from both)")
    return {
        "domain": domain, "root": str(root.resolve()), "synthetic": (root / "meta.json").is_file(),
        "num_cameras": layout.num_cameras, "train_ids": train_ids,
        "files": files, "splits": {k: [asdict(r) for r in v] for k, v in splits.items()},
    }


def rehearsal_subset(index: dict, identities: int) -> dict:
    """A rehearsal's small copy of an index: the first ``identities`` training identities, the first
    ``identities`` test identities (their query and gallery images, so every query keeps its matches),
    at most ``identities`` gallery images of distractors and junk (ids <= 0), and the first
    ``identities`` validation identities where there is a validation split."""
    splits = index["splits"]
    keep_train = sorted({r["pid"] for r in splits["train"]})[:identities]
    keep_test = set(sorted({r["pid"] for r in splits["query"] if r["pid"] > 0})[:identities])
    others = [r for r in splits["gallery"] if r["pid"] <= 0][:identities]
    subset = {"train": [r for r in splits["train"] if r["pid"] in set(keep_train)],
              "query": [r for r in splits["query"] if r["pid"] in keep_test],
              "gallery": [r for r in splits["gallery"] if r["pid"] in keep_test] + others}
    if "val_query" in splits:
        keep_val = set(sorted({r["pid"] for r in splits["val_query"]})[:identities])
        subset |= {split: [r for r in splits[split] if r["pid"] in keep_val] for split in VALIDATION_DIRS}
    return {**index, "splits": subset, "train_ids": len(keep_train), "rehearsal_identities": identities,
            "files": {k: len(v) for k, v in subset.items()}}


def records_of(index: dict, split: str) -> list[Record]:
    return [Record(**r) for r in index["splits"][split]]
