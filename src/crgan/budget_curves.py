"""Budget curves (``results/budget_curves.csv``): each method trained at several budgets, each a full
schedule at that budget, and tested on the validation split of the domain its table rows are tested on.

A **curve** is one budget knob of the config (``reid.epochs``, ``crgan.iterations``,
``finetune.iterations``, ``spgan.iterations``, ``taudl.iterations``, ``cluster_contrast.epochs``) and
the chain of steps that turns it into a network: the point's budget is set, every other setting stays
as configured, and the networks the chain starts from (the source model, CR-GAN's G for the
fine-tuning curve) are the main run's. A **point** is one curve, pair, budget and seed; it runs its
chain in one job, writing its networks and ``validation.json`` into its own folder, each step resuming
where it stopped. The plateau rule (:mod:`crgan.budgets`) reads the curves; validation records never
reach a table or a claim.
"""
from __future__ import annotations

import copy
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crgan.budgets import CURVES, POINT_FILE, method_budget, plateau, plateau_overlay, set_budget
from crgan.io import atomic_file, read_json, read_rows, write_csv, write_json
from crgan.methods import METHODS, training_log
from crgan.records import EvaluationRecord

if TYPE_CHECKING:
    import torch

COLUMNS = ["curve", "label", "source", "target", "budget", "unit", "rank1", "rank1_std", "map", "map_std", "seeds",
           "configured", "plateau", "method_budget", "configured_at_plateau", "source_rank1", "train_accuracy"]


def point_config(cfg: dict[str, Any], curve: str, budget: int, precision: str | None = None) -> dict[str, Any]:
    """The config of one point: the curve's budget set (and, given, its own trainer's ``precision``:
    the precision check), everything else as configured (a step schedule, as Cluster Contrast's lr
    step, keeps its share of the training length)."""
    spec, out = CURVES[curve], copy.deepcopy(cfg)
    set_budget(out[spec.section], spec.option, budget)
    if precision is not None:
        out[spec.section]["precision"] = precision
    return out


def curve_pairs(cfg: dict[str, Any], curve: str) -> list[tuple[str, str]]:
    """The pairs a curve is measured on: both Market/Duke pairs, and (``budget_curves.cuhk03_pairs``)
    each CUHK03 pair on which Table 7 computes a method whose budget the curve sets, so a Table 7 row
    is marked against its own pair's plateau, not Market's or Duke's. A curve whose chain never reads the
    source (TAUDL from its plain start) is measured once per target, on the first of those pairs: its
    points on two pairs with one target would train and test the same network twice."""
    from crgan.plan import computed_runs

    pairs = [tuple(pair) for pair in cfg["pairs"]]
    if cfg["budget_curves"].get("cuhk03_pairs", True):
        pairs += [(source, target) for source, target in cfg.get("cuhk03_pairs", [])
                  if any(curve in run.own_budgets for run in computed_runs(7, source, target))]
    if not CURVES[curve].reads_source:
        first: dict[str, tuple[str, str]] = {}
        for source, target in pairs:
            first.setdefault(target, (source, target))
        return list(first.values())
    return pairs


def points(cfg: dict[str, Any], only: str | None = None) -> list[str]:
    """Every point's validation file the configured curves (or curve ``only``) ask for (each curve's
    pairs, the seeds)."""
    seeds = cfg["budget_curves"]["seeds"] or cfg["seeds"]
    return [POINT_FILE.format(curve=curve, source=source, target=target, budget=budget, seed=seed)
            for curve, budgets in cfg["budget_curves"]["budgets"].items() if only in (None, curve)
            for source, target in curve_pairs(cfg, curve) for budget in budgets for seed in seeds]


def _evaluate(network: Path, index: dict, cfg: dict[str, Any], seed: int, device: torch.device) -> EvaluationRecord:
    from crgan.eval.reid import evaluate_file

    return evaluate_file(network, index, cfg, seed, device, split="validation")


