"""The paper's qualitative claims and our controls, judged from our numbers (``results/claims.csv``).

A claim is a signed sum of table cells that should be positive, for example CR-GAN's rank-1 minus
Direct Transfer's in Table 2. Its effect is computed per seed bundle from the records the tables are
built from (paired: the same bundle's runs), and tested by a paired t-test (n - 1 degrees of freedom,
95 %, two-sided; :mod:`crgan.report.significance`); the paper's effect is the same sum of its
published values. Besides the paper's claims (``kind`` ``paper``) the table judges the controls
(``control``: CR-GAN against the paste and AdaBN controls, methods against their untrained floors and
starts) and questions the paper could not ask (``beyond``).

Each tested row belongs to one pre-declared family (:func:`family`; docs/assumptions.md, "Verdicts"):
``primary`` (the paper's claims, rank-1, the Market/Duke pairs), ``paper, secondary`` (its image-quality
and CUHK03 claims), ``controls`` and ``beyond``; Holm's step-down correction runs within each family
(family-wise error rate 5 %), and the verdict is the corrected one. mAP rows are shown beside their
rank-1 row, which is the test. The verdict:

- ``holds`` / ``does not hold``: the mean effect is positive / negative with p < 0.05 and survives
  Holm in its family; ``holds, smaller than the paper's`` where the interval also lies below the
  paper's effect;
- ``not decided``: p >= 0.05, p < 0.05 alone but not under Holm, or no spread to judge by (one seed
  bundle, identical effects, a value that is not a number); ``versus_paper`` then says whether the
  interval contains the paper's effect (under-powered) or excludes it;
- ``not testable here``: the run lacks what a fair test of the claim needs (:data:`NEEDS`: an
  ImageNet feature network for LPIPS/FID, TAUDL's pretrained start, the real datasets for a claim
  about the datasets themselves); the effect is still shown;
- ``shown``: an mAP row;
- ``rehearsal``: the paper preset's rehearsal (sizes shrunk, numbers meaningless).

A row whose runs were trained below their measured plateau budget (``results/plateaus.json``) says
"below plateau" in its notes, "curve still rising at its largest budget" where its plateau is the
largest budget its curve measured, and "plateau not measured" where no curve was measured; a bundle
missing on one side of a claim is named in its notes. Each row also carries the per-bundle effects it
tested (``bundle_effects``), which :mod:`crgan.report.rescore` re-scores with other code.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crgan.budgets import CURVES, budget_notes
from crgan.io import write_csv
from crgan.methods import label
from crgan.paper import paper_values
from crgan.plan import TABLES, Measured, Ours, layout
from crgan.records import EvaluationRecord, QualityRecord
from crgan.report.significance import ALPHA, PairedTest, p_text, paired_t_test
from crgan.report.significance import holm as holm_survivors
from crgan.report.tables import REHEARSAL_NOTE, is_rehearsal

COLUMNS = ["claim", "kind", "family", "table", "source", "target", "metric", "paper_effect", "effect", "ci_low",
           "ci_high", "std", "seeds", "bundle_effects", "t", "p_value", "critical_value", "holm", "verdict",
           "versus_paper", "needs", "notes"]
REID = ("rank1", "map")
#: What a claim is: one of the paper's, a control of ours, or a question beyond the paper.
KINDS = ("paper", "control", "beyond")
ONE_BUNDLE = ("one seed bundle: no spread to judge the effect by (presets/verdicts.yaml runs five bundles for "
              "verdicts)")
NO_SPREAD = "identical effects in every seed bundle: no spread to judge the effect by"
NOT_A_NUMBER = "a value that is not a number in a seed bundle: no test"
#: The pre-declared Holm families, in the order the claims table lists them.
FAMILIES = ("primary", "paper, secondary", "controls", "beyond")


@dataclass(frozen=True)
class Term:
    """``sign`` x the value of row ``row`` (a row key of the plan) in ``table`` for a pair (``pair``
    picks it: "same" is the claim's pair, "other" the Market/Duke pair with the same target, for
    CUHK03 comparisons)."""

    sign: int
    table: int
    row: str
    pair: str = "same"


@dataclass(frozen=True)
class Claim:
    """A claim: ``terms`` sum to a positive number on each pair of ``pairs_key``. ``kind`` is one of
    :data:`KINDS`; ``source`` says where it comes from."""

    text: str
    terms: tuple[Term, ...]
    metrics: tuple[str, ...] = REID
    pairs_key: str = "pairs"
    source: str = ""
    kind: str = "paper"
    about_data: bool = False  # a claim about the datasets themselves (not testable on a synthetic benchmark)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.text!r}: kind {self.kind!r} is not one of {KINDS}")

    @classmethod
    def better(cls, text: str, table: int, better: str, worse: str, metrics: tuple[str, ...] = REID,
               pairs_key: str = "pairs", source: str = "", kind: str = "paper") -> Claim:
        """Row ``better`` > row ``worse`` in ``table`` (row keys; for a lower-is-better metric, give it as
        ``worse`` first)."""
        return cls(text, (Term(1, table, better), Term(-1, table, worse)), metrics, pairs_key, source, kind)


def _control(text: str, table: int, better: str, worse: str, pairs_key: str = "pairs") -> Claim:
    return Claim.better(f"control: {text}", table, better, worse, pairs_key=pairs_key,
                        source=f"Table {table}, a control of ours", kind="control")


def _beyond(text: str, table: int, better: str, worse: str) -> Claim:
    return Claim.better(f"beyond the paper: {text}", table, better, worse, source=f"Table {table}, not a claim of the paper",
                        kind="beyond")


CLAIMS = (
    Claim.better("CR-GAN beats Direct Transfer", 2, "crgan", "direct_transfer", source="Table 2"),
    Claim.better("the dual condition helps (CR-GAN beats w/o dual condition)", 2, "crgan", "wo_dual",
                 source="Table 2"),
    Claim.better("LMP helps CR-GAN", 2, "crgan+lmp", "crgan", source="Table 2"),
    Claim.better("the identity loss helps", 3, "crgan", "wo_id", source="Table 3"),
    Claim.better("the camera loss helps", 3, "crgan", "wo_cam", source="Table 3"),
    Claim.better("the context loss helps", 3, "crgan", "wo_con", source="Table 3"),
    Claim.better("CR-GAN beats SPGAN", 5, "crgan", "spgan", source="Table 5"),
    Claim.better("CR-GAN+LMP beats SPGAN+LMP", 5, "crgan+lmp", "spgan+lmp", source="Table 5"),
    Claim.better("TAUDL helps CR-GAN (CR-GAN+TAUDL beats CR-GAN+LMP)", 6, "crgan+taudl", "crgan+lmp",
                 source="Table 6"),
    *(Claim.better(f"CR-GAN+TAUDL is best: it beats {label(other)}", 6, "crgan+taudl", other, source="Table 6")
      for other in ("taudl", "spgan+taudl", "spgan+lmp")),
    Claim.better("CR-GAN's LPIPS is above w/o dual condition's", 1, "crgan", "wo_dual", ("lpips",), source="Table 1"),
    Claim.better("CR-GAN's FID is below w/o dual condition's", 1, "wo_dual", "crgan", ("fid",), source="Table 1"),
    Claim.better("CR-GAN's LPIPS is above SPGAN's", 4, "crgan", "spgan", ("lpips",), source="Table 4"),
    Claim.better("CR-GAN's FID is below SPGAN's", 4, "spgan", "crgan", ("fid",), source="Table 4"),
    Claim.better("CR-GAN beats SPGAN from CUHK03", 7, "crgan", "spgan", pairs_key="cuhk03_pairs", source="Table 7"),
    Claim.better("CR-GAN+TAUDL beats TAUDL from CUHK03", 7, "crgan+taudl", "taudl", pairs_key="cuhk03_pairs",
                 source="Table 7"),
    Claim("the domain gap from CUHK03 is larger than from Market/Duke (Direct Transfer's gap to target-supervised)",
          (Term(1, 2, "target_supervised", "other"), Term(-1, 7, "direct_transfer"),
           Term(-1, 2, "target_supervised", "other"), Term(1, 2, "direct_transfer", "other")),
          ("rank1", "map"), "cuhk03_pairs", "Section 4.5, Fig. 5", about_data=True),
    # controls: would a simpler method, or the start alone, explain the gain?
    _control("CR-GAN beats the paste control (the same person and context, no GAN)", 2, "crgan", "paste"),
    _control("CR-GAN beats AdaBN (no labels, no training)", 2, "crgan", "adabn"),
    _control("CR-GAN adds to AdaBN (CR-GAN+AdaBN beats AdaBN)", 2, "crgan_adabn", "adabn"),
    _control("CR-GAN+TAUDL beats TAUDL started from the source model (the start alone)", 6, "crgan+taudl",
             "taudl_reid"),
    _control("CR-GAN+TAUDL beats TAUDL started from the source model, from CUHK03", 7, "crgan+taudl", "taudl_reid",
             "cuhk03_pairs"),
    _control("TAUDL learns (beats its untrained floor)", 6, "taudl", "taudl_floor"),
    _control("Cluster Contrast learns (beats its untrained floor)", 8, "cluster_contrast", "cluster_contrast_floor"),
    # beyond the paper (Table 8): questions the paper could not ask, judged the same way
    _beyond("CR-GAN adds to Cluster Contrast (CR-GAN+Cluster Contrast beats Cluster Contrast)", 8,
            "crgan+cluster_contrast", "cluster_contrast"),
    _beyond("Cluster Contrast beats CR-GAN+TAUDL", 8, "cluster_contrast", "crgan+taudl"),
)


def family(claim: Claim, metric: str) -> str:
    """The Holm family of a claim's row: ``primary`` for the paper's claims in rank-1 on the Market/Duke
    pairs, ``paper, secondary`` for its other claims (image quality, CUHK03 pairs), ``controls`` and
    ``beyond``; none ("") for mAP, shown beside rank-1's test rather than tested on its own."""
    if metric == "map":
        return ""
    if claim.kind == "paper":
        return FAMILIES[0] if metric == "rank1" and claim.pairs_key == "pairs" else FAMILIES[1]
    return {"control": FAMILIES[2], "beyond": FAMILIES[3]}[claim.kind]


