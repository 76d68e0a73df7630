"""The controls of Table 2: paste (no GAN) and AdaBN (target BatchNorm statistics, no labels)."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from conftest import CPU, save_network, weights_of

from crgan.data.datasets import records_of
from crgan.data.images import ReidImages
from crgan.models.generator import masked_target
from crgan.models.store import load_network
from crgan.runs import Run
from crgan.train.adabn import adapt_batch_norm
from crgan.train.finetune import finetune_on_pasted, paste

DID_ARCH = {"arch": "compact", "width": 4, "last_stride": 1}
# float32 whatever the CPU (precision auto would run the fine-tuning in bfloat16 where the CPU computes it:
# the learning margins below are set for one arithmetic; the bfloat16 path is checked on the real sizes)
CFG = {"precision": "float32", "data": {"height": 32, "width": 16, "workers": 0}, "eval": {"batch_size": 7},
       "finetune": {"iterations": 48, "batch_size": 8, "lr": 1e-2, "weight_decay": 5e-4, "label_smoothing": 0.1,
                    "real_fraction": 0.0, "checkpoint_every": 3}}


def test_paste_puts_the_source_person_on_the_masked_target_as_crgan_sees_it():
    """Rows 1-2 hold the source person, rows 2-3 the target's: the source person is kept, the target's
    context stays, and the target person's pixels the source does not cover are filled as in X'T."""
    xs, xt = torch.full((1, 3, 4, 2), 0.5), torch.full((1, 3, 4, 2), -0.5)
    ms, mt = torch.zeros(1, 1, 4, 2), torch.zeros(1, 1, 4, 2)
    ms[..., 1:3, :] = 1
    mt[..., 2:4, :] = 1
    out = paste(xs, ms, xt, mt)
    assert torch.equal(out[..., 1:3, :], xs[..., 1:3, :]) and torch.equal(out[..., 0, :], xt[..., 0, :])
    assert torch.equal(out[..., 3, :], masked_target(xt, mt)[..., 3, :]) and not out[..., 3, :].any()


def test_paste_finetuning_learns_and_keeps_the_source_classes(gan_inputs, tmp_path: Path):
    (src, tgt), masks, did = gan_inputs
    torch.manual_seed(0)
    did_info = load_network(save_network(tmp_path / "did.pt", did, src["domain"], DID_ARCH, src["train_ids"]), CPU)[1]
    info = finetune_on_pasted(did, did_info, src, tgt, masks, CFG, 0, tmp_path / "paste.pt", CPU)
    assert info.run == Run.of_pair("paste", src["domain"], tgt["domain"], 0) and info.classes == src["train_ids"]
    losses = [float(line.split(",")[1]) for line in (tmp_path / "paste.pt.log.csv").read_text().splitlines()[1:]]
    assert len(losses) == 48 and sum(losses[-8:]) / 8 < losses[0] - 0.15, losses  # it learns: well below chance (its start)
    assert load_network(tmp_path / "paste.pt", CPU)[1] == info


def test_adabn_moves_batchnorm_statistics_to_the_target_and_keeps_weights(gan_inputs, tmp_path: Path):
    (src, tgt), _, did = gan_inputs
    path = save_network(tmp_path / "did.pt", did, src["domain"], DID_ARCH, src["train_ids"])
    model, info = load_network(path, CPU)
    adapt_batch_norm(model, info, tgt, CFG, 0, tmp_path / "adabn.pt", CPU)
    adapted, adapted_info = load_network(tmp_path / "adabn.pt", CPU)
    before, after = weights_of(path), weights_of(tmp_path / "adabn.pt")
    for name, value in before.items():
        if "running" in name or "num_batches" in name:
            continue
        torch.testing.assert_close(after[name], value, rtol=0, atol=0)  # no weight changes
    # the first BatchNorm's running mean: the mean over the pass's batches (of 7 target images) of
    # each batch's per-channel mean after the stem conv
    ds = ReidImages(tgt["root"], records_of(tgt, "train"), 32, 16)
    images = torch.stack([ds[i][0] for i in range(len(ds))])
    with torch.no_grad():
        batch_means = [adapted.backbone.stem[0](batch).mean(dim=(0, 2, 3)) for batch in images.split(7)]
    torch.testing.assert_close(after["backbone.stem.1.running_mean"], torch.stack(batch_means).mean(0),
                               rtol=1e-4, atol=1e-5)
    assert adapted_info.run == Run.of_pair("adabn", src["domain"], tgt["domain"], 0)
    assert adapted_info.final["images"] == len(ds) and adapted.backbone.stem[1].momentum == 0.1


def test_the_paste_fine_tuning_has_its_own_budget_curve(gan_inputs, tmp_path: Path):
    """Issue 33: paste's fine-tuning plateau is measured on paste's own composites (its curve's point
    fine-tunes the main run's source model on them), not read off CR-GAN's renderings."""
    from crgan import cli
    from crgan.budget_curves import point_config, run_point
    from crgan.io import write_json
    from crgan.methods import METHODS

    (src, tgt), masks, did = gan_inputs
    did_path = save_network(tmp_path / "did.pt", did, src["domain"], DID_ARCH, src["train_ids"])
    out = tmp_path / "point" / "validation.json"
    from test_reid import CFG as REID_CFG

    cfg = {**CFG, "reid": DID_ARCH, "eval": REID_CFG["eval"]}
    found = run_point("finetune_paste", 2, cfg, 0, (src, tgt), masks, out, CPU, did=did_path)
    assert found["curve"] == "finetune_paste" and found["record"]["split"] == "validation"
    assert found["record"]["evaluation"]["run"]["method"] == "paste"
    assert len((out.parent / "reid.pt.log.csv").read_text().splitlines()) == 3  # two iterations: the point's budget
    assert Run.of_pair("paste", src["domain"], tgt["domain"]).budgets == ("reid", "finetune_paste")
    # one way to run a method (issue 34): the point's network is the one the main run's job makes at that budget
    paths = {name: tmp_path / f"{name}.json" for name in ("source", "target")}
    for path, index in zip(paths.values(), (src, tgt)):
        write_json(path, index)
    job, job_cfg = tmp_path / "job" / "reid.pt", point_config(cfg, "finetune_paste", 2)
    job_cfg["data"]["source"] = "synthetic"  # the command checks its sections as the workflow passes them
    assert cli.main([METHODS["paste"].command, "--config-json", json.dumps(job_cfg),
                     "--source-index", str(paths["source"]), "--target-index", str(paths["target"]),
                     "--source-masks", str(masks[0]), "--target-masks", str(masks[1]), "--did", str(did_path),
                     "--threads", str(torch.get_num_threads()), "--out", str(job)]) == 0
    assert all(torch.equal(weight, weights_of(job)[name]) for name, weight in weights_of(out.parent / "reid.pt").items())
