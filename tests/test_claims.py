"""The claims table: paired per-seed effects, the paper's effect, and the verdict rule."""
from __future__ import annotations

import pytest

from crgan.records import EvaluationRecord, QualityRecord
from crgan.report.claims import CLAIMS, claim_rows
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


@pytest.mark.parametrize("gains, verdict", [([5.0, 6.0, 7.0], "holds"), ([-5.0, -6.0, -4.0], "does not hold"),
                                            ([5.0, -6.0, 2.0], "not decided")])
def test_paired_effect_and_verdict(gains, verdict):
    got = row(claim_rows(records(gains), CFG), "CR-GAN beats Direct Transfer")
    assert got["effect"] == f"{sum(gains) / 3:.2f}" and got["seeds"] == 3 and got["verdict"] == verdict
    assert got["paper_effect"] == "15.30"  # 52.2 - 36.9 in the paper's Table 2


def test_one_seed_is_never_decided_and_missing_cells_give_no_row():
    rows = claim_rows(records([9.0]), {**CFG, "seeds": [0]})
    assert row(rows, "CR-GAN beats Direct Transfer")["verdict"] == "not decided"
    assert not any(r["claim"].startswith("CR-GAN beats SPGAN") for r in rows)  # no SPGAN evaluations given


@pytest.mark.parametrize("suffix", ["", "_substitute"])
def test_quality_claims_lower_fid_is_better_and_a_stand_in_is_not_judged(suffix):
    """With the paper's networks the claims are judged; with a stand-in re-id network their effect is
    shown but the verdict is "not judged", naming the stand-in."""
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
    if suffix:
        assert lpips["verdict"] == fid["verdict"] == "not judged"
        assert f"stand-in metric network: {backbone}" in fid["notes"]
    else:
        assert lpips["verdict"] == fid["verdict"] == "holds"


def test_every_claim_names_its_source():
    assert all(claim.source for claim in CLAIMS) and len({c.text for c in CLAIMS}) == len(CLAIMS)
