"""The Snakemake workflow end to end on the smoke preset, and its early failures."""
from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from conftest import assert_cluster_contrast_fits_its_pseudo_labels, run_snakemake, smoke_workdir, snakemake_command

from crgan.report.tables import COLUMNS, NOT_REPORTED

TABLES = [f"results/table{n}.csv" for n in range(1, 9)]


def test_table2_rows(smoke_run: Path):
    rows = list(csv.DictReader((smoke_run / "results" / "table2.csv").open()))
    assert list(rows[0]) == COLUMNS
    methods = {(r["method"], r["source"], r["target"]) for r in rows}
    for src, tgt in [("market1501", "dukemtmc"), ("dukemtmc", "market1501")]:
        for method in ("Direct Transfer", "w/o dual condition", "CR-GAN", "w/o dual condition+LMP", "CR-GAN+LMP",
                       "Paste (control)", "Paste (control)+LMP", "AdaBN (control)", "AdaBN (control)+LMP",
                       "CR-GAN+AdaBN (control)", "CR-GAN+AdaBN (control)+LMP",
                       "Source->source (sanity)", "Target-supervised (upper bound)"):
            assert (method, src, tgt) in methods
    for row in rows:
        assert 0 <= float(row["value"]) <= 100
        assert row["data"] == "synthetic" and row["status"] == "reproduced" and row["seeds"] == "0"
        assert row["init"] == "scratch"
    dt = {(r["source"], r["metric"]): r for r in rows if r["method"] == "Direct Transfer"}
    assert dt[("market1501", "rank1")]["paper_value"] == "36.9" and dt[("dukemtmc", "map")]["paper_value"] == "20.0"
    assert dt[("market1501", "rank5")]["paper_value"] == ""  # the paper gives no R5 in Table 2


def test_table3_rows(smoke_run: Path):
    rows = list(csv.DictReader((smoke_run / "results" / "table3.csv").open()))
    assert {r["method"] for r in rows} == {"w/o identity loss", "w/o camera loss", "w/o context loss", "CR-GAN"}
    assert len(rows) == 4 * 2 * 4  # methods x pairs x metrics
    paper = {(r["method"], r["source"], r["metric"]): r["paper_value"] for r in rows}
    assert paper[("w/o identity loss", "market1501", "rank1")] == "31.9"
    table2 = {(r["method"], r["source"], r["metric"]): r["value"]
              for r in csv.DictReader((smoke_run / "results" / "table2.csv").open())}
    assert table2[("CR-GAN", "dukemtmc", "map")] == next(
        r["value"] for r in rows if (r["method"], r["source"], r["metric"]) == ("CR-GAN", "dukemtmc", "map"))


def read_table(work: Path, n: int) -> list[dict[str, str]]:
    rows = list(csv.DictReader((work / "results" / f"table{n}.csv").open()))
    assert rows and list(rows[0]) == COLUMNS
    return rows


