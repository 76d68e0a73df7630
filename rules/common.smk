# Shared names and helpers for all rules. Methods (crgan.methods), run identities and their paths
# (crgan.runs) and the tables' rows (crgan.plan) live in the package; the rules only read them.
import json
import os
import shlex
import sys
from pathlib import Path

from snakemake.settings.types import DeploymentMethod

from crgan import budget_curves, budgets, gap_sweep, plan, precision_check, runs
from crgan.calibration import points as calibration_points
from crgan.config import RUN_WIDE
from crgan.methods import METHODS, loss_log, sample_grid, training_log

SEEDS = config["seeds"]
SYNTHETIC = config["data"]["source"] == "synthetic"
THREADS = config["threads"]
GPUS = config["gpus"]  # Snakemake's `gpu` resource per job kind (the Slurm profile requests them)
# Re-id, CR-GAN and SPGAN training run data-parallel on all of a job's GPUs (torchrun, one process
# per GPU); the other jobs use one GPU whatever gpus.train says.
TRAIN_LAUNCHER = f"torchrun --standalone --nproc_per_node {GPUS['train']} -m crgan.cli" if GPUS["train"] > 1 else "crgan"
ONE_GPU = min(GPUS["train"], 1)
RUN = {key: method.run_dir for key, method in METHODS.items()}  # each method's run folder, with wildcards
NETWORK = {key: method.network for key, method in METHODS.items()}  # the network file a run ends with
GENERATOR = {key: method.generator for key, method in METHODS.items() if method.generator}
INDEX = runs.index_file  # a domain's index file of a data draw: INDEX("{domain}", "{draw}")
MASKS = runs.masks_dir  # a domain's mask folder of a data draw
# Each curve's configured budget and measured plateau (results/plateaus.json, written by
# `snakemake results/budget_curves.csv`; none measured: rows say so). A parameter of the table and
# claims rules, not an input: a new plateau reruns them, and the main run never runs the curves.
BUDGET_STATUS = shlex.quote(
    json.dumps(
        budgets.budget_status(
            config, budgets.read_plateaus(budgets.PLATEAU_FILE), budgets.read_still_rising(budgets.PLATEAU_FILE)
        ),
        sort_keys=True,
    )
)


# Rules call the `crgan` command. Without --use-conda, use the one installed beside the Python that
# runs Snakemake, so `.venv/bin/snakemake` works without activating the environment first.
if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
    shell.prefix(f'export PATH="{Path(sys.executable).parent}:$PATH"; ')


wildcard_constraints:
    **runs.WILDCARDS,


def cfg(*sections):
    """The config sections a rule depends on, as a shell-quoted JSON argument.

    Passed as a param, so changing a section reruns exactly the rules that use it.
    """
    return shlex.quote(json.dumps({key: config[key] for key in sections}, sort_keys=True))


def device_cfg(*sections):
    """:func:`cfg` of ``sections`` and the run-wide settings (device, precision, determinism) of a
    job that runs networks."""
    return cfg(*sections, *RUN_WIDE)


def draw(wildcards):
    """The data draw of a job's seed bundle (its seed's for synthetic data, 0 for real data)."""
    return runs.draw_of(wildcards.seed, SYNTHETIC)


def index_of(domain):
    """Input function: the index of the domain in wildcard ``domain`` for the job's seed bundle."""
    return lambda wildcards: INDEX(getattr(wildcards, domain), draw(wildcards))


def pair_data(wildcards):
    """Both indexes and mask folders of a pair, for the job's seed bundle."""
    return {
        "source_index": INDEX(wildcards.source, draw(wildcards)),
        "target_index": INDEX(wildcards.target, draw(wildcards)),
        "source_masks": MASKS(wildcards.source, draw(wildcards)),
        "target_masks": MASKS(wildcards.target, draw(wildcards)),
    }


def dataset_input(wildcards):
    """The synthetic domain folder of a draw (built by rule synth); real data roots live outside the DAG."""
    return [runs.synthetic_dir(config["data"]["synthetic_root"], wildcards.domain, wildcards.draw)] if SYNTHETIC else []


def gan_inputs(wildcards):
    """What CR-GAN's training and fine-tuning read: both indexes and mask folders, and Did."""
    return {**pair_data(wildcards), "did": source_model(wildcards)}


def source_model(wildcards):
    """The source re-id model of a pair's seed (Did)."""
    return runs.Run.reid(wildcards.source, int(wildcards.seed)).network


