"""The claims table: paired per-bundle effects, the paper's effect, the t-test verdicts, Holm's correction,
the controls and the claims a run cannot test."""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from crgan.budgets import budget_status, plateau
from crgan.records import EvaluationRecord, QualityRecord, RecordError
from crgan.report.claims import CLAIMS, FAMILIES, KINDS, claim_rows, family, versus_paper
from crgan.report.significance import holm, p_text, paired_t_test, power, smallest_decided_effect
from crgan.report.tables import read_records
from crgan.runs import Evaluation, Run

CFG = {"seeds": [0, 1, 2], "pairs": [["market1501", "dukemtmc"]], "cuhk03_pairs": []}


def reid_record(run: Run, test: str, rank1: float, lmp_rank1: float | None = None) -> EvaluationRecord:
    gap = {"rank1": rank1, "rank5": rank1, "rank10": rank1, "map": rank1 / 2}
    lmp = {k: (lmp_rank1 if lmp_rank1 is not None else v) for k, v in gap.items()}
    return EvaluationRecord(Evaluation(run, test), "scratch", True, {"gap": gap, "lmp": lmp}, {})


def records(crgan_over_direct: list[float]) -> list:
    out = []
    for seed, gain in enumerate(crgan_over_direct):
        out.append(reid_record(Run.reid("market1501", seed), "dukemtmc", 30.0 + seed))
        out.append(reid_record(Run.crgan("market1501", "dukemtmc", seed=seed), "dukemtmc", 30.0 + seed + gain))
    return out


def row(rows: list[dict], claim: str, metric: str = "rank1") -> dict:
    return next(r for r in rows if r["claim"] == claim and r["metric"] == metric)


def test_t_test_against_closed_forms():
    """Two degrees of freedom: p = 1 - t / sqrt(t^2 + 2); one: p = 1 - (2 / pi) atan|t|; the 95 % critical
    values of Student's t are 4.303 (2 df) and 12.706 (1 df)."""
    test = paired_t_test([5.0, 6.0, 7.0])  # mean 6, sd 1, t = 6 / (1 / sqrt 3)
    t = 6 * math.sqrt(3)
    assert test.t == pytest.approx(t) and test.p_value == pytest.approx(1 - t / math.sqrt(t * t + 2))
    assert test.critical_value == pytest.approx(4.3027, abs=1e-4)
    assert test.interval == pytest.approx((6 - 4.3027 / math.sqrt(3), 6 + 4.3027 / math.sqrt(3)), abs=1e-4)
    two = paired_t_test([1.0, 3.0])  # mean 2, sd sqrt 2, t = 2
    assert two.p_value == pytest.approx(1 - 2 / math.pi * math.atan(2.0))
    assert two.critical_value == pytest.approx(12.706, abs=1e-3)
    assert paired_t_test([9.0]).p_value is None


def test_holm_steps_down_and_stops_at_the_first_failure():
    # sorted: 0.01 < 0.05/4, 0.015 < 0.05/3, 0.03 >= 0.05/2 stops: 0.04 fails although < 0.05
    assert holm([0.03, 0.01, 0.04, 0.015]) == [False, True, False, True]
    assert holm([0.2, 0.001]) == [False, True] and holm([]) == []


@pytest.mark.parametrize("gains, verdict", [([5.0, 6.0, 7.0], "holds, smaller than the paper's"),
                                            ([14.0, 15.0, 17.0], "holds"), ([-5.0, -6.0, -4.0], "does not hold"),
                                            ([5.0, -6.0, 2.0], "not decided"),
                                            # beyond two standard errors (the old rule: t = 2.65) but p = 0.118 with 2 df
                                            ([1.0, 2.0, 4.0], "not decided")])
def test_paired_effect_and_verdict(gains, verdict):
    got = row(claim_rows(records(gains), CFG), "CR-GAN beats Direct Transfer")
    assert got["effect"] == f"{sum(gains) / 3:.2f}" and got["seeds"] == 3 and got["verdict"] == verdict
    assert got["paper_effect"] == "15.30"  # 52.2 - 36.9 in the paper's Table 2
    test = paired_t_test(gains)
    assert float(got["p_value"]) == pytest.approx(test.p_value, rel=1e-2) and got["critical_value"] == "4.303"
    assert float(got["ci_low"]) <= float(got["effect"]) <= float(got["ci_high"])
    assert got["holm"] in ("survives", "does not survive") and got["kind"] == "paper"


