"""The method registry: every method this workflow trains, declared once, and every name a table row can have.

A :class:`Method` is what the rest of the code needs to know about a method: its key (paths, rules,
command line), its label in the tables, its run folder and evaluation file (Snakemake templates), the
network and generator files its runs end with, the starts it may adapt from (TAUDL, Cluster Contrast)
or its variants (CR-GAN), the ``crgan`` command that trains it, how the report plots its training
logs, and its colour in figures. The run catalogue (:mod:`crgan.runs`), the rules, the CLI, the plan,
the report, the claims and the sweep read this module; none of them types a method's label.

Table rows are named by **row keys** (``"crgan"``, ``"crgan+lmp"``, ``"direct_transfer"``,
``"taudl_floor"``): :func:`label` turns one into the text the tables print. A row key is the key of a
run (a CR-GAN variant, a start, a method) or of a role of a re-id model in a pair, with ``+lmp`` for
LMP features. This module imports nothing of the project, so the Snakefile and the report read it
without importing torch.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

DOMAINS = ("market1501", "dukemtmc", "cuhk03")

#: How the report names each domain.
DOMAIN_SHORT = {"market1501": "Market", "dukemtmc": "Duke", "cuhk03": "CUHK03"}


def training_log(network: object) -> str:
    """The per-step (or per-epoch) training log a trainer writes beside a re-id network file."""
    return f"{network}.log.csv"


def loss_log(generator: object) -> str:
    """The loss log a GAN trainer writes beside its generator file."""
    return f"{generator}.loss.csv"


def sample_grid(generator: object) -> str:
    """The sample grid (PNG) a GAN trainer draws beside its generator file."""
    return f"{generator}.grid.png"


@dataclass(frozen=True)
class Variant:
    """A CR-GAN variant: its label in the paper's tables, the losses it switches off, and whether G
    sees the masked target X'T (the dual condition)."""

    label: str
    drops: tuple[str, ...] = ()
    dual: bool = True


@dataclass(frozen=True)
class Start:
    """Where a method that adapts on the unlabelled target starts: the network of another method's run
    of the same pair (``network``, ``method`` names it), the plain backbone (``plain``), or nothing
    (``untrained``: the network as initialised, written without training: the floor). ``row`` is the
    row key of the run, ``label`` its name in the tables."""

    row: str
    label: str
    kind: str = "network"
    method: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("network", "plain", "untrained") or (self.kind == "network") != (self.method is not None):
            raise ValueError(f"start {self.row!r}: kind {self.kind!r} with method {self.method!r}")


@dataclass(frozen=True)
class TrainingPlot:
    """How the report plots one training log of a method's runs: the plot group (``kind``), the plot's
    title (``{pair}`` and ``{target}`` filled in), what names the run's line (``series``: ``source``,
    ``start``, or ``variant``: the run's variant, its method where it has none; ``columns``: every
    ``loss_*`` column is its own line), and the variants whose log is plotted (empty: every run's)."""

    kind: str
    title: str
    series: str
    variants: tuple[str, ...] = ()