def test_comparison_tables_ours_and_quoted(smoke_run: Path):
    t5, t6, t7 = (read_table(smoke_run, n) for n in (5, 6, 7))
    for rows, ours, quoted, pairs in [
        (t5, {"SPGAN", "CR-GAN", "SPGAN+LMP", "CR-GAN+LMP"}, {"PTGAN", "M2M-GAN", "M2M-GAN+LMP"},
         {("market1501", "dukemtmc"), ("dukemtmc", "market1501")}),
        (t6, {"Untrained network (floor)", "TAUDL from the source model (control)", "SPGAN+LMP", "CR-GAN+LMP", "TAUDL",
              "SPGAN+TAUDL", "CR-GAN+TAUDL"},
         {"LOMO", "BoW", "UMDL", "PTGAN", "M2M-GAN+LMP", "PUL", "TJ-AIDL", "MMFA", "BUC", "HHL"},
         {("market1501", "dukemtmc"), ("dukemtmc", "market1501")}),
        (t7, {"Direct Transfer", "Untrained network (floor)", "TAUDL from the source model (control)", "SPGAN", "CR-GAN",
              "TAUDL", "CR-GAN+TAUDL"},
         {"PTGAN", "HHL", "SPGAN"},  # SPGAN: run from CUHK03 to Market only, where the paper reports it
         {("cuhk03", "market1501"), ("cuhk03", "dukemtmc")}),
    ]:
        assert {r["method"] for r in rows if r["status"] == "reproduced"} == ours
        assert {r["method"] for r in rows if r["status"] == "reported-only"} == quoted
        assert {(r["source"], r["target"]) for r in rows} == pairs
        for r in rows:
            if r["status"] == "reproduced":
                assert 0 <= float(r["value"]) <= 100 and r["data"] == "synthetic" and r["seeds"] == "0"
            elif (r["method"], r["target"]) == ("SPGAN", "dukemtmc"):
                assert r["value"] == r["paper_value"] == "" and r["notes"] == NOT_REPORTED
            else:
                assert r["value"] == "" and r["paper_value"] and "quoted from the paper" in r["notes"]
    assert not (smoke_run / "results" / "spgan" / "cuhk03-dukemtmc").exists()
    assert {r["metric"] for r in t5} == {"rank1", "map"}
    prov = json.loads((smoke_run / "results" / "table6.csv.provenance.json").read_text())
    assert prov["table"] == 6 and prov["config_hash"] and prov["torch"]
    assert len(prov["evaluations"]) == 14 and all(e["seed"] == 0 and e["device"] == "cpu" and e["cpu"]
                                                 for e in prov["evaluations"])
    cell = {(r["method"], r["source"], r["metric"]): r for r in t6}
    assert cell[("TAUDL", "market1501", "rank1")]["paper_value"] == "61.7"
    assert "per-camera identity labels and no cross-camera labels" in cell[("TAUDL", "market1501", "map")]["notes"]
    assert "StarGAN" in cell[("HHL", "dukemtmc", "rank1")]["notes"]
    # one network, one number: CR-GAN+LMP is the same in Tables 2, 5 and 6; TAUDL on a target is one run
    t2 = {(r["method"], r["source"], r["metric"]): r["value"] for r in read_table(smoke_run, 2)}
    t5v = {(r["method"], r["source"], r["metric"]): r["value"] for r in t5}
    assert t2[("CR-GAN+LMP", "dukemtmc", "map")] == t5v[("CR-GAN+LMP", "dukemtmc", "map")] == \
        cell[("CR-GAN+LMP", "dukemtmc", "map")]["value"]
    t7v = {(r["method"], r["target"], r["metric"]): r["value"] for r in t7}
    assert t7v[("TAUDL", "dukemtmc", "rank1")] == cell[("TAUDL", "market1501", "rank1")]["value"]
    assert cell[("CR-GAN+TAUDL", "market1501", "rank1")]["init"].startswith("CR-GAN market1501->dukemtmc")


def test_table8_cluster_contrast_beside_the_papers_best_and_published_references(smoke_run: Path):
    rows = read_table(smoke_run, 8)
    assert {r["method"] for r in rows if r["status"] == "reproduced"} == {
        "Direct Transfer", "Untrained network (floor)", "CR-GAN+LMP", "TAUDL", "CR-GAN+TAUDL", "Cluster Contrast",
        "CR-GAN+Cluster Contrast", "Target-supervised (upper bound)"}
    published = {(r["method"], r["source"], r["metric"]): r for r in rows if r["status"] == "published-elsewhere"}
    assert published[("SpCL", "market1501", "map")]["paper_value"] == "68.8"
    assert published[("DG-Net++", "dukemtmc", "rank1")]["paper_value"] == "82.6"
    assert all(r["value"] == "" and "not from the CR-GAN paper" in r["notes"] for r in published.values())
    cell = {(r["method"], r["source"], r["metric"]): r for r in rows}
    assert cell[("CR-GAN+TAUDL", "market1501", "map")]["paper_value"] == "48.6"  # Table 6's value
    assert cell[("CR-GAN+Cluster Contrast", "market1501", "rank1")]["init"].startswith("CR-GAN market1501->dukemtmc")
    t6 = {(r["method"], r["source"], r["metric"]): r["value"] for r in read_table(smoke_run, 6)}
    assert t6[("CR-GAN+TAUDL", "dukemtmc", "map")] == cell[("CR-GAN+TAUDL", "dukemtmc", "map")]["value"]
    for start in ("reid-market1501", "crgan-market1501"):  # its training works at the smoke size (see conftest)
        log = smoke_run / "results" / "cluster_contrast" / "dukemtmc" / start / "seed0" / "model.pt.log.csv"
        assert_cluster_contrast_fits_its_pseudo_labels(list(csv.DictReader(log.open())))


def test_spgan_and_taudl_outputs(smoke_run: Path):
    spgan = smoke_run / "results" / "spgan" / "cuhk03-market1501" / "seed0"
    for name in ("G.pt", "G.pt.loss.csv", "G.pt.grid.png", "reid.pt", "reid.pt.log.csv", "translated/index.json"):
        assert (spgan / name).is_file(), name
    translated = json.loads((spgan / "translated" / "index.json").read_text())
    assert translated["domain"] == "cuhk03" and translated["translated_to"] == "market1501"
    assert all((spgan / "translated" / r["path"]).is_file() for r in translated["splits"]["train"])
    for start in ("plain", "crgan-market1501", "spgan-market1501"):
        curve = smoke_run / "results" / "taudl" / "dukemtmc" / start / "seed0" / "model.pt.log.csv"
        assert curve.read_text().startswith("iteration,loss,loss_pctd,loss_ccta")


