"""Config: defaults and presets validate; typos, wrong types and bad values fail with the key named."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_snakemake, smoke_workdir
from hypothesis import given, settings
from hypothesis import strategies as st

from crgan import config
from crgan.errors import ConfigError


def default_cfg() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


@pytest.mark.parametrize("preset", [None, "smoke.yaml", "paper.yaml", "seeds3.yaml", "verdicts.yaml", "rehearsal.yaml"])
def test_default_and_presets_validate(preset):
    files = [REPO / "config.yaml"] + ([REPO / "presets" / preset] if preset else [])
    cfg = config.load(files)
    assert cfg["eval"]["max_rank"] == 50  # defaults are filled in


@pytest.mark.parametrize("edit, expected", [
    (lambda c: c["reid"].update(epoch=3), r"unknown config key 'reid.epoch'.*did you mean 'epochs'"),
    (lambda c: c.update(seed=[1]), r"unknown config key 'seed'.*did you mean 'seeds'"),
    (lambda c: c["reid"].update(epochs="ten"), r"'reid.epochs'.*not of type 'integer'"),
    (lambda c: c["synthetic"].update(height=-64), r"'synthetic.height'.*minimum"),
    (lambda c: c["masks"].update(method="magic"), r"'masks.method'"),
    (lambda c: c.update(pairs=[["market1501", "market1501"]]), r"'pairs'.*two different domains"),
    (lambda c: c["data"].update(source="real"), r"'data.roots' has no folder"),
    (lambda c: c["data"].update(source="real", roots={"market1501": "/m", "dukemtmc": "/d"}),
     r"'data.roots' has no folder for cuhk03 .*'cuhk03_pairs'"),
    (lambda c: c.update(cuhk03_pairs=[["cuhk03", "cuhk03"]]), r"'cuhk03_pairs'.*two different domains"),
    (lambda c: c["spgan"].update(sianet={"blocks": 9}), r"'spgan.sianet.blocks'"),
    (lambda c: c["taudl"].update(lambda_ccta=1.5), r"'taudl.lambda_ccta'"),
    (lambda c: c["crgan"].update(lr=float("nan")), r"'crgan.lr': nan is not a finite number"),
    (lambda c: c["crgan"]["loss_weights"].update(id=float("inf")), r"'crgan.loss_weights.id': inf is not a finite"),
    (lambda c: c["gap_sweep"]["knobs"].update(occlusion=[0.0, float("-inf")]),
     r"'gap_sweep.knobs.occlusion.1': -inf is not a finite"),
    (lambda c: c["synthetic"].update(context_gap=0.6), r"context_gap"),
    (lambda c: c["synthetic"].update(style_gap=1.5), r"'synthetic.style_gap'"),
    (lambda c: c["synthetic"].update(images_per_camera=[3, 1]), r"'synthetic.images_per_camera': \[3, 1\].*least"),
    (lambda c: c["crgan"].update(batch_size=100000), r"'crgan.batch_size': 100000 is larger than the training split"),
    (lambda c: c["reid"].update(batch_size=1501), r"'reid.batch_size': 1501 .* of cuhk03 \(at most 1500 images\)"),
    (lambda c: c["budget_curves"]["budgets"].update(reid=[16, 8, 32]), r"'budget_curves.budgets.reid'.*increasing"),
])
def test_bad_values_name_the_key(edit, expected):
    cfg = default_cfg()
    edit(cfg)
    with pytest.raises(ConfigError, match=expected):
        config.validate(cfg)


def test_sections_validate_alone():
    part = config.validate_sections({"reid": default_cfg()["reid"]})
    assert part["reid"]["arch"] == "compact"
    assert (part["device"], part["precision"], part["deterministic"]) == ("auto", "auto", True)  # run-wide defaults
    with pytest.raises(ConfigError, match="reid.lr"):
        config.validate_sections({"reid": {**default_cfg()["reid"], "lr": 0}})
    with pytest.raises(ConfigError, match="'crgan.lr': nan is not a finite number"):  # as `crgan validate-config`
        config.validate_sections({"crgan": {**default_cfg()["crgan"], "lr": float("nan")}})


def test_cli_typo_is_one_line(tmp_path: Path):
    bad = tmp_path / "typo.yaml"
    bad.write_text("reid:\n  epcohs: 3\n")
    proc = subprocess.run([sys.executable, "-m", "crgan.cli", "validate-config", "--config", str(REPO / "config.yaml"),
                           "--config", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "reid.epcohs" in lines[0] and "epochs" in lines[0], proc.stderr


def test_workflow_rejects_typo_before_any_job(tmp_path: Path):
    work = smoke_workdir(tmp_path)
    (work / "typo.yaml").write_text("eval:\n  lmp_part: 4\n")
    proc = run_snakemake(work, "-n", "--cores", "1", "--configfile", "typo.yaml")
    assert proc.returncode != 0
    assert "crgan: config error: unknown config key 'eval.lmp_part'" in proc.stderr + proc.stdout
    assert not (work / "results").exists()


def leaf_paths(node, prefix=()):
    """Every (key or index) path to a scalar or empty container in a config tree."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else None
    if not items:
        yield prefix
        return
    for key, value in items:
        yield from leaf_paths(value, (*prefix, key))


