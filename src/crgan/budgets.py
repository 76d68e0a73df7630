"""Training budgets by one rule: each method's plateau on its validation curve (docs/assumptions.md,
"Training budgets").

A budget curve is a method's validation rank-1 (mean over seeds) at several budgets, each a full
training schedule at that budget. The plateau budget is the smallest whose mean is within a
tolerance of the best measured: one standard error of the best budget's mean, or one point of rank-1,
whichever is larger. A method trained on several pairs gets the largest of its pairs' plateau budgets,
so it is at its plateau on every pair; a configured budget below it is marked "below plateau".

Pure bookkeeping (no training): the curves, where their points and the measured plateaus live, and
the notes tables and claims read; :mod:`crgan.budget_curves` runs the points.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crgan.io import read_json
from crgan.methods import METHODS, Method

#: The smallest tolerance, in points of rank-1: differences below it are noise on these test sets.
MIN_TOLERANCE = 1.0


@dataclass(frozen=True)
class Plateau:
    """Where a curve plateaus: the chosen budget, the best measured one, its mean validation rank-1,
    and the tolerance the rule allowed."""

    budget: int
    best: int
    best_mean: float
    tolerance: float
    largest: int

    @property
    def at_edge(self) -> bool:
        """The best is the largest budget measured: the curve may still rise beyond it."""
        return self.best == self.largest


def plateau(curve: Mapping[int, Sequence[float]]) -> Plateau:
    """The plateau of one curve (``{budget: [validation rank-1 per seed]}``): the smallest budget whose
    mean is within ``max(SE of the best budget's mean, MIN_TOLERANCE)`` of the best mean (ties of the
    best go to the smaller budget)."""
    if not curve or any(not values for values in curve.values()):
        raise ValueError("a budget curve needs at least one value at each of at least one budget")
    means = {budget: statistics.fmean(values) for budget, values in curve.items()}
    best = min(means, key=lambda budget: (-means[budget], budget))
    values = curve[best]
    error = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    tolerance = max(error, MIN_TOLERANCE)
    # rounded: a gap of exactly the tolerance (32.2 - 31.2 = 1.0000000000000036 in floats) is within it
    chosen = min(budget for budget, mean in means.items() if round(means[best] - mean, 9) <= tolerance)
    return Plateau(chosen, best, means[best], tolerance, max(curve))


def method_budget(curves: Mapping[tuple[str, str], Mapping[int, Sequence[float]]]) -> int:
    """One budget for a method over its pairs: the largest of the pairs' plateau budgets."""
    if not curves:
        raise ValueError("no budget curves to choose from")
    return max(plateau(curve).budget for curve in curves.values())


#: Where one point's networks and validation result live.
POINT_DIR = "results/budgets/{curve}/{source}-{target}/{budget}/seed{seed}"
POINT_FILE = f"{POINT_DIR}/validation.json"
#: The measured plateaus the main run reads (written with results/budget_curves.csv).
PLATEAU_FILE = "results/plateaus.json"
#: A config overlay that trains every measured budget at its plateau (written with them):
#: ``snakemake --configfile presets/verdicts.yaml results/plateau_budgets.yaml``.
PLATEAU_OVERLAY = "results/plateau_budgets.yaml"


def set_budget(section: dict[str, Any], option: str, budget: int) -> None:
    """Set a config section's budget ``option`` to ``budget``; a step schedule (Cluster Contrast's lr
    ``step_size``) keeps its share of the training length."""
    if "step_size" in section:
        section["step_size"] = max(1, round(budget * section["step_size"] / section[option]))
    section[option] = int(budget)