@dataclass(frozen=True)
class Method:
    """One method: everything the catalogue, rules, CLI, plan and report need to know about it.

    ``run_dir`` and ``eval_file`` are templates with Snakemake's wildcards; ``label`` may name the
    run's source (``{source}``). ``architecture`` says how its network file is rebuilt (``ide``: a
    backbone and an identity classifier; ``taudl``: per-camera tracklet heads; ``cluster``: a feature
    BatchNorm, no classifier). ``curves`` maps a log file name inside the run's folder to its plot.
    """

    key: str
    label: str
    run_dir: str
    eval_file: str
    network_file: str
    command: str
    colour: str
    architecture: str = "ide"
    generator_file: str | None = None
    variants: Mapping[str, Variant] = field(default_factory=dict)
    starts: Mapping[str, Start] = field(default_factory=dict)
    curves: Mapping[str, TrainingPlot] = field(default_factory=dict)
    adapts: str | None = None  # AdaBN: the method whose network it re-normalises
    sections: tuple[str, ...] = ()  # the config sections its trainer reads (a started method's rule passes them)
    data_parallel: bool = False  # trains on all of a job's GPUs (torchrun); its batch must split over them
    #: a started method's trainer, ``module:function``, called as
    #: ``train(target_index, cfg, seed, out, device, init_model, untrained=...)``: its command, rule and
    #: budget chain follow from it
    trainer: str | None = None
    summary: str = ""  # what its command does, for the command line's help
    length_option: str = ""  # a started method's option (in its own section) that sets its training length
    #: its own config section, declared here rather than in the schema file: option -> JSON-schema
    #: property with its ``default`` (a new method's options; the paper's methods keep theirs in the schema)
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    cmc_rows: tuple[str, ...] = ()  # its row keys drawn in the report's CMC plots (+lmp dashed)
    ranked_rows: tuple[str, ...] = ()  # its row keys whose ranked lists the report shows
    grid_rows: tuple[str, ...] = ()  # the row labels of its generator's sample grid (none: no grid shown)
    grid_caption: str = ""  # what the report says under its grids' heading
    budgets: tuple[str, ...] = ()  # the budget curves of its own training (crgan.budgets.CURVES) on the target

    @property
    def layout(self) -> str:
        """Which wildcards name a run: ``domain`` (one domain), ``pair`` (source and target) or
        ``start`` (a target and where the run started)."""
        return "start" if self.starts else "domain" if "{domain}" in self.run_dir else "pair"

    @property
    def network_starts(self) -> dict[str, str]:
        """The methods whose networks a run of this one may start from, each with its start's key."""
        return {start.method: key for key, start in self.starts.items() if start.kind == "network"}

    @property
    def network(self) -> str:
        """The re-id network a run ends with, as a template."""
        return f"{self.run_dir}/{self.network_file}"

    def train_function(self) -> Callable[..., Any]:
        """A started method's trainer (imported when asked: it imports torch)."""
        if self.trainer is None:
            raise ValueError(f"{self.key} declares no trainer")
        module, function = self.trainer.split(":")
        return getattr(importlib.import_module(module), function)

    @property
    def main_variant(self) -> str | None:
        """The variant a run of this method means when none is named (CR-GAN's full one); None without variants."""
        return next(iter(self.variants), None)

    @property
    def start_curves(self) -> dict[str, str]:
        """Each start that trains, with the budget curve of the runs from it: the method's own for its
        first start (TAUDL: plain; Cluster Contrast: the source model), ``<method>_<start>`` for each
        other (they share the method's length option, not its plateau); the untrained floor has none."""
        first = next(iter(self.starts), None)
        return {key: self.key if key == first else f"{self.key}_{key}"
                for key, start in self.starts.items() if start.kind != "untrained"}

    def generator_curve(self, variant: str | None) -> str:
        """The budget curve of a variant's generator: the method's own for its main variant, and
        ``<method>_<variant>`` for each other (the ablations share CR-GAN's option, not its plateau)."""
        return self.key if variant == self.main_variant else f"{self.key}_{variant}"

    @property
    def generator(self) -> str | None:
        """The generator file of a run (None for methods without one), as a template."""
        return f"{self.run_dir}/{self.generator_file}" if self.generator_file else None


_FINE_TUNING = {training_log("reid.pt"): TrainingPlot("fine-tuning", "Fine-tuning Did, {pair}", "variant")}