def _once(path: Path, make: Callable[[], Any], seed: int, deterministic: bool) -> float | None:
    """``make()`` unless ``path`` exists (a finished step of a point that is being rerun), seeded as
    the workflow seeds each step's process, so a step makes what its own job would; its seconds
    (None: made, or begun, by an earlier attempt, whose checkpoint it resumed from)."""
    if path.is_file():
        return None
    import torch

    from crgan import runtime
    from crgan.train.loop import checkpoint_file

    resumed = checkpoint_file(path).is_file()
    runtime.setup(torch.get_num_threads(), seed, deterministic)
    start = time.perf_counter()
    make()
    return None if resumed else time.perf_counter() - start


def final_training_accuracy(network: Path) -> float:
    """A re-id network's training accuracy on augmented batches in its last epoch (its training log)."""
    return float(read_rows(training_log(network))[-1]["train_acc"])


@dataclass
class PointChain:
    """The steps of one point's chain, each a main-run trainer entry point writing into the point's
    ``folder`` and skipped where its output exists; ``seconds`` keeps each trainer's own time by config
    section (none for a trainer resumed from a checkpoint)."""

    cfg: dict[str, Any]  # the point's config (its budget set)
    seed: int
    indexes: tuple[dict, dict]
    masks: tuple[Path, Path]
    folder: Path
    device: torch.device
    did: Path | None = None
    generator: Path | None = None
    start: Path | None = None  # a started curve's start network from another method's main run
    seconds: dict[str, float] = field(default_factory=dict)

    def once(self, path: Path, make: Callable[[], Any], section: str | None = None) -> Path:
        """``path``, made by ``make`` (the trainer of config ``section``, whose seconds are kept) unless it exists."""
        took = _once(path, make, self.seed, self.cfg.get("deterministic", True))  # a hand-made config may lack it
        if section is not None and took is not None:
            self.seconds[section] = round(took, 2)
        return path

    def source_model(self) -> tuple[torch.nn.Module, dict[str, Any]]:
        from crgan.models.store import load_network

        return load_network(self.did, self.device)

    def reid(self) -> Path:
        from crgan.train import reid

        out = self.folder / "model.pt"
        return self.once(out, lambda: reid.train_reid(self.indexes[0], self.cfg, self.seed, out, self.device), "reid")

    def generator_of(self, variant: str) -> Path:
        """CR-GAN's G (or an ablation's) trained at the point's budget."""
        from crgan.train import crgan

        out = self.folder / "G.pt"
        return self.once(out, lambda: crgan.train_generator(*self.indexes, self.masks, self.source_model()[0], self.cfg,
                                                            variant, self.seed, out, self.device), "crgan")

    def finetuned_on_renderings(self, generator: Path) -> Path:
        from crgan.train import finetune

        out = self.folder / "reid.pt"
        return self.once(out, lambda: finetune.finetune_on_rendered(
            *self.source_model(), generator, *self.indexes, self.masks, self.cfg, self.seed, out, self.device), "finetune")

    def finetuned_on_composites(self) -> Path:
        from crgan.train import finetune

        out = self.folder / "reid.pt"
        return self.once(out, lambda: finetune.finetune_on_pasted(
            *self.source_model(), *self.indexes, self.masks, self.cfg, self.seed, out, self.device), "finetune")

    def spgan(self) -> Path:
        from crgan.train import spgan

        out = self.folder / "G.pt"
        return self.once(out, lambda: spgan.train_spgan(*self.indexes, self.cfg, self.seed, out, self.device), "spgan")

    def finetuned_on_translations(self, generator: Path) -> Path:
        from crgan.train import finetune, spgan

        translated, out = self.folder / "translated", self.folder / "reid.pt"
        self.once(translated / "index.json",
                  lambda: spgan.translate_split(generator, self.indexes[0], self.cfg, translated, self.device))
        return self.once(out, lambda: finetune.finetune_on_translated(
            *self.source_model(), read_json(translated / "index.json"), self.cfg, self.seed, out, self.device),
            "finetune")

    def started(self, curve: str) -> Path:
        """A started method's trainer from its curve's start: plain, the source model (``did``) or another
        method's main-run network (``start``)."""
        key, start_key = CURVES[curve].started
        method, out, start = METHODS[key], self.folder / "model.pt", METHODS[key].starts[start_key]
        init = None if start.kind != "network" else self.did if start.method == "reid" else self.start
        return self.once(out, lambda: method.train_function()(self.indexes[1], self.cfg, self.seed, out, self.device,
                                                               init), CURVES[curve].section)

    def network(self, curve: str) -> Path:
        """The network curve ``curve``'s chain ends in."""
        spec = CURVES[curve]
        if curve == "reid":
            return self.reid()
        if spec.variant:  # CR-GAN's G or an ablation's
            return self.finetuned_on_renderings(self.generator_of(spec.variant))
        chains: dict[str, Callable[[], Path]] = {
            "finetune": lambda: self.finetuned_on_renderings(self.generator),
            "finetune_paste": self.finetuned_on_composites,
            "spgan": lambda: self.finetuned_on_translations(self.spgan()),
            "finetune_spgan": lambda: self.finetuned_on_translations(self.generator),
        }
        return chains[curve]() if curve in chains else self.started(curve)


