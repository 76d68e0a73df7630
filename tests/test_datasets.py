"""Dataset parsers: official layouts, junk/distractor handling, and early, named errors."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_tree, write_image

from crgan.data.datasets import load_dataset
from crgan.errors import DatasetError


def test_market_records_drop_junk_keep_distractors(market_tree: Path):
    index = load_dataset("market1501", market_tree, check_counts=False)
    gallery = index["splits"]["gallery"]
    assert {r["pid"] for r in gallery} == {0, 10, 11}  # -1 junk dropped, 0000 distractor kept
    assert index["files"]["gallery"] == 5 and len(gallery) == 4
    assert index["train_ids"] == 2
    assert {(r["pid"], r["camid"]) for r in index["splits"]["query"]} == {(10, 0), (11, 1)}
    assert not index["synthetic"]


def test_duke_and_cuhk03_naming(tmp_path: Path):
    duke = make_tree(tmp_path / "DukeMTMC-reID", {
        "bounding_box_train": ["0005_c2_f0046985.jpg", "0005_c8_f0046999.jpg"],
        "query": ["0010_c1_f0000001.jpg"], "bounding_box_test": ["0010_c3_f0000002.jpg"]})
    index = load_dataset("dukemtmc", duke, check_counts=False)
    assert {r["camid"] for r in index["splits"]["train"]} == {1, 7}
    cuhk = make_tree(tmp_path / "detected", {
        "bounding_box_train": ["0001_c1_1.png", "0001_c2_2.png"], "query": ["0003_c1_3.png"],
        "bounding_box_test": ["0003_c2_4.png"]})
    assert load_dataset("cuhk03", cuhk, check_counts=False)["splits"]["gallery"][0]["camid"] == 1


def test_a_validation_folder_on_real_data_is_read_and_checked_for_disjoint_identities(market_tree: Path):
    assert "val_query" not in load_dataset("market1501", market_tree, check_counts=False)["splits"]  # optional
    make_tree(market_tree, {"validation/query": ["0020_c1s1_000008_00.jpg"],
                            "validation/bounding_box_test": ["0020_c2s1_000009_01.jpg"]})
    index = load_dataset("market1501", market_tree, check_counts=False)
    assert [r["pid"] for r in index["splits"]["val_query"]] == [20] and index["files"]["val_gallery"] == 1
    make_tree(market_tree, {"validation/query": ["0007_c2s1_000010_00.jpg"]})  # a training identity
    with pytest.raises(DatasetError, match=r"identities \[7\] of .*validation are also in the train or test split"):
        load_dataset("market1501", market_tree, check_counts=False)


def test_official_counts_are_checked(market_tree: Path):
    with pytest.raises(DatasetError, match=r"found 3 image files in .*bounding_box_train, expected 12936"):
        load_dataset("market1501", market_tree)


def test_missing_folder_names_path(market_tree: Path):
    (market_tree / "query").rename(market_tree / "queries")
    with pytest.raises(DatasetError, match=r"missing folder .*Market-1501-v15.09.15/query"):
        load_dataset("market1501", market_tree, check_counts=False)


def test_missing_root(tmp_path: Path):
    with pytest.raises(DatasetError, match=r"dataset root .*nowhere does not exist"):
        load_dataset("dukemtmc", tmp_path / "nowhere")


def test_wrong_file_name_names_file(market_tree: Path):
    write_image(market_tree / "query" / "person12.jpg")
    with pytest.raises(DatasetError, match=r"person12.jpg does not follow.*0002_c1s1_000451_01.jpg"):
        load_dataset("market1501", market_tree, check_counts=False)


def test_camera_out_of_range(market_tree: Path):
    write_image(market_tree / "query" / "0010_c9s1_000001_00.jpg")
    with pytest.raises(DatasetError, match="cameras 1-6"):
        load_dataset("market1501", market_tree, check_counts=False)


def test_non_image_file(market_tree: Path):
    (market_tree / "query" / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match=r"notes.txt is not an image file"):
        load_dataset("market1501", market_tree, check_counts=False)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_image_names_file(market_tree: Path, damage: str):
    path = market_tree / "bounding_box_test" / "0011_c5s3_000005_01.jpg"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not a jpeg at all")
    with pytest.raises(DatasetError, match=r"unreadable or truncated image .*0011_c5s3_000005_01.jpg"):
        load_dataset("market1501", market_tree, check_counts=False)


def test_synthetic_counts_from_meta(tmp_path: Path, synthetic_domain):
    root = synthetic_domain("dukemtmc")
    index = load_dataset("dukemtmc", root)
    assert index["synthetic"]
    (root / "bounding_box_train" / sorted(p.name for p in (root / "bounding_box_train").iterdir())[0]).unlink()
    with pytest.raises(DatasetError, match=r"expected \d+ \(from .*meta.json\)"):
        load_dataset("dukemtmc", root)


def test_cli_reports_corrupt_image_in_one_line(market_tree: Path, tmp_path: Path):
    import json
    import subprocess
    import sys

    victim = market_tree / "query" / "0010_c1s1_000001_00.jpg"
    victim.write_bytes(victim.read_bytes()[:40])
    cfg = {"data": {"source": "real", "roots": {"market1501": str(market_tree)}, "check_counts": False}}
    proc = subprocess.run([sys.executable, "-m", "crgan.cli", "index", "--config-json", json.dumps(cfg),
                           "--domain", "market1501", "--out", str(tmp_path / "index.json")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and not (tmp_path / "index.json").exists()
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "unreadable or truncated image" in errors[0] and str(victim) in errors[0]