def test_holm_runs_within_the_primary_family_and_map_is_shown_not_tested():
    """Rank-1 rows of the paper's claims on the Market/Duke pairs are the primary family; mAP rows are
    shown beside them. "LMP helps" has the same effect (0) in every bundle: no spread, no test."""
    rows = claim_rows(records([5.0, 6.0, 7.0]), CFG)
    holm_of = {(r["claim"], r["metric"]): r["holm"] for r in rows if r["holm"]}
    assert holm_of == {("CR-GAN beats Direct Transfer", "rank1"): "survives"}
    assert row(rows, "CR-GAN beats Direct Transfer", "map")["verdict"] == "shown"
    lmp = row(rows, "LMP helps CR-GAN")
    assert lmp["verdict"] == "not decided" and "identical effects" in lmp["notes"] and lmp["t"] == lmp["p_value"] == ""
    assert {r["family"] for r in rows if r["metric"] == "rank1"} == {"primary"}


def test_one_seed_is_never_decided_and_missing_cells_give_no_row():
    rows = claim_rows(records([9.0]), {**CFG, "seeds": [0]})
    one = row(rows, "CR-GAN beats Direct Transfer")
    assert one["verdict"] == "not decided" and "presets/verdicts.yaml" in one["notes"]
    assert one["p_value"] == one["holm"] == one["ci_low"] == ""
    assert not any(r["claim"].startswith("CR-GAN beats SPGAN") for r in rows)  # no SPGAN evaluations given


@pytest.mark.parametrize("suffix", ["", "_substitute"])
def test_quality_claims_lower_fid_is_better_and_a_stand_in_is_not_testable(suffix):
    """With the paper's networks the claims are judged; with a stand-in re-id network their effect is
    shown but the verdict is "not testable here", naming the stand-in."""
    backbone = "imagenet" if not suffix else "substitute: compact re-id network"

    def quality(method: str, lpips: float, fid: float, seed: int) -> QualityRecord:
        return QualityRecord(method, "market1501", "dukemtmc", seed, True,
                             {f"lpips{suffix}": lpips, f"fid{suffix}": fid}, {"lpips": backbone, "fid": backbone},
                             {}, None, {})

    recs = [quality(m, lp, fid, s) for s in range(3) for m, lp, fid in (("crgan", 0.3 + s / 100, 5.0),
                                                                      ("wo_dual", 0.1, 7.0 + s))]
    rows = claim_rows(recs, CFG)
    lpips, fid = row(rows, "CR-GAN's LPIPS is above w/o dual condition's", "lpips"), \
        row(rows, "CR-GAN's FID is below w/o dual condition's", "fid")
    assert fid["effect"] == "3.0000"
    assert "ImageNet AlexNet (LPIPS)" in fid["needs"]
    if suffix:
        assert lpips["verdict"] == fid["verdict"] == "not testable here"
        assert f"stand-in metric network: {backbone}" in fid["notes"] and fid["holm"] == ""
    else:
        assert lpips["verdict"] == fid["verdict"] == "holds"


def test_every_claim_names_its_source():
    assert all(claim.source for claim in CLAIMS) and len({c.text for c in CLAIMS}) == len(CLAIMS)


@pytest.mark.parametrize("init, verdict", [("scratch", "not testable here"), ("imagenet:resnet18.pth", "holds")])
def test_taudl_claims_need_taudls_pretrained_start(init, verdict):
    recs = []
    for seed, gain in enumerate([5.0, 6.0, 7.0]):
        taudl = Run.started("taudl", "dukemtmc", "plain", None, seed)
        crgan_taudl = Run.started("taudl", "dukemtmc", "crgan", "market1501", seed)
        recs += [EvaluationRecord(Evaluation(taudl, "dukemtmc"), init, True,
                                  reid_record(taudl, "dukemtmc", 20.0).metrics, {}),
                 reid_record(crgan_taudl, "dukemtmc", 20.0 + gain)]
    got = row(claim_rows(recs, CFG), "CR-GAN+TAUDL is best: it beats TAUDL")
    assert got["verdict"] == verdict and "TAUDL started from ImageNet" in got["needs"]
    if init == "scratch":
        assert "TAUDL started from scratch, the paper from ImageNet" in got["notes"]


