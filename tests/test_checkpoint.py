"""Resume checkpoints: the previous one is kept, a corrupt one falls back to it, and when none can
be read the error names the files; a diverged loss stops training with the step named."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from crgan.errors import CheckpointError, DivergenceError
from crgan.models.store import provenance_file, read_model_file
from crgan.records import NetworkInfo
from crgan.runs import Run
from crgan.train.checkpoint import load_state, previous, save_state
from crgan.train.loop import DeviceReads, Logged, TrainingLoop


def state(config_hash: str, iteration: int = 1) -> dict:
    return {"config_hash": config_hash, "iteration": iteration, "provenance": {"seed": 0, "git_commit": "abc"}}


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:40])


def test_previous_checkpoint_is_kept_and_used_when_the_latest_is_corrupt(tmp_path: Path, caplog):
    ckpt = tmp_path / "m.pt.ckpt"
    save_state(ckpt, state("h", 1))
    assert not previous(ckpt).exists()
    save_state(ckpt, state("h", 2))
    assert load_state(ckpt, "h")["iteration"] == 2 and load_state(previous(ckpt), "h")["iteration"] == 1
    truncate(ckpt)
    with caplog.at_level(logging.WARNING):
        assert load_state(ckpt, "h")["iteration"] == 1
    assert "m.pt.ckpt is unreadable" in caplog.text and "resuming from the previous checkpoint" in caplog.text


def test_killed_between_rotation_and_rename_resumes_from_previous(tmp_path: Path):
    ckpt = tmp_path / "m.pt.ckpt"
    save_state(ckpt, state("h", 1))
    ckpt.rename(previous(ckpt))  # the state a kill inside save_state can leave
    assert load_state(ckpt, "h")["iteration"] == 1


def test_no_usable_checkpoint_is_a_clear_error(tmp_path: Path):
    ckpt = tmp_path / "m.pt.ckpt"
    save_state(ckpt, state("h", 1))
    save_state(ckpt, state("h", 2))
    truncate(ckpt)
    truncate(previous(ckpt))
    with pytest.raises(CheckpointError, match=r"no usable checkpoint .*m\.pt\.ckpt.*delete .*m\.pt\.ckpt\.prev"):
        load_state(ckpt, "h")


def test_other_configuration_or_nothing_starts_afresh(tmp_path: Path):
    ckpt = tmp_path / "m.pt.ckpt"
    assert load_state(ckpt, "h") is None
    save_state(ckpt, state("other", 3))
    assert load_state(ckpt, "h") is None


def test_checkpoints_and_the_final_file_have_provenance_and_finish_removes_the_checkpoints(tmp_path: Path):
    """... and what an attempt killed while writing left: the atomic writers' hidden temporaries of
    the checkpoint and of the model file (a SIGKILL skips their clean-up)."""
    out = tmp_path / "m.pt"
    save_state(f"{out}.ckpt", state("h"))
    save_state(f"{out}.ckpt", state("h"))
    for stale in (".m.pt.ckpt.81isyztn.ckpt", ".m.pt.ckpt.provenance.json.x1.json", ".m.pt.q2w3.pt"):
        (tmp_path / stale).write_bytes(b"half")
    assert json.loads(provenance_file(f"{out}.ckpt").read_text()) == {"seed": 0, "git_commit": "abc",
                                                                      "config_hash_of_state": "h"}
    loop = TrainingLoop(out, "test", {}, {}, 0, torch.device("cpu"), total=1)
    net = torch.nn.Linear(2, 2)
    loop.track(net=net)
    rows = loop.run(lambda i: {"iteration": i + 1, "loss": 0.5})
    info = NetworkInfo(Run.reid("market1501", 0), "market1501", "scratch", {}, 2, (4, 2), True, rows[-1],
                       {"seed": 0})
    loop.finish(info, net.state_dict(), tmp_path / "m.pt.log.csv")
    assert out.is_file() and not list(tmp_path.glob("*.ckpt*")) and not list(tmp_path.glob(".m.pt.*"))
    assert json.loads(provenance_file(out).read_text()) == {"seed": 0}
    assert read_model_file(out, "network")[0] == info
    assert (tmp_path / "m.pt.log.csv").read_text() == "iteration,loss\n1,0.5\n"


def test_a_diverged_loss_stops_training_naming_the_step():
    w = torch.nn.Parameter(torch.ones(1))
    opt = torch.optim.SGD([w], lr=0.1)
    reads = DeviceReads()
    reads.optimise(opt, w.sum(), "CR-GAN generator (crgan), iteration 6")
    reads.optimise(opt, w.sum() * float("nan"), "CR-GAN generator (crgan), iteration 7")
    with pytest.raises(DivergenceError, match=r"CR-GAN generator \(crgan\), iteration 7: loss became nan"):
        reads.settle()


def sgd_loop(tmp_path: Path, total: int, checkpoint_every: int) -> tuple[TrainingLoop, torch.nn.Parameter, torch.optim.SGD]:
    loop = TrainingLoop(tmp_path / "m.pt", "test", {}, {}, 0, torch.device("cpu"), total=total,
                        checkpoint_every=checkpoint_every)
    w = torch.nn.Parameter(torch.ones(1))
    opt = torch.optim.SGD([w], lr=0.1)
    loop.track(w=torch.nn.ParameterList([w]), opt=opt)
    return loop, w, opt


def test_logged_values_are_read_rounded_at_the_loops_syncs(tmp_path: Path):
    loop, w, opt = sgd_loop(tmp_path, total=3, checkpoint_every=10)

    def step(i: int) -> dict:
        loss = (w * (i + 1) / 3).sum()
        loop.optimise(opt, loss, f"iteration {i + 1}")
        return {"iteration": i + 1, "loss": Logged(loss), "half": Logged(loss / 2, 2)}

    rows = loop.run(step)
    assert [type(r["loss"]) for r in rows] == [float] * 3
    assert rows[0] == {"iteration": 1, "loss": round(1 / 3, 5), "half": round(1 / 6, 2)}


def test_a_diverged_loss_in_a_loop_stops_at_the_next_read_naming_its_step(tmp_path: Path):
    """The finiteness of a loop's losses is read at its syncs: training stops there, naming the
    first non-finite step, and no checkpoint holds the weights it touched."""
    loop, w, opt = sgd_loop(tmp_path, total=8, checkpoint_every=2)

    def step(i: int) -> dict:
        loss = w.sum() * (float("nan") if i == 2 else 1.0)
        loop.optimise(opt, loss, f"test, iteration {i + 1}")
        return {"iteration": i + 1}

    with pytest.raises(DivergenceError, match=r"test, iteration 3: loss became nan"):
        loop.run(step)
    saved = load_state(tmp_path / "m.pt.ckpt", loop.config_hash)
    assert saved["position"] == 2 and torch.isfinite(saved["objects"]["w"]["0"]).all()
