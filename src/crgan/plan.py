"""The experiment plan: every table once, with the rows it holds for a pair.

A :class:`Table` states its number, title, the config key of its pairs, its metrics, where its
paper values are, and its rows for a pair: each :class:`Ours` (a re-id row we compute, named by its
row key in the method registry, with the evaluation behind it), :class:`Measured` (an image-quality
row), :class:`Quoted` (a method of the paper we do not run) or :class:`Published` (a later paper's
real-data result). The workflow's DAG (:func:`table_inputs`), the tables, the report, the claims and
the domain-gap sweep all read this plan, so a new row is one entry here.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crgan.methods import LMP, label
from crgan.paper import paper_rows
from crgan.runs import Evaluation, Quality, Run

REID_METRICS = ("rank1", "rank5", "rank10", "map")


@dataclass(frozen=True)
class Ours:
    """A re-id row we compute: its row key (``+lmp``: LMP features), the evaluation behind it (every
    seed) and what it is."""

    key: str
    evaluation: Evaluation
    notes: str

    @property
    def label(self) -> str:
        return label(self.key)

    @property
    def pooling(self) -> str:
        """The features the row reads: ``lmp`` or ``gap``."""
        return "lmp" if self.key.endswith(LMP[0]) else "gap"


@dataclass(frozen=True)
class Measured:
    """An image-quality row we compute (Tables 1 and 4)."""

    quality: Quality

    @property
    def key(self) -> str:
        return self.quality.method

    @property
    def label(self) -> str:
        return self.quality.label


@dataclass(frozen=True)
class Quoted:
    """A method we do not run: the paper's numbers with its note, no value of ours."""

    label: str


@dataclass(frozen=True)
class Published:
    """A real-data result published after the paper (Table 8's references): values by metric, and
    where they are published."""

    label: str
    values: dict[str, str]
    source: str


Entry = Ours | Measured | Quoted | Published


def run_row(run: Run, notes: str, lmp: bool = False) -> Ours:
    """The row of a run's network tested on its target, keyed by the run (``lmp``: its +LMP row)."""
    return Ours(run.row + (LMP[0] if lmp else ""), Evaluation.of(run), notes)


def _rendered(src: str, tgt: str) -> str:
    return f"Did fine-tuned on renderings G(XS, X'T) of {src} persons in {tgt} contexts"


CONTROL_NOTES = {
    "paste": "not in the paper: control without a GAN, Did fine-tuned as CR-GAN on XS * MF + X'T * (1 - MF) (the "
             "source person pasted on the masked target X'T = XT * (1 - MT) that CR-GAN's G sees)",
    "adabn": "not in the paper: control without labels or training, the source model with BatchNorm statistics "
             "re-estimated on target training images (AdaBN)",
    "crgan_adabn": "not in the paper: control, CR-GAN's fine-tuned network with BatchNorm statistics re-estimated "
                   "on target training images (AdaBN's share of CR-GAN's gain)",
}
TRACKLETS = ("TAUDL tracklets: one per (person, camera) of the unlabelled target train set, i.e. per-camera "
             "identity labels and no cross-camera labels")
SPGAN_NOTE = "source model fine-tuned on the source train set translated once by SPGAN (source labels)"
CLUSTER_NOTE = ("not in the paper: Cluster Contrast (Dai et al.) on the unlabelled target train set: DBSCAN "
                "pseudo-labels on k-reciprocal Jaccard distances, contrastive cluster memory")


def reference_rows(src: str, tgt: str) -> dict[str, Ours]:
    """The re-id models' rows of a pair: Direct Transfer, source->source and target-supervised."""
    return {"direct_transfer": Ours("direct_transfer", Evaluation.of(Run.reid(src), tgt),
                                    "source-trained model tested on the target"),
            "source_source": Ours("source_source", Evaluation.of(Run.reid(src), src),
                                  f"not in the paper: source model on the {src} test set"),
            "target_supervised": Ours("target_supervised", Evaluation.of(Run.reid(tgt), tgt),
                                      f"not in the paper: trained with {tgt} labels")}


def table2_rows(src: str, tgt: str) -> list[Entry]:
    """Table 2: Direct Transfer, w/o dual condition and CR-GAN (without and with LMP), the paste, AdaBN
    and CR-GAN+AdaBN controls, and the source->source and target-supervised reference rows."""
    crgan, wo_dual = Run.crgan(src, tgt), Run.crgan(src, tgt, "wo_dual")
    reference = reference_rows(src, tgt)
    return [
        reference["direct_transfer"],
        run_row(wo_dual, "G sees only XS"),
        run_row(crgan, _rendered(src, tgt)),
        run_row(wo_dual, "G sees only XS", lmp=True),
        run_row(crgan, _rendered(src, tgt), lmp=True),
        *[run_row(Run.of_pair(control, src, tgt), CONTROL_NOTES[control], lmp) for control in CONTROL_NOTES
          for lmp in (False, True)],
        reference["source_source"],
        reference["target_supervised"],
    ]


