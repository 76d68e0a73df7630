"""The HTML report: its tables hold the CSVs' numbers, and it renders in headless Chromium."""
from __future__ import annotations

import csv
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import REPO

from crgan.config import load
from crgan.methods import RANKED_ROWS, label
from crgan.plan import named_rows
from crgan.report.figures import line_plot
from crgan.report.html import claims_at_a_glance, table_view
from crgan.runs import pair_name

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


class Cells(HTMLParser):
    """Every result-table cell's data-* attributes, and the number of result tables and images."""

    def __init__(self):
        super().__init__()
        self.cells, self.tables, self.images = [], [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "result" in (a.get("class") or ""):
            self.tables.append(int(a["data-table"]))
        elif tag == "td" and "data-metric" in a:
            self.cells.append((self.tables[-1], a["data-method"], a["data-source"], a["data-target"], a["data-metric"],
                               a["data-value"], a["data-paper"], a["data-status"]))
        elif tag == "img" and (a.get("src") or "").startswith("data:image/png;base64,"):
            self.images += 1


def test_table_view_orders_metrics_and_compares_only_the_papers_metric():
    row = dict(table="1", source="market1501", target="dukemtmc", std="", paper_value="0.281", data="synthetic", seeds="0",
               init="", metric_backbone="substitute: x", status="reproduced", notes="")
    rows = [{**row, "method": "CR-GAN", "metric": "fid_substitute", "value": "0.5000"},
            {**row, "method": "CR-GAN", "metric": "lpips", "value": "0.3000"},
            {**row, "method": "CR-GAN", "metric": "kid", "value": "0.0100", "paper_value": ""}]
    view = table_view(1, rows)
    assert [m for m, _ in view["metrics"]] == ["lpips", "fid_substitute", "kid"]
    assert [label for _, label in view["metrics"]] == ["LPIPS", "FID*", "KID"]
    lpips_cell, fid_cell, kid_cell = view["body"][0]["cells"]
    assert lpips_cell["diff"] == "+0.0190" and fid_cell["diff"] == "" and kid_cell["diff"] == ""
    assert view["substitute"] and view["pairs"] == ["Market → Duke"]


def test_claims_at_a_glance_is_one_line_per_claim_and_one_cell_per_pair_and_metric():
    def claim(text, pair, metric, verdict, seeds="5"):
        return {"claim": text, "kind": "paper", "pair": pair, "metric": metric, "verdict": verdict, "seeds": seeds,
                "effect": "1.00", "ci_low": "0.50", "ci_high": "1.50", "holm": "survives", "p_value": "0.01"}

    rows = [claim("a", "M→D", "rank1", "holds"), claim("a", "D→M", "rank1", "not decided"),
            claim("b", "D→M", "rank1", "does not hold")]
    grid = claims_at_a_glance(rows)
    assert grid["columns"] == [("M→D", "rank1"), ("D→M", "rank1")] and grid["bundles"] == 5
    assert [line["claim"] for line in grid["lines"]] == ["a", "b"]
    assert grid["lines"][1]["cells"][0] is None and grid["lines"][1]["cells"][1]["verdict"] == "does not hold"
    assert claims_at_a_glance([])["bundles"] == 0


def test_line_plots_are_deterministic_svg_through_matplotlib():
    series = {"a": [(1, 2.0), (2, 1.0)], "b": [(1, 3.0), (2, float("nan"))]}
    svg = line_plot(series, "t", "x", "y", colours={"a": "#123456"}, dashed=frozenset({"b"}))
    assert svg.startswith("<svg") and svg.count('id="series-') == 2 and "nan" not in svg.lower()
    assert "#123456" in svg and svg == line_plot(series, "t", "x", "y", colours={"a": "#123456"}, dashed=frozenset({"b"}))
    assert "no data" in line_plot({"a": []}, "t", "x", "y")


def test_sample_grids_are_grouped_by_the_registry_main_variant_first(tmp_path: Path):
    """Every method with grid rows gets its group (label, caption, main grids, variants' grids): the
    report's template names no method."""
    from PIL import Image

    from crgan.methods import METHODS
    from crgan.report.html import figures
    from crgan.runs import Run

    paths = []
    for run in (Run.main("crgan", "market1501", "dukemtmc", 0), Run("crgan", "market1501", "dukemtmc", "wo_id", 0),
                Run.main("spgan", "dukemtmc", "market1501", 0), Run.main("crgan", "market1501", "dukemtmc", 1)):
        path = tmp_path / (run.generator + ".grid.png")
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 6)).save(path)
        paths.append(path)
    groups = {group["label"]: group for group in figures(paths)["grids"]}
    crgan, spgan = groups[METHODS["crgan"].label], groups[METHODS["spgan"].label]
    assert [f["alt"] for f in crgan["main"]] == ["CR-GAN, Market → Duke"]  # the first seed only
    assert [f["alt"] for f in crgan["variants"]] == ["w/o identity loss, Market → Duke"]
    assert crgan["main"][0]["rows"] == list(METHODS["crgan"].grid_rows) and "Figures 1 and 4" in crgan["caption"]
    assert [f["alt"] for f in spgan["main"]] == ["SPGAN, Duke → Market"] and not spgan["variants"]
    template = (REPO / "src" / "crgan" / "report" / "templates" / "report.html.j2").read_text()
    assert "figures.crgan" not in template and "figures.spgan" not in template


