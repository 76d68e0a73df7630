"""The paper's qualitative claims, judged from our numbers (``results/claims.csv``).

A claim is a signed sum of table cells that the paper says is positive, for example CR-GAN's
rank-1 minus Direct Transfer's in Table 2. Its effect is computed per seed from the records the
tables are built from (so differences are paired: the same seed's runs), then averaged; the
paper's effect is the same sum of its published values. The verdict:

- ``holds``: the mean effect is positive and more than two standard errors (std / sqrt(seeds));
- ``does not hold``: it is negative and more than two standard errors;
- ``not decided``: within two standard errors, or with one seed (no spread to judge by);
- ``not judged``: an LPIPS or FID claim measured with a stand-in feature network (no ImageNet
  weights): a re-id network looks at the person and ignores the background, so it cannot test what
  CR-GAN is built to do. The effect is still computed and shown.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crgan.io import write_csv
from crgan.methods import label
from crgan.paper import paper_values
from crgan.plan import TABLES, Measured, Ours, layout
from crgan.records import EvaluationRecord, QualityRecord
from crgan.report.tables import REHEARSAL_NOTE, is_rehearsal

COLUMNS = ["claim", "table", "source", "target", "metric", "paper_effect", "effect", "std", "seeds", "verdict", "notes"]
REID = ("rank1", "map")


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
    """A claim of the paper: ``terms`` sum to a positive number on each pair of ``pairs_key``."""

    text: str
    terms: tuple[Term, ...]
    metrics: tuple[str, ...] = REID
    pairs_key: str = "pairs"
    source: str = ""

    @classmethod
    def better(cls, text: str, table: int, better: str, worse: str, metrics: tuple[str, ...] = REID,
               pairs_key: str = "pairs", source: str = "") -> Claim:
        """Row ``better`` > row ``worse`` in ``table`` (row keys; for a lower-is-better metric, give it as
        ``worse`` first)."""
        return cls(text, (Term(1, table, better), Term(-1, table, worse)), metrics, pairs_key, source)


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
          ("rank1", "map"), "cuhk03_pairs", "Section 4.5, Fig. 5"),
    # beyond the paper (Table 8): questions the paper could not ask, judged the same way
    Claim.better("beyond the paper: CR-GAN adds to Cluster Contrast (CR-GAN+Cluster Contrast beats Cluster Contrast)",
                 8, "crgan+cluster_contrast", "cluster_contrast", source="Table 8, not a claim of the paper"),
    Claim.better("beyond the paper: Cluster Contrast beats CR-GAN+TAUDL", 8, "cluster_contrast", "crgan+taudl",
                 source="Table 8, not a claim of the paper"),
)


def other_pair(cfg: dict[str, Any], target: str) -> tuple[str, str] | None:
    """The Market/Duke pair of ``cfg['pairs']`` with this target (what a CUHK03 pair is compared with)."""
    return next((tuple(p) for p in cfg["pairs"] if p[1] == target), None)


class Cells:
    """Per-seed values of table cells, from the records the tables are built from."""

    def __init__(self, records: Iterable[EvaluationRecord | QualityRecord], cfg: dict[str, Any]):
        self.cfg = cfg
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


def _verdict(effects: list[float]) -> tuple[str, str]:
    if len(effects) < 2:
        return "not decided", "one seed: no spread to judge the effect by"
    mean, se = statistics.fmean(effects), statistics.stdev(effects) / math.sqrt(len(effects))
    if abs(mean) <= 2 * se:
        return "not decided", f"within two standard errors ({2 * se:.2f})"
    return ("holds" if mean > 0 else "does not hold"), f"beyond two standard errors ({2 * se:.2f})"


def claim_rows(records: Iterable[EvaluationRecord | QualityRecord], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per claim, pair and metric whose cells all exist."""
    cells, rows = Cells(records, cfg), []
    papers = paper_values()
    for claim in CLAIMS:
        for src, tgt in cfg[claim.pairs_key]:
            pairs = {"same": (src, tgt), "other": other_pair(cfg, tgt)}
            if any(pairs[t.pair] is None for t in claim.terms):
                continue
            for metric in claim.metrics:
                effects = []
                for seed in cfg["seeds"]:
                    values = [cells.value(t.table, t.row, pairs[t.pair], metric, seed) for t in claim.terms]
                    if all(v is not None for v in values):
                        effects.append(sum(t.sign * v for t, v in zip(claim.terms, values)))
                if not effects:
                    continue
                digits = 4 if metric in ("lpips", "fid") else 2
                paper = [papers.get((t.table, label(t.row), *pairs[t.pair], metric)) for t in claim.terms]
                paper_effect = (f"{sum(t.sign * float(v) for t, v in zip(claim.terms, paper)):.{digits}f}"
                                if all(paper) else "")
                stand_in = next((b for t in claim.terms if (b := cells.stand_in(t.table, t.row, pairs[t.pair], metric))
                                 is not None), None)
                if is_rehearsal(cfg):
                    verdict, why = "rehearsal", REHEARSAL_NOTE
                elif stand_in is not None:
                    verdict, why = "not judged", f"stand-in metric network: {stand_in}"
                else:
                    verdict, why = _verdict(effects)
                rows.append({"claim": claim.text, "table": claim.terms[0].table, "source": src, "target": tgt,
                             "metric": metric, "paper_effect": paper_effect,
                             "effect": f"{statistics.fmean(effects):.{digits}f}",
                             "std": f"{statistics.stdev(effects):.{digits}f}" if len(effects) > 1 else "",
                             "seeds": len(effects), "verdict": verdict,
                             "notes": "; ".join(x for x in (claim.source, why) if x)})
    return rows


def write_claims(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write the claims CSV atomically."""
    write_csv(path, COLUMNS, rows)