def test_table6_builds_only_what_it_needs(tmp_path: Path):
    proc = run_snakemake(smoke_workdir(tmp_path), "results/table6.csv", "-n", "--cores", "1",
                         "--configfile", "presets/smoke.yaml")
    assert proc.returncode == 0, proc.stderr[-2000:]
    plan = proc.stdout + proc.stderr
    for needed in ("rule train_spgan", "rule translate_spgan", "rule train_taudl", "rule finetune_crgan"):
        assert needed in plan
    for not_needed in ("cuhk03", "wo_id", "wo_dual", "on_market1501.json", "table2"):
        assert not_needed not in plan


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL a process and everything it started, at once (as a node failure would)."""
    family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    for pid in family:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()


def test_sigkill_at_several_points_then_rerun_gives_the_same_tables(smoke_run: Path, tmp_path_factory):
    """A second run from scratch, in a fresh folder, killed whole (Snakemake and its running jobs)
    three times, after about 6, 25 and 50 finished jobs; unlock, rerun: the final tables equal the
    first, uninterrupted run's, byte for byte (same seed, same CPU: deterministic and resumable in
    one run of the workflow, not two)."""
    work = smoke_workdir(tmp_path_factory.mktemp("smoke_killed"))
    args = [*TABLES, "--cores", "2", "--configfile", "presets/smoke.yaml", "--rerun-incomplete"]
    command, env = snakemake_command(*args)
    for finished in (6, 25, 50):
        proc = subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 600
        while (len(list(work.glob("benchmarks/*/*.tsv"))) < finished and proc.poll() is None
               and time.time() < deadline):
            time.sleep(0.2)
        assert proc.poll() is None, "the workflow ended before the kill point"
        kill_tree(proc)
        assert run_snakemake(work, "--unlock", *args).returncode == 0
    proc = run_snakemake(work, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for table in TABLES:
        assert (work / table).read_bytes() == (smoke_run / table).read_bytes(), table
    assert not list(work.glob("results/**/*.ckpt*"))


def test_crgan_outputs(smoke_run: Path):
    run = smoke_run / "results" / "crgan" / "market1501-dukemtmc" / "crgan" / "seed0"
    for name in ("G.pt", "G.pt.loss.csv", "G.pt.grid.png", "reid.pt", "reid.pt.log.csv"):
        assert (run / name).is_file(), name
    assert not list(smoke_run.glob("results/**/*.ckpt*"))  # finished jobs leave no checkpoints behind


def test_logs_benchmarks_and_masks(smoke_run: Path):
    assert (smoke_run / "logs" / "train_reid" / "market1501_seed0.log").stat().st_size > 0
    assert (smoke_run / "benchmarks" / "train_reid" / "dukemtmc_seed0.tsv").is_file()
    assert (smoke_run / "results" / "masks" / "draw0" / "market1501" / "summary.json").is_file()
    assert (smoke_run / "results" / "reid" / "market1501" / "seed0" / "model.pt.log.csv").is_file()


def test_rerun_is_a_no_op_and_one_table_target(smoke_run: Path):
    proc = run_snakemake(smoke_run, "results/table3.csv", "-n", "--cores", "1", "--configfile", "presets/smoke.yaml")
    assert proc.returncode == 0 and "Nothing to be done" in proc.stdout + proc.stderr


def test_missing_real_dataset_fails_early_naming_folder(tmp_path: Path):
    work = smoke_workdir(tmp_path)
    (work / "real.yaml").write_text(
        "cuhk03_pairs: []\n"
        "data:\n  source: real\n  roots: {market1501: /nonexistent/Market, dukemtmc: /nonexistent/Duke}\n"
        "masks:\n  method: segmentation\n")
    proc = run_snakemake(work, "results/data/draw0/market1501.json", "--cores", "1", "--configfile", "presets/smoke.yaml",
                         "real.yaml")
    assert proc.returncode != 0  # the preflight stops it before any job, naming the folder
    assert "crgan: preflight: the run cannot start" in proc.stderr
    assert next(line for line in proc.stderr.splitlines() if "data.roots.market1501" in line).endswith("/nonexistent/Market")
    assert not (work / "logs").exists() and not (work / "results" / "data" / "draw0" / "market1501.json").exists()


def test_quality_tables_are_computed_on_the_named_substitute(smoke_run: Path):
    """Tables 1 and 4 of the smoke run: real numbers (finite, not constant), the substitute named
    in the metric and the feature-network column (no ImageNet weights on this machine)."""
    for n, methods in ((1, {"source-target data", "w/o dual condition", "CR-GAN"}),
                       (4, {"source-target data", "SPGAN", "CR-GAN"})):
        with open(smoke_run / "results" / f"table{n}.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert {r["method"] for r in rows} == methods
        assert all(r["metric"].endswith("_substitute") and r["metric_backbone"].startswith("substitute: ") for r in rows)
        values = {(r["method"], r["source"], r["metric"]): float(r["value"]) for r in rows}
        assert all(v == v and abs(v) != float("inf") for v in values.values())
        assert len({v for (m, s, metric), v in values.items() if metric == "fid_substitute"}) > 1
        for src in ("market1501", "dukemtmc"):
            assert values[("CR-GAN", src, "lpips_substitute")] > 0  # G sees XT: renderings differ
            assert values[("source-target data", src, "lpips_substitute")] > 0
            for method in ("source-target data", "CR-GAN"):  # by region too: the person and the background moved
                assert all(values[(method, src, f"lpips{region}_substitute")] > 0 for region in ("_person", "_background"))
    rows = [r for r in csv.DictReader((smoke_run / "results" / "claims.csv").open()) if r["metric"] in ("lpips", "fid")]
    assert rows and all(r["verdict"] == "not testable here" and "stand-in metric network" in r["notes"] for r in rows)
    assert (smoke_run / "results" / "quality" / "market1501-dukemtmc" / "crgan" / "seed0.png").is_file()


def test_snakemakes_own_report(smoke_run: Path):
    proc = run_snakemake(smoke_run, "--configfile", "presets/smoke.yaml", "--report", "results/workflow-report.html")
    assert proc.returncode == 0, proc.stderr[-2000:]
    page = (smoke_run / "results" / "workflow-report.html").read_text(encoding="utf-8")
    assert "table1.csv" in page and "report.html" in page


def test_claims_are_computed_from_the_tables_and_shown_first_in_the_report(smoke_run: Path):
    """Every claim's effect is the same signed sum of the tables' values (means are linear), one seed
    decides nothing, what a run lacks makes a claim not testable here, and the report's Claims section holds
    every row."""
    from crgan.methods import label
    from crgan.report.claims import CLAIMS

    rows = list(csv.DictReader((smoke_run / "results" / "claims.csv").open()))
    cells = {(n, r["method"], r["source"], r["target"], r["metric"].removesuffix("_substitute")): float(r["value"])
             for n in range(1, 9) for r in read_table(smoke_run, n) if r["value"]}
    claims = {claim.text: claim for claim in CLAIMS}
    assert {"CR-GAN beats Direct Transfer", "the identity loss helps", "CR-GAN's FID is below SPGAN's",
            "the domain gap from CUHK03 is larger than from Market/Duke (Direct Transfer's gap to target-supervised)"
            } <= {r["claim"] for r in rows}
    for r in rows:
        claim = claims[r["claim"]]
        pairs = {"same": (r["source"], r["target"]),
                 "other": next((s, t) for s, t in [("market1501", "dukemtmc"), ("dukemtmc", "market1501")]
                               if t == r["target"])}
        expected = sum(t.sign * cells[(t.table, label(t.row), *pairs[t.pair], r["metric"])] for t in claim.terms)
        assert float(r["effect"]) == pytest.approx(expected, abs=0.03 if r["metric"] in REID else 3e-4), r
        # LPIPS/FID on the stand-in re-id network, TAUDL from scratch and the datasets' own gaps are not testable
        # here; an mAP row is shown beside its rank-1 test; the rest, on one seed bundle, not decided
        untestable = r["metric"] in ("lpips", "fid") or any(need in r["needs"] for need in ("TAUDL started from ImageNet",
                                                                                           "the real datasets"))
        expected_verdict = "not testable here" if untestable else "shown" if r["metric"] == "map" else "not decided"
        assert r["verdict"] == expected_verdict and r["seeds"] == "1", r
    assert {"paper", "control", "beyond"} == {r["kind"] for r in rows}
    page = (smoke_run / "results" / "report.html").read_text(encoding="utf-8")
    assert page.index('id="claims"') < page.index('id="one-bundle"') < page.index('id="table1"')
    assert page.count("data-verdict=") == len(rows)


REID = ("rank1", "rank5", "rank10", "map")