def test_report_tables_hold_the_csv_numbers(smoke_run: Path):
    parser = Cells()
    parser.feed((smoke_run / "results" / "report.html").read_text(encoding="utf-8"))
    assert sorted(parser.tables) == list(range(1, 9))
    in_csv = set()
    for n in range(1, 9):
        with open(smoke_run / "results" / f"table{n}.csv", newline="") as fh:
            in_csv |= {(n, r["method"], r["source"], r["target"], r["metric"], r["value"], r["paper_value"], r["status"])
                       for r in csv.DictReader(fh)}
    assert set(parser.cells) == in_csv and len(parser.cells) == len(in_csv)
    assert parser.images >= 8  # CR-GAN and SPGAN grids, quality strips
    # the claims' independent re-scoring (one bundle: no test, every effect against the tables' means)
    page = (smoke_run / "results" / "report.html").read_text(encoding="utf-8")
    assert re.search(r'<span id="rescored">0 tested rows [^<]* [1-9][0-9]* effects checked [^<]*every row agrees', page)


def test_report_shows_ranked_lists_of_the_same_queries_for_each_method(smoke_run: Path):
    page = (smoke_run / "results" / "report.html").read_text(encoding="utf-8")
    section = page[page.index('id="ranked"'):page.index('id="times"')]
    for method in ("Direct Transfer", "CR-GAN", "Cluster Contrast", "Target-supervised (upper bound)"):
        assert f'alt="ranked lists, {method}, Market → Duke"' in section
    config = load([REPO / "config.yaml", REPO / "presets" / "smoke.yaml"])
    for src, tgt in config["pairs"] + config["cuhk03_pairs"]:  # one strip per evaluated method the report ranks
        rows = named_rows(src, tgt)
        shown = [label(key) for key in RANKED_ROWS
                 if key in rows and (smoke_run / rows[key].evaluation.at(0).path).is_file()]
        assert len(shown) >= 4 and section.count(f', {pair_name(src, tgt)}"') == len(shown)
    assert 'alt="ranked lists, SPGAN, CUHK03 → Duke"' not in section  # not run: the paper has no such cell
    assert section.count("data:image/jpeg;base64,") == section.count('alt="ranked lists, ')


def test_report_shows_the_substitute_and_synthetic_labels(smoke_run: Path):
    page = (smoke_run / "results" / "report.html").read_text(encoding="utf-8")
    assert 'id="synthetic-banner"' in page and 'id="substitute-banner"' in page
    assert "LPIPS*" in page and "FID*" in page and "substitute: compact re-id network trained on" in page
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_report_shows_how_close_the_world_is_to_the_real_datasets(smoke_run: Path):
    """The calibration block: not measured in the smoke run (it says how to), and the run's own test-split
    anchors for each domain and pair, beside their targets and the real values."""
    page = (smoke_run / "results" / "report.html").read_text(encoding="utf-8")
    section = page[page.index('<section id="calibration">'):page.index("</section>", page.index('id="calibration"'))]
    assert "snakemake results/calibration.csv" in section
    for subject in ("market1501", "dukemtmc", "market1501-&gt;dukemtmc", "dukemtmc-&gt;market1501"):
        assert f"<td>{subject}</td>" in section, subject
    assert section.count("CR-GAN Table 2") == 2 and page.index('id="calibration"') < page.index('id="claims"')


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Debian's chromium and chromium-driver are not installed "
                    "(.ci/run installs them; apt-get install chromium chromium-driver)")
def test_report_in_headless_chromium(smoke_run: Path):
    """No console errors, all eight tables, every image decoded; a full-page screenshot is saved."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (dev extra) is not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get((smoke_run / "results" / "report.html").resolve().as_uri())
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert not errors, errors
        assert driver.execute_script("return document.querySelectorAll('table.result').length") == 8
        images = driver.execute_script("return [...document.images].map(i => i.complete && i.naturalWidth > 0)")
        assert images and all(images)
        assert driver.execute_script("return document.querySelectorAll('svg.plot').length") >= 4
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1400, height)
        shot = smoke_run / "results" / "report.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    finally:
        driver.quit()