def plateau_overlay(cfg: dict[str, Any], plateaus: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """The config overlay that trains each measured budget at its plateau: each option at the largest
    plateau of the curves that set it (CR-GAN's G and its ablations share ``crgan.iterations``, the three
    fine-tunings ``finetune.iterations``), the same rule for every method, above or below what is
    configured; an option no curve measured is left out (it stays as configured)."""
    wanted: dict[tuple[str, str], int] = {}
    for key, budget in plateaus.items():
        curve = CURVES[key]
        wanted[(curve.section, curve.option)] = max(budget, wanted.get((curve.section, curve.option), 0))
    overlay: dict[str, dict[str, int]] = {}
    for (section, option), budget in sorted(wanted.items()):
        at_plateau = dict(cfg[section])
        set_budget(at_plateau, option, budget)
        overlay.setdefault(section, {}).update({key: at_plateau[key] for key in (option, "step_size") if key in at_plateau})
    return overlay


@dataclass(frozen=True)
class BudgetCurve:
    """One budget knob: its config ``section`` and ``option``, its ``unit``, its label, what the point
    needs from the main run (``needs``: ``did`` the source model, ``generator`` CR-GAN's G) and the
    config ``sections`` its chain reads."""

    key: str
    section: str
    option: str
    unit: str
    label: str
    needs: tuple[str, ...] = ("did",)
    generator_of: str = "crgan"  # whose main-run generator a point starts from (when it needs one)
    variant: str | None = None  # a CR-GAN generator's curve: the variant it trains
    #: whether its chain reads the source domain (TAUDL from its plain start trains and is tested on the
    #: target alone: one point per target serves every pair with that target)
    reads_source: bool = True
    #: the config sections its chain reads (a point reruns when one of them changes)
    sections: tuple[str, ...] = ("reid", "crgan", "finetune", "spgan", "taudl", "cluster_contrast", "data", "eval")
    #: a started method's curve: the method and the start its runs train from
    started: tuple[str, str] | None = None


def _started_curve(method: Method, start_key: str) -> BudgetCurve:
    """A started method's curve from one of its starts: from a network it needs that network (``did``:
    the source model; ``start``: the main run's network of another method) and reads the source, from
    its plain start it reads the target alone."""
    start = method.starts[start_key]
    from_network = start.kind == "network"
    needs = () if not from_network else ("did",) if start.method == "reid" else ("start",)
    return BudgetCurve(method.start_curves[start_key], method.key, method.length_option, method.length_option,
                       start.label, needs=needs, reads_source=from_network,
                       sections=tuple(dict.fromkeys((*BudgetCurve.sections, *method.sections))),
                       started=(method.key, start_key))


CURVES = {curve.key: curve for curve in (
    BudgetCurve("reid", "reid", "epochs", "epochs", "Re-id (source model)", needs=(), sections=("reid", "data", "eval")),
    # CR-GAN's G and each ablation's, each on its own curve (one option, crgan.iterations, for all of them)
    *(BudgetCurve(METHODS["crgan"].generator_curve(key), "crgan", "iterations", "iterations",
                  f"{METHODS['crgan'].label if key == 'crgan' else variant.label}'s G", variant=key)
      for key, variant in METHODS["crgan"].variants.items()),
    # the fine-tuning (one option, finetune.iterations) on each method's own images: its plateau is the
    # largest of the three curves'
    BudgetCurve("finetune", "finetune", "iterations", "iterations",
                f"Fine-tuning Did on {METHODS['crgan'].label}'s renderings", needs=("did", "generator")),
    BudgetCurve("finetune_paste", "finetune", "iterations", "iterations",
                f"Fine-tuning Did on {METHODS['paste'].label}'s composites"),
    BudgetCurve("finetune_spgan", "finetune", "iterations", "iterations",
                f"Fine-tuning Did on {METHODS['spgan'].label}'s translations", needs=("did", "generator"),
                generator_of="spgan"),
    BudgetCurve("spgan", "spgan", "iterations", "iterations", METHODS["spgan"].label),
    # a started method's curves: its trainer from each start that trains, at its own length option
    *(_started_curve(m, start) for m in METHODS.values() for start in m.start_curves),
)}


def read_plateaus(path: str | Path = PLATEAU_FILE) -> dict[str, int]:
    """The measured plateau budget of each curve (``results/plateaus.json``, written beside the curves
    by ``snakemake results/budget_curves.csv``); empty where none was measured."""
    return {curve: int(entry["budget"]) for curve, entry in _measured(path).items()}


def read_still_rising(path: str | Path = PLATEAU_FILE) -> dict[str, int]:
    """The curves whose plateau is their largest measured budget (``at_edge``: they may still rise
    beyond it), each with that budget; empty where none was measured."""
    return {curve: int(entry["largest_measured"]) for curve, entry in _measured(path).items() if entry["at_edge"]}


def _measured(path: str | Path) -> dict[str, Any]:
    """The plateau file's entries by curve; empty where none was written."""
    path = Path(path)
    return read_json(path)["plateaus"] if path.is_file() else {}


def budget_status(cfg: dict[str, Any], plateaus: Mapping[str, int],
                  still_rising: Mapping[str, int] | None = None) -> dict[str, dict[str, Any]]:
    """Each curve of a configured section: its config key, configured budget, measured plateau
    (``None``: not measured) and, for a curve still rising at its largest measured budget, that budget
    (``still_rising``). What tables and claims mark their rows with (a rule parameter, so a changed
    plateau or budget reruns them)."""
    still_rising = still_rising or {}
    return {key: {"key": f"{curve.section}.{curve.option}", "configured": cfg[curve.section][curve.option],
                  "plateau": plateaus.get(key), "still_rising": still_rising.get(key)}
            for key, curve in CURVES.items() if curve.section in cfg}


def budget_notes(curves: Iterable[str], status: dict[str, dict[str, Any]] | None) -> list[str]:
    """A row's notes on the budgets its runs were trained with (``curves``): those below their measured
    plateau (``<config key> <configured> < <plateau>``), those at or above a plateau that is their curve's
    largest budget (still rising there: ``<config key> at <budget>``) and those whose plateau was not
    measured; none without a status (a table built outside the workflow)."""
    if status is None:
        return []
    below, rising, unmeasured = [], [], []
    for curve in curves:
        entry = status.get(curve)
        if entry is None:
            continue
        if entry["plateau"] is None:
            unmeasured.append(entry["key"])
        elif entry["configured"] < entry["plateau"]:
            below.append(f"{entry['key']} {entry['configured']} < {entry['plateau']}")
        elif entry.get("still_rising"):
            rising.append(f"{entry['key']} at {entry['still_rising']}")
    # each note once: a curve may repeat, and curves of one option (the fine-tunings) share its key
    notes = (("below plateau", below), ("curve still rising at its largest budget", rising),
             ("plateau not measured", unmeasured))
    return [f"{what}: {', '.join(dict.fromkeys(keys))}" for what, keys in notes if keys]