def budget_point_inputs(wildcards):
    """What a budget point reads: both indexes and mask folders, the main run's source model (every
    curve but re-id's and a plain start's), the main run's generator its fine-tuning starts from
    (CR-GAN's or SPGAN's) and the main run's network a started curve begins from (CR-GAN+TAUDL's)."""
    curve = budgets.CURVES[wildcards.curve]
    needs = curve.needs
    inputs = pair_data(wildcards)
    if "did" in needs:
        inputs["did"] = source_model(wildcards)
    if "generator" in needs:
        inputs["generator"] = runs.Run.main(curve.generator_of, wildcards.source, wildcards.target, int(wildcards.seed)).generator
    if "start" in needs:
        method, start = curve.started
        start_method = METHODS[method].starts[start].method
        inputs["start"] = runs.Run.main(start_method, wildcards.source, wildcards.target, int(wildcards.seed)).network
    return inputs


def configured_budget(curve):
    """A curve's configured budget (its config key's value): where the precision check trains it."""
    spec = budgets.CURVES[curve]
    return config[spec.section][spec.option]


def budget_point_options(wildcards, input):
    """A budget point's --did, --generator and --start options (the networks it starts from)."""
    return " ".join(f"--{name} {input[name]}" for name in ("did", "generator", "start") if name in input.keys())


def adapted_network(method):
    """Input function of an AdaBN rule: the network it re-normalises (the source model, or the pair's
    CR-GAN fine-tuned network)."""

    def network(wildcards):
        if method.adapts == "reid":
            return source_model(wildcards)
        return runs.Run.crgan(wildcards.source, wildcards.target, seed=int(wildcards.seed)).network

    return network


def evaluation_log(method, folder):
    """A flat log or benchmark file name of a method's evaluation (one folder per rule, as every rule)."""
    after = Path(METHODS[method].eval_file).with_suffix("").parts[3:]  # what follows results/eval/<method>/
    return f"{folder}/eval_{method}/{'_'.join(after)}"


def start_network(method):
    """Input function of a TAUDL or Cluster Contrast rule: the network the run starts from (none for a
    plain or untrained start)."""

    def network(wildcards):
        start = runs.Run.from_wildcards(method, wildcards).start_run
        return [start.network] if start else []

    return network


def start_option(wildcards, input):
    """A started run's command-line start: --init FILE, --untrained, or nothing (the plain backbone)."""
    return f"--init {input.init}" if input.init else "--untrained" if wildcards.start == "untrained" else ""


def quality_inputs(wildcards):
    """Indexes, both mask folders (the source person's for LPIPS by region), the substitute feature network (the target's re-id model, used only
    when ImageNet weights are absent) and the method's generator (none for the data itself)."""
    seed = int(wildcards.seed)
    inputs = {**pair_data(wildcards), "substitute": runs.Run.reid(wildcards.target, seed).network}
    generator_run = runs.Quality(wildcards.method, wildcards.source, wildcards.target, seed).generator_run
    if generator_run is not None:
        inputs["generator"] = generator_run.generator
    return inputs


def all_table_inputs():
    """Every evaluation and image-quality result of every table."""
    return sorted({f for n in plan.TABLES for f in plan.table_inputs(n, config)})


def report_inputs(wildcards):
    """Every table and the claims, and the evaluations, training logs, grids and quality figures behind them."""
    inputs = {n: plan.table_inputs(n, config) for n in sorted(plan.TABLES)}
    files = {f for paths in inputs.values() for f in paths}
    evals = sorted(f for f in files if runs.Evaluation.from_path(f))
    quality = sorted(runs.Quality.from_path(f).figure for f in files if runs.Quality.from_path(f))
    logs = sorted({log for e in evals for log in runs.Evaluation.from_path(e).run.training_logs})
    return {
        "tables": [plan.TABLE_FILE.format(n=n) for n in inputs],
        "claims": plan.CLAIMS_FILE,
        "evals": evals,
        "figures": [f for f in logs if f.endswith(".png")] + quality,
        "curves": [f for f in logs if f.endswith(".csv")],
        # the ranked lists are the first seed's: its draw's images
        "indexes": sorted({INDEX(runs.Evaluation.from_path(e).test, runs.draw_of(SEEDS[0], SYNTHETIC)) for e in evals}),
        # the domain-gap sweep is its own target; the report shows it only when asked to (and then builds it)
        "gap_sweep": ["results/gap_sweep.csv"] if config["gap_sweep"]["in_report"] else [],
        "budget_curves": ["results/budget_curves.csv"] if config["budget_curves"]["in_report"] else [],
        "calibration": ["results/calibration.csv"] if config["calibration"]["in_report"] else [],
    }