def versus_paper(interval: tuple[float, float] | None, paper_effect: float | None) -> str:
    """Where our interval lies against the paper's effect: it contains it, or lies below or above it."""
    if interval is None or paper_effect is None:
        return ""
    low, high = interval
    return "below the paper's" if high < paper_effect else "above the paper's" if low > paper_effect else \
        "contains the paper's"


def other_pair(cfg: dict[str, Any], target: str) -> tuple[str, str] | None:
    """The Market/Duke pair of ``cfg['pairs']`` with this target (what a CUHK03 pair is compared with)."""
    return next((tuple(p) for p in cfg["pairs"] if p[1] == target), None)


class Cells:
    """Per-seed values of table cells, from the records the tables are built from."""

    def __init__(self, records: Iterable[EvaluationRecord | QualityRecord], cfg: dict[str, Any],
                 budgets: dict[str, dict[str, Any]] | None = None):
        self.cfg, self.budgets = cfg, budgets
        self.evaluations = {(r.evaluation.key, r.seed): r for r in records if isinstance(r, EvaluationRecord)}
        self.quality = {(r.method, r.source, r.target, r.seed): r for r in records if isinstance(r, QualityRecord)}
        self.entries = {(t, src, tgt, e.key): e for t in TABLES for src, tgt, rows in layout(t, cfg) for e in rows
                        if isinstance(e, (Ours, Measured))}

    def value(self, table: int, row: str, pair: tuple[str, str], metric: str, seed: int) -> float | None:
        entry = self.entries.get((table, *pair, row))
        if isinstance(entry, Ours):
            record = self.evaluations.get((entry.evaluation, seed))
            return None if record is None else record.metrics[entry.pooling][metric]
        if isinstance(entry, Measured):
            q = entry.quality
            record = self.quality.get((q.method, q.source, q.target, seed))
            if record is None:
                return None
            return next((v for k, v in record.metrics.items() if k.removesuffix("_substitute") == metric), None)
        return None

    def stand_in(self, table: int, row: str, pair: tuple[str, str], metric: str) -> str | None:
        """The stand-in feature network an image-quality cell was measured with (``None``: the
        paper's network, or not an image-quality cell)."""
        entry = self.entries.get((table, *pair, row))
        if not isinstance(entry, Measured):
            return None
        q = entry.quality
        for (method, source, target, _), record in sorted(self.quality.items(), key=lambda item: item[0][3]):
            if (method, source, target) == (q.method, q.source, q.target) and f"{metric}_substitute" in record.metrics:
                return record.metric_backbone.get(metric, "")
        return None

    def budgets_of(self, table: int, row: str, pair: tuple[str, str]) -> tuple[str, ...]:
        """The budget curves a cell's runs depend on: a re-id cell's network's, an image-quality cell's
        generator's (not the fine-tuning after it)."""
        entry = self.entries.get((table, *pair, row))
        if isinstance(entry, Ours):
            return entry.evaluation.run.budgets
        generator = entry.quality.generator_run if isinstance(entry, Measured) else None
        return () if generator is None else tuple(b for b in generator.budgets if "generator" not in CURVES[b].needs)

    def records(self, table: int, row: str, pair: tuple[str, str]) -> list[EvaluationRecord]:
        """Every seed's evaluation record of a re-id cell (none for an image-quality cell)."""
        entry = self.entries.get((table, *pair, row))
        if not isinstance(entry, Ours):
            return []
        return [record for (evaluation, _), record in self.evaluations.items() if evaluation == entry.evaluation]

    def synthetic(self, table: int, row: str, pair: tuple[str, str]) -> bool:
        """Whether a re-id cell's runs were evaluated on synthetic data."""
        return any(record.synthetic for record in self.records(table, row, pair))

    def inits(self, table: int, row: str, pair: tuple[str, str]) -> set[str]:
        """Where the backbones of a re-id cell's runs started (``scratch``, ``imagenet:<file>``, ...)."""
        return {record.init for record in self.records(table, row, pair)}