def run_point(curve: str, budget: int, cfg: dict[str, Any], seed: int, indexes: tuple[dict, dict],
              masks: tuple[Path, Path], out: Path, device: torch.device, did: Path | None = None,
              generator: Path | None = None, precision: str | None = None, start: Path | None = None) -> dict[str, Any]:
    """Train one point's chain at ``budget`` (the curve's own trainer in ``precision`` where given)
    and test its network on the target's validation split (the re-id curve also on the source's);
    writes and returns ``validation.json``'s content, with each trainer's seconds by config section."""
    spec = CURVES[curve]
    missing = [need for need, given in (("did", did), ("generator", generator), ("start", start))
               if need in spec.needs and given is None]
    if missing:
        raise ValueError(f"the {curve} curve needs {' and '.join(missing)} from the main run")
    out.parent.mkdir(parents=True, exist_ok=True)
    point_cfg = point_config(cfg, curve, budget, precision)
    chain = PointChain(point_cfg, seed, indexes, masks, out.parent, device, did, generator, start)
    network = chain.network(curve)
    result = {**point_result(curve, budget, network, indexes, point_cfg, seed, device), "train_seconds": chain.seconds,
              "precision": precision}
    write_json(out, result)
    return result


def point_result(curve: str, budget: int, network: Path, indexes: tuple[dict, dict], cfg: dict[str, Any], seed: int,
                 device: torch.device) -> dict[str, Any]:
    """A point's ``validation.json``: its network on the target's validation split (a re-id point also
    on the source's where the source has one, with its last epoch's training accuracy)."""
    source, target = indexes
    record = _evaluate(network, target, cfg, seed, device)
    result = {"curve": curve, "source": source["domain"], "target": target["domain"], "budget": int(budget),
              "seed": seed, "rank1": record.metrics["gap"]["rank1"], "map": record.metrics["gap"]["map"],
              "source_rank1": None, "record": record.to_dict()}
    if curve == "reid":
        if source["splits"].get("val_query"):  # CUHK03 has no validation split: no in-domain reading
            result["source_rank1"] = _evaluate(network, source, cfg, seed, device).metrics["gap"]["rank1"]
        result["train_accuracy"] = final_training_accuracy(network)
    return result