def test_controls_are_claims():
    recs = []
    for seed, gain in enumerate([3.0, 4.0, 5.0]):
        recs += [reid_record(Run.crgan("market1501", "dukemtmc", seed=seed), "dukemtmc", 30.0),
                 reid_record(Run.of_pair("paste", "market1501", "dukemtmc", seed), "dukemtmc", 30.0 - gain)]
    got = row(claim_rows(recs, CFG), "control: CR-GAN beats the paste control (the same person and context, no GAN)")
    assert got["kind"] == "control" and got["verdict"] == "holds" and got["paper_effect"] == ""
    assert got["family"] == "controls" and got["holm"] == "survives" and got["versus_paper"] == ""
    assert {claim.kind for claim in CLAIMS} == set(KINDS)


def test_a_rehearsal_judges_nothing():
    rows = claim_rows(records([5.0, 6.0, 7.0]), {**CFG, "data": {"rehearsal_identities": 8}})
    assert {r["verdict"] for r in rows} == {"rehearsal"} and all(r["holm"] == "" for r in rows)


def test_validation_evaluations_never_reach_a_table_or_a_claim(tmp_path: Path):
    """Tables and claims read their records through one function: it refuses a validation split's
    evaluation, and reads a record written before the split was recorded as a test one."""
    record = reid_record(Run.reid("market1501"), "dukemtmc", 30.0)
    old = {k: v for k, v in record.to_dict().items() if k != "split"}
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "validation.json").write_text(json.dumps(replace(record, split="validation").to_dict()))
    assert read_records([tmp_path / "old.json"])[0].split == "test"
    with pytest.raises(RecordError, match="validation.json is an evaluation on the validation split"):
        read_records([tmp_path / "old.json", tmp_path / "validation.json"])


def test_a_claim_on_runs_below_their_plateau_says_so():
    cfg = {**CFG, "reid": {"epochs": 16}, "crgan": {"iterations": 250}, "finetune": {"iterations": 120}}
    status = budget_status(cfg, {"crgan": 500, "reid": 16, "finetune": 120})
    got = row(claim_rows(records([5.0, 6.0, 7.0]), cfg, status), "CR-GAN beats Direct Transfer")
    assert got["verdict"].startswith("holds") and "below plateau: crgan.iterations 250 < 500" in got["notes"]
    unmeasured = row(claim_rows(records([5.0, 6.0, 7.0]), cfg, budget_status(cfg, {})), "CR-GAN beats Direct Transfer")
    assert "below plateau" not in unmeasured["notes"]
    assert "plateau not measured: reid.epochs, crgan.iterations, finetune.iterations" in unmeasured["notes"]


@pytest.mark.parametrize("synthetic, verdict", [(True, "not testable here"), (False, "holds")])
def test_a_claim_about_the_datasets_is_not_testable_on_the_synthetic_benchmark(synthetic, verdict):
    cfg = {**CFG, "cuhk03_pairs": [["cuhk03", "dukemtmc"]]}
    recs = []
    for seed, gap in enumerate([10.0, 11.0, 12.0]):  # CUHK03's Direct Transfer further below the upper bound
        for domain, rank1 in (("dukemtmc", 80.0), ("market1501", 40.0), ("cuhk03", 40.0 - gap)):
            record = reid_record(Run.reid(domain, seed), "dukemtmc", rank1)
            recs.append(replace(record, synthetic=synthetic))
    got = row(claim_rows(recs, cfg), "the domain gap from CUHK03 is larger than from Market/Duke (Direct Transfer's "
                                     "gap to target-supervised)")
    assert got["verdict"] == verdict and "the real datasets" in got["needs"]
    if synthetic:
        assert "the size of its domain gaps is set by its design" in got["notes"]