_REGISTRY = (
    Method("reid", "re-id on {source}", "results/reid/{domain}/seed{seed}",
           "results/eval/reid/{domain}/seed{seed}/on_{test}.json", "model.pt", "train-reid",
           "#7f7f7f", curves={training_log("model.pt"): TrainingPlot("re-id", "Re-id training (source models)", "source")},
           budgets=("reid",), data_parallel=True, cmc_rows=("direct_transfer",),
           ranked_rows=("direct_transfer", "target_supervised")),
    Method("crgan", "CR-GAN", "results/crgan/{source}-{target}/{variant}/seed{seed}",
           "results/eval/crgan/{source}-{target}/{variant}/seed{seed}.json", "reid.pt", "train-crgan", "#0072B2",
           generator_file="G.pt",
           variants={"crgan": Variant("CR-GAN"),
                     "wo_dual": Variant("w/o dual condition", dual=False),
                     "wo_id": Variant("w/o identity loss", drops=("id",)),
                     "wo_cam": Variant("w/o camera loss", drops=("cam",)),
                     "wo_con": Variant("w/o context loss", drops=("con",))},
           curves={loss_log("G.pt"): TrainingPlot("CR-GAN losses", "CR-GAN losses, {pair}", "columns", ("crgan",)),
                   **_FINE_TUNING},
           budgets=("crgan", "finetune"), data_parallel=True, cmc_rows=("wo_dual", "crgan", "crgan+lmp"),
           ranked_rows=("crgan",), grid_rows=("XS", "XT", "X'T", "XC", "XR", "XG"),
           grid_caption="The paper's Figures 1 and 4. Rows: source XS, target instance XT, masked target X'T, context "
                        "mask XC, residual XR, rendering XG = XR·XC + XS·(1 − XC)."),
    Method("spgan", "SPGAN", "results/spgan/{source}-{target}/seed{seed}",
           "results/eval/spgan/{source}-{target}/seed{seed}.json", "reid.pt", "train-spgan",
           "#009E73", generator_file="G.pt",
           curves={**_FINE_TUNING, loss_log("G.pt"): TrainingPlot("SPGAN losses", "SPGAN losses, {pair}", "columns")},
           budgets=("spgan", "finetune_spgan"), data_parallel=True, cmc_rows=("spgan", "spgan+lmp"), ranked_rows=("spgan",),
           grid_rows=("xS", "G(xS)", "F(G(xS))", "xT", "F(xT)"),
           grid_caption="Rows: source xS, its translation G(xS), the cycle F(G(xS)), target xT, its translation F(xT)."),
    Method("paste", "Paste (control)", "results/paste/{source}-{target}/seed{seed}",
           "results/eval/paste/{source}-{target}/seed{seed}.json", "reid.pt", "finetune-paste",
           "#D55E00", curves=_FINE_TUNING, budgets=("finetune_paste",), cmc_rows=("paste",), ranked_rows=("paste",)),
    Method("adabn", "AdaBN (control)", "results/adabn/{source}-{target}/seed{seed}",
           "results/eval/adabn/{source}-{target}/seed{seed}.json", "reid.pt", "adapt-bn",
           "#F0E442", adapts="reid", cmc_rows=("adabn",), ranked_rows=("adabn",)),
    Method("crgan_adabn", "CR-GAN+AdaBN (control)", "results/crgan_adabn/{source}-{target}/seed{seed}",
           "results/eval/crgan_adabn/{source}-{target}/seed{seed}.json", "reid.pt", "adapt-bn",
           "#332288", adapts="crgan"),
    Method("taudl", "TAUDL", "results/taudl/{target}/{start}/seed{seed}",
           "results/eval/taudl/{target}/{start}/seed{seed}.json", "model.pt", "train-taudl",
           "#000000", architecture="taudl",
           starts={"plain": Start("taudl", "TAUDL", "plain"),
                   "crgan": Start("crgan+taudl", "CR-GAN+TAUDL", method="crgan"),
                   "spgan": Start("spgan+taudl", "SPGAN+TAUDL", method="spgan"),
                   "reid": Start("taudl_reid", "TAUDL from the source model (control)", method="reid"),
                   "untrained": Start("taudl_floor", "Untrained network (floor)", "untrained")},
           curves={training_log("model.pt"): TrainingPlot("TAUDL", "TAUDL on {target}", "start")}, budgets=("taudl",),
           sections=("taudl", "reid", "data"), trainer="crgan.train.taudl:train_taudl",
           summary="TAUDL on a target's unlabelled training set (per-camera tracklets)", length_option="iterations",
           cmc_rows=("taudl", "spgan+taudl", "crgan+taudl"),
           ranked_rows=("taudl", "crgan+taudl")),
    Method("cluster_contrast", "Cluster Contrast", "results/cluster_contrast/{target}/{start}/seed{seed}",
           "results/eval/cluster_contrast/{target}/{start}/seed{seed}.json", "model.pt", "train-cluster-contrast",
           "#882255", architecture="cluster",
           starts={"reid": Start("cluster_contrast", "Cluster Contrast", method="reid"),
                   "crgan": Start("crgan+cluster_contrast", "CR-GAN+Cluster Contrast", method="crgan"),
                   "untrained": Start("cluster_contrast_floor", "Untrained network (floor)", "untrained")},
           curves={training_log("model.pt"): TrainingPlot("Cluster Contrast", "Cluster Contrast on {target} (per epoch)",
                                                          "start")},
           budgets=("cluster_contrast",), sections=("cluster_contrast", "reid", "data", "eval"),
           trainer="crgan.train.cluster_contrast:train_cluster_contrast",
           summary="Cluster Contrast on a target's unlabelled training set (Table 8)", length_option="epochs",
           cmc_rows=("cluster_contrast", "crgan+cluster_contrast"), ranked_rows=("cluster_contrast", "crgan+cluster_contrast")),
)