@dataclass(frozen=True)
class Need:
    """What a fair test of a claim needs (``text``), the claims it concerns (``concerns(claim, term,
    metric)``) and how a run lacks it (``lacking(cells, table, row, pair, metric)``: the reason, or ``None``)."""

    text: str
    concerns: Callable[[Claim, Term, str], bool]
    lacking: Callable[[Cells, int, str, tuple[str, str], str], str | None]


def _metric_network_lacking(cells: Cells, table: int, row: str, pair: tuple[str, str], metric: str) -> str | None:
    stand_in = cells.stand_in(table, row, pair, metric)
    return None if stand_in is None else f"stand-in metric network: {stand_in}"


def _real_data_lacking(cells: Cells, table: int, row: str, pair: tuple[str, str], metric: str) -> str | None:
    synthetic = cells.synthetic(table, row, pair)
    return "synthetic benchmark: the size of its domain gaps is set by its design, not measured" if synthetic else None


def _taudl_start_lacking(cells: Cells, table: int, row: str, pair: tuple[str, str], metric: str) -> str | None:
    scratch = sorted(init for init in cells.inits(table, row, pair) if not init.startswith("imagenet"))
    return f"TAUDL started from {', '.join(scratch)}, the paper from ImageNet" if scratch else None


#: What fair tests need, where a run may lack it.
NEEDS = (
    Need("ImageNet AlexNet (LPIPS) and Inception (FID) feature networks: a re-id network looks at the person and "
         "ignores the background CR-GAN renders", lambda claim, term, metric: metric in ("lpips", "fid"),
         _metric_network_lacking),
    Need("TAUDL started from ImageNet weights, as in the paper (from scratch it learns little from ~2-image "
         "tracklets)", lambda claim, term, metric: claim.kind == "paper" and term.row == "taudl", _taudl_start_lacking),
    Need("the real datasets: a claim about the datasets themselves (their domain gaps)",
         lambda claim, term, metric: claim.about_data, _real_data_lacking),
)