ANY_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
                      st.text(max_size=4), st.lists(st.integers(-3, 3), max_size=2), st.just({"x": 1}))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(data=st.data())
def test_property_any_single_value_validates_or_names_its_key(data):
    """Replace one value of the default config by anything: it validates, or raises ConfigError
    naming the key's top-level section; never another exception."""
    cfg = default_cfg()
    path = data.draw(st.sampled_from(list(leaf_paths(cfg))))
    parent = cfg
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = data.draw(ANY_VALUE)
    try:
        config.validate(cfg)
    except ConfigError as exc:
        assert str(path[0]) in str(exc), (path, str(exc))


@pytest.mark.parametrize("arch", ["compact", "resnet18", "resnet50"])
@pytest.mark.parametrize("last_stride", [1, 2])
def test_feature_map_rows_match_the_networks(arch, last_stride):
    """The torch-free stride arithmetic the config check uses equals the backbones' real output."""
    import torch

    from crgan.config import feature_map_rows
    from crgan.models.reid import build_backbone

    backbone, _ = build_backbone({"arch": arch, "width": 4, "last_stride": last_stride}, init_weights=False)
    for height in (16, 30, 64, 65, 256):
        rows = backbone.eval()(torch.zeros(1, 3, height, 32)).shape[2]
        assert rows == feature_map_rows({"arch": arch, "last_stride": last_stride}, height), height


@pytest.mark.parametrize("overlay, message", [
    ({"eval": {"lmp_parts": 9}}, r"'eval.lmp_parts': 9 stripes, but the compact feature map of 64-pixel-high images "
                                 r"has 8 rows"),
    ({"crgan": {"generator": {"depth": 6}}}, r"'crgan.generator.depth': 6 downsamplings need data.height and "
                                             r"data.width divisible by 64, got 64x32"),
    ({"spgan": {"generator": {"downsamples": 4}}, "data": {"width": 40}},
     r"'spgan.generator.downsamples': 4 need .* divisible by 16, got 64x40"),
    ({"spgan": {"sianet": {"blocks": 3}}}, r"'spgan.sianet.blocks': 3 blocks need images of at least 64x64 pixels"),
])
def test_network_geometry_is_checked_before_any_job(overlay, message):
    with pytest.raises(ConfigError, match=message):
        config.validate(config.deep_merge(config.load([REPO / "config.yaml"]), overlay))


def test_every_job_that_runs_networks_gets_the_run_wide_settings():
    """A rule that runs a crgan command on the device passes device, precision and deterministic
    (through device_cfg), so setting them reaches the job and changing them reruns it."""
    for path in sorted((REPO / "rules").glob("*.smk")):
        text = path.read_text()
        assert '"device")' not in text, f"{path.name}: pass device settings with device_cfg(...)"
        for command in ("train-", "finetune", "eval-", "adapt-bn", "translate", "budget-point", "quality"):
            for block in text.split("\nrule ")[1:]:
                if f"crgan {command}" in block:
                    assert "device_cfg(" in block, f"{path.name}: rule {block.split(':')[0]} runs crgan {command}"


def test_a_method_declares_its_own_options_in_its_registry_entry(monkeypatch):
    """A new method's config section comes from its registry entry: defaults filled, bad values refused."""
    from dataclasses import replace

    from crgan.methods import METHODS

    mmt = replace(METHODS["cluster_contrast"], key="mmt", label="MMT-like", options={
        "epochs": {"type": "integer", "minimum": 1, "default": 4}, "alpha": {"type": "number", "default": 0.999}})
    monkeypatch.setattr(config, "METHODS", {**METHODS, "mmt": mmt})
    config.schema.cache_clear()  # the schema is read once per process
    monkeypatch.setattr(config, "schema", config.schema.__wrapped__)  # and this test's is not kept
    defaults = config.load([REPO / "config.yaml"])
    assert defaults["mmt"] == {"epochs": 4, "alpha": 0.999}
    with pytest.raises(ConfigError, match=r"config key 'mmt.epochs': 0 is less than the minimum of 1"):
        config.validate({**defaults, "mmt": {"epochs": 0}})
    with pytest.raises(ConfigError, match=r"unknown config key 'mmt.beta'"):
        config.validate({**defaults, "mmt": {"beta": 1}})
    curves = {**defaults["budget_curves"], "budgets": {**defaults["budget_curves"]["budgets"], "mmt": [2, 4]}}
    assert config.validate({**defaults, "budget_curves": curves})["budget_curves"]["budgets"]["mmt"] == [2, 4]