def table3_rows(src: str, tgt: str) -> list[Entry]:
    """Table 3: loss ablation (each loss removed in turn) against the full CR-GAN, GAP features."""
    return [run_row(Run.crgan(src, tgt, v), f"variant {v}") for v in ("wo_id", "wo_cam", "wo_con", "crgan")]


def comparison_rows(src: str, tgt: str) -> dict[str, Ours]:
    """Every row of Tables 5-8 we run that is not a reference row, for one pair, by row key."""
    spgan, crgan = Run.of_pair("spgan", src, tgt), Run.crgan(src, tgt)

    def started(method: str, start: str, notes: str) -> Ours:
        bare = start in ("plain", "untrained")
        return run_row(Run.started(method, tgt, start, None if bare else src), notes)

    rows = [
        run_row(spgan, SPGAN_NOTE), run_row(spgan, SPGAN_NOTE, lmp=True),
        run_row(crgan, _rendered(src, tgt)), run_row(crgan, _rendered(src, tgt), lmp=True),
        started("taudl", "untrained", "not in the paper: TAUDL's network as initialised, no training: the floor TAUDL "
                                      "numbers are read against"),
        started("taudl", "plain", f"plain initialisation, no source data; {TRACKLETS}; TAUDL embedding as feature"),
        started("taudl", "spgan", f"TAUDL started from the SPGAN fine-tuned network; {TRACKLETS}"),
        started("taudl", "crgan", f"TAUDL started from the CR-GAN fine-tuned network; {TRACKLETS}"),
        started("taudl", "reid", f"not in the paper: control, TAUDL started from the {src} source model (what "
                                 f"CR-GAN+TAUDL's start adds beyond it); {TRACKLETS}"),
        started("cluster_contrast", "untrained", "not in the paper: Cluster Contrast's network as initialised, no "
                                                 "training"),
        started("cluster_contrast", "reid", f"{CLUSTER_NOTE}; started from the {src} source model"),
        started("cluster_contrast", "crgan", f"{CLUSTER_NOTE}; started from the CR-GAN fine-tuned network"),
    ]
    return {row.key: row for row in rows}


#: Tables 5-7: the rows we run (by row key); the paper's other rows are quoted.
COMPARISONS = {5: ("spgan", "crgan", "spgan+lmp", "crgan+lmp"),
               6: ("spgan+lmp", "crgan+lmp", "taudl", "spgan+taudl", "crgan+taudl"),
               7: ("spgan", "crgan", "taudl", "crgan+taudl")}


def comparison_table(number: int) -> Callable[[str, str], list[Entry]]:
    """Tables 5-7's rows: the paper's methods in the paper's order, ours computed where the paper
    reports the method on the pair, the rest quoted (Tables 6 and 7 first give the untrained floor and
    the control TAUDL from the source model, Table 7 before them Direct Transfer, which the paper's
    Table 7 lacks, for its domain gap)."""

    def rows(src: str, tgt: str) -> list[Entry]:
        ours = comparison_rows(src, tgt)
        published = [r for r in paper_rows() if int(r["table"]) == number]
        methods = dict.fromkeys((r["row"], r["method"]) for r in published)
        reported = {(r["row"], (r["source"], r["target"])) for r in published}
        direct = [Ours("direct_transfer", Evaluation.of(Run.reid(src), tgt),
                       "not in the paper's Table 7: the source model tested on the target")] if number == 7 else []
        floor = [ours["taudl_floor"], ours["taudl_reid"]] if number in (6, 7) else []
        # a method the paper does not report on this pair is not run for it either (Table 7: SPGAN from CUHK03 to Duke)
        return direct + floor + [ours[row] if row in COMPARISONS[number] and (row, (src, tgt)) in reported
                                 else Quoted(name) for row, name in methods]

    return rows


#: Table 8's real-data references (mAP, rank-1), verified against their sources, by (source, target).
PUBLISHED = {
    ("MMT", "Ge, Chen, Li, ICLR 2020 (as listed in OpenUnReID's docs/LEADERBOARD.md)"): {
        ("market1501", "dukemtmc"): {"map": "65.1", "rank1": "78.0"},
        ("dukemtmc", "market1501"): {"map": "71.2", "rank1": "87.7"}},
    ("SpCL", "Ge, Zhu, Chen, Zhao, Li, NeurIPS 2020 (OpenUnReID's docs/LEADERBOARD.md)"): {
        ("market1501", "dukemtmc"): {"map": "68.8", "rank1": "82.9"},
        ("dukemtmc", "market1501"): {"map": "76.7", "rank1": "90.3"}},
    ("DG-Net++", "Zou, Yang, Yu, Kumar, Kautz, ECCV 2020 (NVlabs/DG-Net-PP README)"): {
        ("market1501", "dukemtmc"): {"map": "64.4", "rank1": "79.3"},
        ("dukemtmc", "market1501"): {"map": "64.0", "rank1": "82.6"}},
}