#: Every method, by key.
METHODS: Mapping[str, Method] = MappingProxyType({method.key: method for method in _REGISTRY})
#: The plot groups of training logs, in the order the report shows them: as they first appear in the registry.
CURVE_KINDS = tuple(dict.fromkeys(plot.kind for method in _REGISTRY for plot in method.curves.values()))
#: The rows the report draws in its CMC plots and whose ranked lists it shows, in registry order.
CMC_ROWS = tuple(row for method in _REGISTRY for row in method.cmc_rows)
RANKED_ROWS = tuple(row for method in _REGISTRY for row in method.ranked_rows)
#: CR-GAN and its ablations (Tables 1-3), by the name used in paths and on the command line.
VARIANTS: Mapping[str, Variant] = METHODS["crgan"].variants

#: The roles of a re-id model in a pair (source model on the target, on its own test set; the
#: target's own model): their row keys and labels.
REID_ROLES = {"direct_transfer": "Direct Transfer", "source_source": "Source->source (sanity)",
              "target_supervised": "Target-supervised (upper bound)"}
#: Whose images Tables 1 and 4 measure besides the generators' (the data itself), by row key.
DATA_ROWS = {"source-target": "source-target data"}
#: The suffix of a row with LMP features (its key and its label).
LMP = ("+lmp", "+LMP")


def _rows() -> dict[str, tuple[str, str]]:
    """Every row key (without ``+lmp``): (its label, the method whose runs it shows)."""
    rows: dict[str, tuple[str, str]] = {}

    def add(key: str, text: str, method: str) -> None:
        if key in rows:
            raise ValueError(f"two rows declare the row key {key!r}")
        rows[key] = (text, method)

    for key, text in {**REID_ROLES, **DATA_ROWS}.items():
        add(key, text, "reid")
    for method in METHODS.values():
        if method.variants:
            for key, variant in method.variants.items():
                add(key, variant.label, method.key)
        elif method.starts:
            for start in method.starts.values():
                add(start.row, start.label, method.key)
        elif method.key != "reid":
            add(method.key, method.label, method.key)
    return rows


_ROWS = _rows()
#: Every row key's label (without the ``+lmp`` rows, which :func:`label` derives).
ROW_LABELS: Mapping[str, str] = MappingProxyType({key: text for key, (text, _) in _ROWS.items()})
#: Colours of rows that differ from their method's (a variant, a start, a re-id role).
COLOURS = {"wo_dual": "#E69F00", "spgan+taudl": "#56B4E9", "crgan+taudl": "#CC79A7",
           "crgan+cluster_contrast": "#44AA99", "target_supervised": "#999933"}


def _base(row: str) -> str:
    base = row.removesuffix(LMP[0])
    if base not in _ROWS:
        raise KeyError(f"unknown row key {row!r} (known: {', '.join(_ROWS)})")
    return base


def label(row: str) -> str:
    """The text the tables print for a row key (``crgan+lmp`` -> ``CR-GAN+LMP``)."""
    base = _base(row)
    return ROW_LABELS[base] + (LMP[1] if base != row else "")


def colour(row: str) -> str:
    """A row's colour in figures (its +LMP row's is the same): its own, else its method's."""
    base = _base(row)
    return COLOURS.get(base, METHODS[_ROWS[base][1]].colour)


def adabn_of(method: str) -> str:
    """The AdaBN method that re-normalises ``method``'s network (``adabn`` for a re-id model)."""
    found = [m.key for m in _REGISTRY if m.adapts == method]
    if not found:
        adapted = ", ".join(m.adapts for m in _REGISTRY if m.adapts)
        raise ValueError(f"no AdaBN control starts from a {method!r} network (expected one of: {adapted})")
    return found[0]