def test_holm_within_a_family_only():
    """p = 0.03 for CR-GAN over Direct Transfer: alone in the primary family it survives (0.03 < 0.05);
    a control's smaller p-value in its own family does not change that."""
    gains = [1.0, 4.0, 2.0, 5.0]  # mean 3, p = 0.0263 (3 df)
    recs = records(gains)
    for seed, gain in enumerate([3.0, 4.0, 5.0, 3.5]):
        recs.append(reid_record(Run.of_pair("paste", "market1501", "dukemtmc", seed), "dukemtmc", 30.0 + seed + gains[seed]
                                - gain))
    rows = claim_rows(recs, {**CFG, "seeds": [0, 1, 2, 3]})
    primary = row(rows, "CR-GAN beats Direct Transfer")
    assert primary["holm"] == "survives" and primary["verdict"].startswith("holds")
    assert row(rows, "control: CR-GAN beats the paste control (the same person and context, no GAN)")["family"] == "controls"


def test_p_below_alpha_alone_is_not_decided_when_holm_fails():
    """Two primary rows, p = 0.03 and 0.04: Holm needs the smaller below 0.025, so neither is decided."""
    recs = records([1.0, 4.0, 2.0, 5.0])
    for seed, gain in enumerate([1.0, 5.0, 1.5, 4.0]):  # LMP helps: p about 0.04
        recs.append(reid_record(Run.crgan("market1501", "dukemtmc", seed=seed), "dukemtmc",
                                30.0 + seed + [1.0, 4.0, 2.0, 5.0][seed], 30.0 + seed + [1.0, 4.0, 2.0, 5.0][seed] + gain))
    rows = claim_rows(recs, {**CFG, "seeds": [0, 1, 2, 3]})
    got = row(rows, "CR-GAN beats Direct Transfer")
    assert float(got["p_value"]) < 0.05 and got["holm"] == "does not survive" and got["verdict"] == "not decided"
    assert "not under Holm over the 2 tested rows of the primary family" in got["notes"]


def test_a_value_that_is_not_a_number_is_no_test_and_never_survives_holm():
    recs = records([5.0, 6.0, 7.0])
    recs[-1] = reid_record(Run.crgan("market1501", "dukemtmc", seed=2), "dukemtmc", math.nan)
    got = row(claim_rows(recs, CFG), "CR-GAN beats Direct Transfer")
    assert got["verdict"] == "not decided" and "not a number" in got["notes"] and got["p_value"] == ""
    assert holm([math.nan, 0.001]) == [False, True] and holm([math.nan]) == [False]


def test_a_bundle_missing_on_one_side_is_named():
    recs = [r for r in records([5.0, 6.0, 7.0, 6.5]) if not (r.run.method == "crgan" and r.seed == 2)]
    got = row(claim_rows(recs, {**CFG, "seeds": [0, 1, 2, 3]}), "CR-GAN beats Direct Transfer")
    assert got["seeds"] == 3 and "seed bundle 2 missing on one side: left out" in got["notes"]


def test_p_is_never_printed_rounded_across_alpha_and_significance_uses_its_alpha():
    assert p_text(0.04997) == "0.04997" and p_text(0.0512) == "0.0512" and p_text(0.012345) == "0.0123"
    assert p_text(0.0500001) == "0.05" and p_text(0.049999999) == "0.049999999"
    test = paired_t_test([1.0, 2.0, 4.0], alpha=0.2)  # p = 0.118
    assert test.significant and not paired_t_test([1.0, 2.0, 4.0]).significant


def test_versus_the_papers_effect():
    assert versus_paper((2.0, 5.0), 8.9) == "below the paper's" and versus_paper((2.0, 9.0), 8.9) == "contains the paper's"
    assert versus_paper((10.0, 12.0), 8.9) == "above the paper's" and versus_paper(None, 8.9) == versus_paper((1, 2), None) == ""


def test_every_claim_row_has_one_declared_family():
    for claim in CLAIMS:
        for metric in claim.metrics:
            others = {"paper": "paper, secondary", "control": "controls", "beyond": "beyond"}
            primary = (claim.kind, metric, claim.pairs_key) == ("paper", "rank1", "pairs")
            expected = "" if metric == "map" else "primary" if primary else others[claim.kind]
            assert family(claim, metric) == expected, claim.text
    assert FAMILIES[0] == "primary"


