# Shared names and helpers for all rules.
import json
import shlex

SEEDS = config["seeds"]
PAIRS = [tuple(pair) for pair in config["pairs"]]
DOMAINS = sorted({domain for pair in PAIRS for domain in pair})
SYNTHETIC = config["data"]["source"] == "synthetic"
THREADS = config["threads"]


wildcard_constraints:
    domain="market1501|dukemtmc|cuhk03",
    model_domain="market1501|dukemtmc|cuhk03",
    test_domain="market1501|dukemtmc|cuhk03",
    seed=r"\d+",


def cfg(*sections):
    """The config sections a rule depends on, as a shell-quoted JSON argument.

    Passed as a param, so changing a section reruns exactly the rules that use it.
    """
    return shlex.quote(json.dumps({key: config[key] for key in sections}, sort_keys=True))


def dataset_input(wildcards):
    """The synthetic domain folder (built by rule synth); real data roots live outside the DAG."""
    return [f"{config['data']['synthetic_root']}/{wildcards.domain}"] if SYNTHETIC else []