def table8_rows(src: str, tgt: str) -> list[Entry]:
    """Table 8 (beyond the paper): the paper's best rows against Cluster Contrast from the source model
    and from CR-GAN's fine-tuned network, the untrained floor, and published real-data references."""
    ours, reference = comparison_rows(src, tgt), reference_rows(src, tgt)
    return [
        reference["direct_transfer"],
        *[ours[key] for key in ("cluster_contrast_floor", "crgan+lmp", "taudl", "crgan+taudl", "cluster_contrast",
                                "crgan+cluster_contrast")],
        reference["target_supervised"],
        *[Published(method, values[(src, tgt)], source) for (method, source), values in PUBLISHED.items()
          if (src, tgt) in values],
    ]


def quality_table(methods: tuple[str, ...]) -> Callable[[str, str], list[Entry]]:
    """Tables 1 and 4's rows: the images of ``methods`` (row keys of runs.QUALITY_METHODS) measured."""
    return lambda src, tgt: [Measured(Quality(method, src, tgt)) for method in methods]


@dataclass(frozen=True)
class Table:
    """One table: its number and title, the config key of its pairs, its metrics (quality tables: all
    measured), its rows for a pair, and the paper's table its values are set beside."""

    number: int
    title: str
    pairs: str
    metrics: tuple[str, ...]
    rows: Callable[[str, str], list[Entry]]
    paper_table: int | None = None

    @property
    def paper(self) -> int:
        return self.paper_table or self.number


#: Where each table and the claims are written (``{n}``: the table's number).
TABLE_FILE = "results/table{n}.csv"
CLAIMS_FILE = "results/claims.csv"

TABLES = {table.number: table for table in (
    Table(1, "Image quality: LPIPS and FID, w/o dual condition vs CR-GAN", "pairs", (),
          quality_table(("source-target", "wo_dual", "crgan"))),
    Table(2, "Ablation of the dual condition in re-id (%)", "pairs", REID_METRICS, table2_rows),
    Table(3, "Ablation of each loss in re-id (%)", "pairs", REID_METRICS, table3_rows),
    Table(4, "Image quality: LPIPS and FID, SPGAN vs CR-GAN", "pairs", (),
          quality_table(("source-target", "spgan", "crgan"))),
    Table(5, "GAN-based methods in the cross-domain setting (%)", "pairs", ("rank1", "map"), comparison_table(5)),
    Table(6, "Market1501 / DukeMTMC-reID against unsupervised cross-domain methods (%)", "pairs", REID_METRICS,
          comparison_table(6)),
    Table(7, "CUHK03 to Market1501 / DukeMTMC-reID (%)", "cuhk03_pairs", REID_METRICS, comparison_table(7)),
    Table(8, "Beyond the paper: Cluster Contrast, and CR-GAN + Cluster Contrast (%)", "pairs", REID_METRICS,
          table8_rows, paper_table=6),
)}


def entries(table: int, src: str, tgt: str) -> list[Entry]:
    """The rows of ``table`` for one pair."""
    return TABLES[table].rows(src, tgt)


def computed_runs(table: int, src: str, tgt: str) -> list[Run]:
    """The runs whose networks ``table`` computes on one pair."""
    return list(dict.fromkeys(entry.evaluation.run for entry in entries(table, src, tgt) if isinstance(entry, Ours)))


def layout(table: int, cfg: dict[str, Any]) -> list[tuple[str, str, list[Entry]]]:
    """Per configured pair of ``table``: (source, target, its rows)."""
    if table not in TABLES:
        raise ValueError(f"no table {table} (tables: {', '.join(map(str, TABLES))})")
    return [(src, tgt, entries(table, src, tgt)) for src, tgt in cfg[TABLES[table].pairs]]


def table_inputs(table: int, cfg: dict[str, Any]) -> list[str]:
    """The result files ``table`` is built from, for every configured seed."""
    files = []
    for _, _, rows in layout(table, cfg):
        for entry in rows:
            if isinstance(entry, Ours):
                files += [entry.evaluation.at(seed).path for seed in cfg["seeds"]]
            elif isinstance(entry, Measured):
                files += [entry.quality.at(seed).path for seed in cfg["seeds"]]
    return list(dict.fromkeys(files))


def named_rows(src: str, tgt: str) -> dict[str, Ours]:
    """Every re-id row of the tables for a pair, by row key: the one place that says which evaluation
    ``crgan`` or ``cluster_contrast`` is (the sweep, the report's curves and ranked lists read it). A
    key that two tables give different evaluations is an error, never a silent pick."""
    rows: dict[str, Ours] = {}
    for table in TABLES:
        for row in entries(table, src, tgt):
            if not isinstance(row, Ours):
                continue
            if row.key in rows and rows[row.key].evaluation != row.evaluation:
                raise ValueError(f"row key {row.key!r} names two evaluations for {src}->{tgt}: "
                                 f"{rows[row.key].evaluation.path} and {row.evaluation.path}")
            rows.setdefault(row.key, row)
    return rows