def test_the_taudl_learns_control_is_testable_from_scratch():
    recs = []
    for seed, gain in enumerate([5.0, 6.0, 7.0]):
        taudl = Run.started("taudl", "dukemtmc", "plain", None, seed)
        floor = Run.started("taudl", "dukemtmc", "untrained", None, seed)
        recs += [reid_record(taudl, "dukemtmc", 10.0 + gain), reid_record(floor, "dukemtmc", 10.0)]
    got = row(claim_rows(recs, CFG), "control: TAUDL learns (beats its untrained floor)")
    assert got["verdict"] == "holds" and got["needs"] == ""


def test_image_quality_rows_are_marked_below_their_generators_plateau():
    def quality(method: str, lpips: float, seed: int) -> QualityRecord:
        return QualityRecord(method, "market1501", "dukemtmc", seed, True, {"lpips": lpips, "fid": 1.0},
                             {"lpips": "imagenet", "fid": "imagenet"}, {}, None, {})

    recs = [quality(m, v + s / 100, s) for s in range(3) for m, v in (("crgan", 0.3), ("wo_dual", 0.1))]
    cfg = {**CFG, "reid": {"epochs": 16}, "crgan": {"iterations": 250}, "finetune": {"iterations": 120}}
    status = budget_status(cfg, {"crgan": 500, "finetune": 480, "reid": 16})
    got = row(claim_rows(recs, cfg, status), "CR-GAN's LPIPS is above w/o dual condition's", "lpips")
    assert "below plateau: crgan.iterations 250 < 500" in got["notes"] and "finetune" not in got["notes"]


def test_the_plateau_rule_takes_a_gap_of_exactly_the_tolerance_as_within_it():
    assert plateau({1: [31.2], 2: [32.2]}).budget == 1 and plateau({1: [31.1], 2: [32.2]}).budget == 2


def test_power_of_the_paired_test_matches_the_textbook_and_the_smallest_decided_effect_inverts_it():
    """A one-sample two-sided t-test of 10 effects at 5 % decides d = 0.997 standard deviations 80 % of
    the time (G*Power's table); fewer bundles or a Holm-corrected alpha need larger effects."""
    assert power(0.997, 1.0, 10) == pytest.approx(0.80, abs=0.002)
    assert power(0.0, 1.0, 10) == pytest.approx(0.05, abs=1e-9)
    ten = smallest_decided_effect(2.0, 10)
    assert ten == pytest.approx(2 * 0.997, abs=0.01)
    assert smallest_decided_effect(2.0, 5) > ten and smallest_decided_effect(2.0, 10, alpha=0.05 / 20) > ten
    with pytest.raises(ValueError, match="two or more bundles"):
        power(1.0, 1.0, 1)


def test_the_power_table_reads_each_tested_rows_spread_and_its_familys_size(tmp_path):
    from crgan.report.power import power_rows, write_power

    def row(claim, family, std, metric="rank1"):
        return {"claim": claim, "family": family, "source": "market1501", "target": "dukemtmc", "metric": metric,
                "seeds": "5", "std": std, "paper_effect": "8.9", "effect": "3.0"}

    claims = [row("a", "primary", "2.0"), row("b", "primary", "1.0"), row("c", "controls", "2.0"),
              row("a", "", "2.0", "map"), row("d", "primary", "")]
    rows = power_rows(claims)
    assert [(r["claim"], r["family_size"]) for r in rows] == [("a", 2), ("b", 2), ("c", 1)]  # mAP and no-spread rows out
    a, c = rows[0], rows[2]
    assert float(a["alone_n10"]) == pytest.approx(smallest_decided_effect(2.0, 10), abs=0.01)
    assert float(a["holm_first_n10"]) == pytest.approx(smallest_decided_effect(2.0, 10, alpha=0.025), abs=0.01)
    assert c["holm_first_n5"] == c["alone_n5"] and float(a["alone_n5"]) > float(a["alone_n10"])
    with pytest.raises(ValueError, match="two or more seed bundles"):
        power_rows([row("a", "primary", "")])
    path = tmp_path / "claims.csv"
    path.write_text("claim,family,source,target,metric,seeds,std,paper_effect,effect\n"
                    "a,primary,market1501,dukemtmc,rank1,5,2.0,8.9,3.0\n")
    assert write_power(path, tmp_path / "power.csv")[0]["family_size"] == 1 and (tmp_path / "power.csv").is_file()


