"""Conda environments and cluster profiles agree with the project: same packages and ranges as
pyproject.toml, a conda env for every rule that runs a command, and a Slurm profile that only
names rules that exist."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
import yaml
from conftest import REPO

from crgan.methods import METHODS

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
ENVS = sorted((REPO / "envs").glob("*.yaml"))


def rules() -> dict[str, str]:
    """Rule name -> its text, for every rule in rules/*.smk; a ``use rule A as B with:`` rule's text
    is A's followed by what it overrides; a rule made in a loop over the method registry is one rule per
    value its name takes, each with the loop's text: ``name: f"eval_{method}"`` one per method but reid,
    ``name: f"adapt_bn_{method.adapts}"`` one per method an AdaBN control adapts, ``name:
    f"train_{method.key}"`` one per started method."""
    names = {"method": [key for key in METHODS if key != "reid"],
             "method.adapts": [m.adapts for m in METHODS.values() if m.adapts],
             "method.key": [m.key for m in METHODS.values() if m.starts]}
    out, derived = {}, {}
    for path in sorted((REPO / "rules").glob("*.smk")):
        text = path.read_text()
        for prefix, variable, body in re.findall(
                r'^    rule:\n        name:\n            f"(\w+)\{([\w.]+)\}"\n((?:        .*\n|\n)*)', text, flags=re.M):
            out.update({f"{prefix}{value}": body for value in names[variable]})
        parts = re.split(r"^(?:use )?rule (\w+)(?: as (\w+) with)?:\n", text, flags=re.M)
        for base, name, text in zip(parts[1::3], parts[2::3], parts[3::3]):
            if name:
                derived[name] = (base, text)
            else:
                out[base] = text
    out.update({name: out[base] + text for name, (base, text) in derived.items()})
    return out


def requirement(spec: str) -> tuple[str, str]:
    """('name', 'range') of a requirement such as 'torch>=2.11' (markers dropped, names normalised)."""
    name, rng = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*([^;]*)", spec).groups()
    return name.lower().replace("_", "-"), rng.strip()


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.name)
def test_conda_env_pins_what_pyproject_pins(env: Path):
    spec = yaml.safe_load(env.read_text())
    deps = spec["dependencies"]
    project = dict(map(requirement, PYPROJECT["project"]["dependencies"]))
    conda = [d for d in deps if isinstance(d, str)]
    pip = next((d["pip"] for d in deps if isinstance(d, dict)), [])
    assert requirement(next(d for d in conda if d.startswith("python")))[1] == PYPROJECT["project"]["requires-python"]
    for dep in conda + pip:
        if dep.startswith(("python", "pip")) and requirement(dep)[0] in ("python", "pip"):
            continue
        if dep == "-e ..":  # the project itself, with exactly pyproject's ranges
            continue
        name, rng = requirement(dep)
        assert project.get(name) == rng, f"{env.name}: {dep} differs from pyproject.toml ({name}{project.get(name)})"
    assert "-e .." in pip, f"{env.name} must install the project (pip: -e ..)"


def test_every_rule_that_runs_a_command_names_a_conda_env():
    for name, text in rules().items():
        if "shell:" not in text:
            continue
        env = re.search(r'conda:\n\s+"([^"]+)"', text)
        assert env, f"rule {name} has no conda: directive"
        assert (REPO / "rules" / env.group(1)).resolve().is_file(), f"rule {name}: {env.group(1)} does not exist"


def test_slurm_profile_names_existing_rules_and_the_plugin_is_an_extra():
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert set(profile["set-resources"]) <= set(rules()), set(profile["set-resources"]) - set(rules())
    assert all({"mem_mb", "runtime"} <= set(r) for r in profile["set-resources"].values())
    assert any(d.startswith("snakemake-executor-plugin-slurm") for d in PYPROJECT["project"]["optional-dependencies"]["slurm"])


def test_every_job_rule_asks_for_its_gpus():
    for name, text in rules().items():
        gathers = ("synth", "index", "table", "claims", "report", "gap_sweep", "budget_curves", "budget_curve",
                   "calibration", "precision_check", "power_table")  # rules that run no network
        if "shell:" in text and name not in gathers:
            assert re.search(r'gpu=(GPUS\["(train|eval)"\]|ONE_GPU)', text), f"rule {name} has no gpu resource"
