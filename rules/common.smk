# Shared names and helpers for all rules.
import json
import shlex
import sys
from pathlib import Path

from snakemake.settings.types import DeploymentMethod

SEEDS = config["seeds"]
PAIRS = [tuple(pair) for pair in config["pairs"]]  # Tables 2-6
CUHK03_PAIRS = [tuple(pair) for pair in config["cuhk03_pairs"]]  # Table 7
DOMAINS = sorted({domain for pair in PAIRS + CUHK03_PAIRS for domain in pair})
SYNTHETIC = config["data"]["source"] == "synthetic"
THREADS = config["threads"]
GPUS = config["gpus"]  # Snakemake's `gpu` resource per job kind (the Slurm profile requests them)
# Re-id, CR-GAN and SPGAN training run data-parallel on all of a job's GPUs (torchrun, one process
# per GPU); the other jobs use one GPU whatever gpus.train says.
TRAIN_PARALLEL = (f"torchrun --standalone --nproc_per_node {GPUS['train']} -m crgan.cli"
                  if GPUS["train"] > 1 else "crgan")
ONE_GPU = min(GPUS["train"], 1)


# Rules call the `crgan` command. Without --use-conda, use the one installed beside the Python that
# runs Snakemake, so `.venv/bin/snakemake` works without activating the environment first.
if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
    shell.prefix(f'export PATH="{Path(sys.executable).parent}:$PATH"; ')


DOMAIN_NAMES = "market1501|dukemtmc|cuhk03"


wildcard_constraints:
    domain=DOMAIN_NAMES,
    model_domain=DOMAIN_NAMES,
    test_domain=DOMAIN_NAMES,
    source=DOMAIN_NAMES,
    target=DOMAIN_NAMES,
    seed=r"\d+",


def cfg(*sections):
    """The config sections a rule depends on, as a shell-quoted JSON argument.

    Passed as a param, so changing a section reruns exactly the rules that use it.
    """
    return shlex.quote(json.dumps({key: config[key] for key in sections}, sort_keys=True))


def dataset_input(wildcards):
    """The synthetic domain folder (built by rule synth); real data roots live outside the DAG."""
    return [f"{config['data']['synthetic_root']}/{wildcards.domain}"] if SYNTHETIC else []


# Every evaluation rule runs the same command on a model file and a test index.
EVAL_SHELL = ("crgan eval-reid --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
              "--model {input.model} --index {input.index} --out {output} > {log} 2>&1")