def five_bundles(tmp_path: Path) -> tuple[dict, list, list[Path]]:
    """A five-bundle run of every re-id row of Tables 2, 3 and 5-8 (rows far apart and close, each
    bundle with noise): its config, records and written tables."""
    import random

    from crgan.plan import Ours, layout
    from crgan.report.tables import build_table, write_table

    rng = random.Random(0)
    cfg = {"seeds": [0, 1, 2, 3, 4], "pairs": [["market1501", "dukemtmc"], ["dukemtmc", "market1501"]],
           "cuhk03_pairs": [["cuhk03", "market1501"]]}
    tables = (2, 3, 5, 6, 7, 8)
    evaluations = {entry.evaluation for table in tables for _, _, rows in layout(table, cfg) for entry in rows
                   if isinstance(entry, Ours)}
    level = {evaluation: rng.uniform(5, 80) for evaluation in evaluations}
    records = [EvaluationRecord(evaluation.at(seed), "scratch", True, {
        **{pooling: {m: level[evaluation] + rng.gauss(0, 3) for m in ("rank1", "rank5", "rank10", "map")}
           for pooling in ("gap", "lmp")}, "chance_rank1": 0.4, "lmp_parts": 2}, {})
        for evaluation in sorted(evaluations, key=str) for seed in cfg["seeds"]]
    table_paths = [tmp_path / f"table{table}.csv" for table in tables]
    for table, path in zip(tables, table_paths):
        write_table(path, build_table(table, records, cfg))
    return cfg, records, table_paths


def test_an_independent_rescoring_agrees_with_the_engine_and_finds_a_tampered_row(tmp_path):
    """Issue 33: every tested row of a five-bundle claims table re-scored by other code (scipy.stats, a
    Holm of its own, the tables' means) agrees; a changed p-value, Holm mark, effect or interval does not."""
    import csv

    from crgan.report.claims import write_claims
    from crgan.report.rescore import rescore, rescore_files

    cfg, records, table_paths = five_bundles(tmp_path)
    rows = claim_rows(records, cfg)
    write_claims(tmp_path / "claims.csv", rows)
    against_tables, tested, problems = rescore_files(tmp_path / "claims.csv", table_paths)
    assert problems == [] and tested >= 30 and against_tables >= 40
    verdicts = {r["verdict"] for r in rows}
    assert {"holds", "does not hold", "not decided"} <= verdicts | {"holds, smaller than the paper's"}
    with open(tmp_path / "claims.csv", newline="") as handle:
        printed = list(csv.DictReader(handle))
    tested_row = next(i for i, r in enumerate(printed) if r["holm"] == "survives")
    for column, wrong in (("p_value", "0.2"), ("holm", "does not survive"), ("effect", "99.99"), ("ci_low", "-50.00")):
        tampered = [dict(r) for r in printed]
        tampered[tested_row][column] = wrong
        assert rescore(tampered, table_paths)[2], column


def test_the_claims_job_rescores_its_table_and_leaves_nothing_when_the_tables_disagree(tmp_path, caplog):
    """`crgan claims --tables` (the workflow's claims rule) re-scores what it wrote: it logs the
    agreement, and a table whose mean contradicts the records fails the job with no claims file left."""
    from crgan import cli
    from crgan.io import read_rows, write_csv, write_json
    from crgan.report.tables import COLUMNS

    cfg, records, table_paths = five_bundles(tmp_path)
    evals = []
    for i, record in enumerate(records):
        evals.append(tmp_path / "evals" / f"{i}.json")
        write_json(evals[-1], record.to_dict())
    argv = ["claims", "--config-json", json.dumps({**cfg, "data": {"source": "synthetic"}}), "--evals",
            *map(str, evals), "--tables", *map(str, table_paths), "--out", str(tmp_path / "claims.csv")]
    with caplog.at_level("INFO"):
        assert cli.main(argv) == 0
    assert "every row agrees" in caplog.text and (tmp_path / "claims.csv").is_file()
    rows = read_rows(table_paths[0])  # Table 2: move one computed mean by 5 points
    changed = next(r for r in rows if r["value"] and r["seeds"] and r["metric"] == "rank1")
    changed["value"] = f"{float(changed['value']) + 5:.2f}"
    write_csv(table_paths[0], COLUMNS, rows)
    assert cli.main(argv) == 2 and not (tmp_path / "claims.csv").exists()