def curve_rows(results: Iterable[dict[str, Any]], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per curve, pair and budget: validation rank-1 and mAP (mean, std over seeds), the
    configured budget, the pair's plateau budget, the method's (the larger over its pairs) and whether
    the configured budget reaches it."""
    grouped: dict[tuple[str, str, str], dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for result in results:
        grouped[(result["curve"], result["source"], result["target"])][result["budget"]].append(result)
    rank1 = {key: {budget: [r["rank1"] for r in rs] for budget, rs in by_budget.items()}
             for key, by_budget in grouped.items()}
    method_budgets = {curve: method_budget({(s, t): values for (c, s, t), values in rank1.items() if c == curve})
                      for curve in {c for c, _, _ in rank1}}

    def mean_std(values: list[float]) -> tuple[str, str]:
        return f"{statistics.fmean(values):.2f}", f"{statistics.stdev(values):.2f}" if len(values) > 1 else ""

    rows = []
    for (curve, source, target), by_budget in sorted(grouped.items()):
        spec, curve_rank1 = CURVES[curve], rank1[(curve, source, target)]
        configured, chosen = cfg[spec.section][spec.option], method_budgets[curve]
        for budget, rs in sorted(by_budget.items()):
            (rank1_mean, rank1_std), (map_mean, map_std) = mean_std(curve_rank1[budget]), mean_std([r["map"] for r in rs])
            sources = [r["source_rank1"] for r in rs if r["source_rank1"] is not None]
            accuracies = [r["train_accuracy"] for r in rs if r.get("train_accuracy") is not None]
            rows.append({
                "curve": curve, "label": spec.label, "source": source, "target": target, "budget": budget,
                "unit": spec.unit, "rank1": rank1_mean, "rank1_std": rank1_std, "map": map_mean, "map_std": map_std,
                "seeds": len(rs), "configured": configured, "plateau": plateau(curve_rank1).budget,
                "method_budget": chosen, "configured_at_plateau": "yes" if configured >= chosen else "below plateau",
                "source_rank1": mean_std(sources)[0] if sources else "",
                "train_accuracy": f"{statistics.fmean(accuracies):.3f}" if accuracies else ""})
    return rows


def plateau_file(rows: list[dict[str, Any]], ceiling: int) -> dict[str, Any]:
    """What the main run reads: per curve, the method's plateau budget by the rule, each pair's, whether
    the plateau is the largest budget measured (``at_edge``: the curve may still rise beyond it), and
    the budget to measure next (``extend_to``: one doubling, while it stays within ``ceiling`` times the
    configured budget; null at a plateau or at the ceiling)."""
    plateaus: dict[str, Any] = {}
    for row in rows:
        entry = plateaus.setdefault(row["curve"], {"budget": row["method_budget"], "unit": row["unit"], "pairs": {},
                                                   "largest_measured": 0, "at_edge": False,
                                                   "ceiling": ceiling * row["configured"], "extend_to": None})
        entry["pairs"][f"{row['source']}->{row['target']}"] = row["plateau"]
        entry["largest_measured"] = max(entry["largest_measured"], row["budget"])
    for entry in plateaus.values():
        entry["at_edge"] = entry["budget"] == entry["largest_measured"]
        if entry["at_edge"] and 2 * entry["largest_measured"] <= entry["ceiling"]:
            entry["extend_to"] = 2 * entry["largest_measured"]
    return {"plateaus": plateaus, "rule": "crgan.budgets.plateau (docs/assumptions.md, 'Training budgets')"}


def edge_advice(measured: dict[str, Any]) -> list[str]:
    """One line per curve still rising at its largest budget: the doubling to add, or that it stops at
    the ceiling (its rows stay marked as still rising)."""
    lines = []
    for curve, entry in sorted(measured["plateaus"].items()):
        if not entry["at_edge"]:
            continue
        largest = f"{curve} still rises at its largest budget, {entry['largest_measured']} {entry['unit']}"
        lines.append(f"{largest}: add {entry['extend_to']} to budget_curves.budgets.{curve} and rerun"
                     if entry["extend_to"] else
                     f"{largest}, the ceiling ({entry['ceiling']}): its rows say it is still rising")
    return lines


def write_overlay(path: str | Path, overlay: dict[str, dict[str, int]]) -> None:
    """Write the plateau budgets' config overlay (:func:`crgan.budgets.plateau_overlay`) atomically."""
    import yaml

    with atomic_file(path) as temporary:
        temporary.write_text("# Every measured budget at its plateau (crgan.budgets.plateau_overlay), written with\n"
                             "# results/budget_curves.csv: snakemake --configfile <preset> results/plateau_budgets.yaml\n"
                             + yaml.safe_dump(overlay, sort_keys=True))


def write_curves(paths: Iterable[str | Path], cfg: dict[str, Any], out: str | Path,
                 plateaus: str | Path | None = None, overlay: str | Path | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Read every point's ``validation.json`` and write the curves CSV (and the plateau file, and the
    overlay that trains at the plateaus) atomically; return the rows and the advice on curves still
    rising (:func:`edge_advice`)."""
    rows = curve_rows([read_json(path) for path in paths], cfg)
    write_csv(out, COLUMNS, rows)
    measured = plateau_file(rows, cfg["budget_curves"]["ceiling"])
    if plateaus is not None:
        write_json(plateaus, measured)
    if overlay is not None:
        write_overlay(overlay, plateau_overlay(cfg, {key: entry["budget"] for key, entry in measured["plateaus"].items()}))
    return rows, edge_advice(measured)