@dataclass
class Judged:
    """A claim's row before its verdict: the row, its test, what it lacks, and its Holm family."""

    row: dict[str, Any]
    test: PairedTest
    lacking: list[str]
    family: str
    notes: list[str]
    survives: bool | None = None  # under Holm in its family (None: not in a family's test)


def _verdict(judged: Judged, rehearsal: bool, family_size: int) -> tuple[str, str]:
    """The verdict of a row and why, from its test, its Holm family and where it lies against the paper."""
    test = judged.test
    if rehearsal:
        return "rehearsal", REHEARSAL_NOTE
    if judged.lacking:
        return "not testable here", "; ".join(judged.lacking)
    if not judged.family:
        return "shown", "mAP: shown beside the rank-1 row, which is the test"
    if test.p_value is None:
        return "not decided", ONE_BUNDLE if test.n < 2 else NOT_A_NUMBER if test.mean != test.mean else NO_SPREAD
    p = f"p = {p_text(test.p_value, test.alpha)}"
    if not test.significant:
        return "not decided", f"{p} >= {test.alpha:g}"
    if not judged.survives:
        return "not decided", (f"{p} < {test.alpha:g} alone, but not under Holm over the {family_size} tested rows of "
                               f"the {judged.family} family")
    if test.mean < 0:
        return "does not hold", f"{p} < {test.alpha:g}, under Holm in the {judged.family} family"
    smaller = judged.row["versus_paper"] == "below the paper's"
    return "holds, smaller than the paper's" if smaller else "holds", f"{p} < {test.alpha:g}, under Holm in the " \
                                                                        f"{judged.family} family"


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _effects(cells: Cells, claim: Claim, pairs: dict[str, tuple[str, str] | None], metric: str,
             seeds: list[int]) -> tuple[dict[int, float], list[int]]:
    """A claim's effect in each seed bundle that has every cell (by seed), and the bundles that lack one."""
    effects, missing = {}, []
    for seed in seeds:
        values = [cells.value(t.table, t.row, pairs[t.pair], metric, seed) for t in claim.terms]
        if all(v is not None for v in values):
            effects[seed] = sum(t.sign * v for t, v in zip(claim.terms, values))
        else:
            missing.append(seed)
    return effects, missing


def _judge(cells: Cells, claim: Claim, src: str, tgt: str, metric: str, papers: dict) -> Judged | None:
    """A claim's row on one pair and metric, before Holm and its verdict (None where no bundle has its cells)."""
    pairs = {"same": (src, tgt), "other": other_pair(cells.cfg, tgt)}
    effects, missing = _effects(cells, claim, pairs, metric, cells.cfg["seeds"])
    if not effects:
        return None
    digits = 4 if metric in ("lpips", "fid") else 2
    paper = [papers.get((t.table, t.row, *pairs[t.pair], metric)) for t in claim.terms]
    paper_effect = sum(t.sign * float(v) for t, v in zip(claim.terms, paper)) if all(paper) else None
    needs = [need for need in NEEDS if any(need.concerns(claim, t, metric) for t in claim.terms)]
    lacking = list(dict.fromkeys(
        why for need in needs for t in claim.terms if need.concerns(claim, t, metric)
        if (why := need.lacking(cells, t.table, t.row, pairs[t.pair], metric)) is not None))
    test = paired_t_test(list(effects.values()), ALPHA)
    notes = [claim.source]
    if missing:
        notes.append(f"seed bundle{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} missing on one "
                     f"side: left out")
    notes += budget_notes([b for t in claim.terms for b in cells.budgets_of(t.table, t.row, pairs[t.pair])], cells.budgets)
    low, high = test.interval or (None, None)
    row = {"claim": claim.text, "kind": claim.kind, "family": family(claim, metric), "table": claim.terms[0].table,
           "source": src, "target": tgt, "metric": metric,
           "paper_effect": _number(paper_effect, digits), "effect": _number(test.mean, digits),
           "ci_low": _number(low, digits), "ci_high": _number(high, digits), "std": _number(test.std, digits),
           "seeds": test.n, "bundle_effects": ";".join(f"{seed}:{effect:.6f}" for seed, effect in effects.items()),
           "t": _number(test.t, 3),
           "p_value": "" if test.p_value is None else p_text(test.p_value, test.alpha),
           "critical_value": _number(test.critical_value, 3), "holm": "", "verdict": "",
           "versus_paper": versus_paper(test.interval, paper_effect), "needs": "; ".join(need.text for need in needs),
           "notes": ""}
    return Judged(row, test, lacking, family(claim, metric), notes)


def claim_rows(records: Iterable[EvaluationRecord | QualityRecord], cfg: dict[str, Any],
               budgets: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One row per claim, pair and metric whose cells exist in at least one bundle, with its t-test,
    Holm's correction within its family and the corrected verdict; its notes name the budgets its runs
    were trained below their plateau or with none measured (``budgets``: :func:`budget_status`)."""
    cells, papers, rehearsal = Cells(records, cfg, budgets), paper_values(), is_rehearsal(cfg)
    judged = [j for claim in CLAIMS for src, tgt in cfg[claim.pairs_key] for metric in claim.metrics
              if (j := _judge(cells, claim, src, tgt, metric, papers)) is not None]
    size = {}
    for name in FAMILIES:
        tested = [j for j in judged if j.family == name and j.test.p_value is not None and not j.lacking and not rehearsal]
        size[name] = len(tested)
        for j, survives in zip(tested, holm_survivors([j.test.p_value for j in tested], ALPHA)):
            j.survives = survives
            j.row["holm"] = "survives" if survives else "does not survive"
    for j in judged:
        verdict, why = _verdict(j, rehearsal, size.get(j.family, 0))
        j.row["verdict"] = verdict
        j.row["notes"] = "; ".join(x for x in (j.notes[0], why, *j.notes[1:]) if x)
    return [j.row for j in judged]


def write_claims(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write the claims CSV atomically."""
    write_csv(path, COLUMNS, rows)
