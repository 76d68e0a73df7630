"""A stopped run carried to a fresh checkout (crgan.run_state): the restored checkout has the same
pending jobs, keeps what they read and the finished files' times, and leaves out bulky outputs no
pending job reads."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import run_snakemake

from crgan import run_state
from crgan.errors import CrganError

WORKFLOW = """
rule all:
    input: "results/report.txt"

rule draw:
    output: directory("data/draw")
    shell: "mkdir -p {output} && echo images > {output}/a.txt"

rule index:
    input: "data/draw"
    output: "results/index.txt"
    shell: "echo data/draw/a.txt > {output}"

rule train:
    input: "results/index.txt"
    output: "results/{name}.bin"
    shell: "head -c 2000000 /dev/zero > {output}"

rule evaluate:
    input: "results/first.bin"
    output: "results/first.txt"
    shell: "echo 61.5 > {output}"

rule count:
    output: "results/z_index.txt"
    shell: "echo index > {output}"

rule summary:
    input: "results/z_index.txt"
    output: "results/a_summary.txt"
    shell: "cat {input} > {output}"

rule report:
    input: "results/first.txt", "results/a_summary.txt", "results/second.bin"
    output: "results/report.txt"
    shell: "cat {input[0]} > {output}"
"""


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture
def stopped_run(tmp_path: Path) -> Path:
    """A run of a tiny workflow stopped half-way: the first network trained and evaluated, the second
    network, the report and ``all`` pending, the second network's trainer holding a checkpoint."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "Snakefile").write_text(WORKFLOW)
    (run / ".gitignore").write_text("/results/\n/data/\n/logs/\n/benchmarks/\n/.snakemake/\n")
    git("init", "--quiet", cwd=run)
    git("add", ".", cwd=run)
    git("commit", "--quiet", "-m", "workflow", cwd=run)
    done = run_snakemake(run, "--cores", "1", "results/first.txt", "results/a_summary.txt")
    assert done.returncode == 0, done.stderr
    (run / "results" / "second.bin.ckpt").write_bytes(b"\0" * 2_000_000)
    (run / "results" / "second.bin.ckpt.prev").write_bytes(b"\0" * 2_000_000)
    return run


def test_a_restored_checkout_resumes_where_the_run_stopped(stopped_run: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    manifest = run_state.save(stopped_run, state, [])
    assert {job.split(":")[0] for job in manifest["pending_jobs"]} == {"train", "report", "all"}
    assert manifest["archives"] == ["data/draw"]  # the pending trainer reads its images through the index
    assert "results/first.bin" in manifest["left_out"]  # bulky, and its evaluation is done
    assert "results/second.bin.ckpt" in manifest["files"]  # the in-flight trainer's checkpoint
    assert not (state / "results" / "second.bin.ckpt.prev").exists()

    elsewhere = tmp_path / "elsewhere"
    git("clone", "--quiet", str(stopped_run), str(elsewhere), cwd=tmp_path)
    with pytest.raises(CrganError, match="restore it there"):
        run_state.restore(state, elsewhere)
    # the machine is gone: a fresh checkout at the same path
    original = stopped_run.rename(tmp_path / "original")
    git("clone", "--quiet", str(original), str(stopped_run), cwd=tmp_path)
    run_state.restore(state, stopped_run)
    assert (stopped_run / "results" / "first.txt").read_text() == "61.5\n"
    assert (stopped_run / "data" / "draw" / "a.txt").read_text() == "images\n"
    for name in ("results/first.txt", "data/draw/a.txt", "data/draw/.snakemake_timestamp"):
        # an archive member's time is a float of seconds: within its rounding (a quarter microsecond)
        assert abs((stopped_run / name).stat().st_mtime_ns - (original / name).stat().st_mtime_ns) < 1000
    assert run_state.pending(stopped_run, []).jobs == run_state.pending(original, []).jobs
    # the same files give the same archive bytes: a state saved twice adds nothing to the repository
    again = tmp_path / "again"
    run_state.save(original, again, [])
    assert (again / "data/draw.tar.gz").read_bytes() == (state / "data/draw.tar.gz").read_bytes()


def test_save_and_restore_refuse_what_would_not_resume(stopped_run: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    (stopped_run / ".snakemake" / "locks").mkdir(parents=True, exist_ok=True)
    (stopped_run / ".snakemake" / "locks" / "0.input.lock").write_text("")
    with pytest.raises(CrganError, match="locked"):
        run_state.save(stopped_run, state, [])
    (stopped_run / ".snakemake" / "locks" / "0.input.lock").unlink()
    run_state.save(stopped_run, state, [])

    with pytest.raises(CrganError, match="already holds run files"):
        run_state.restore(state, stopped_run)
    moved = tmp_path / "moved"
    git("clone", "--quiet", str(stopped_run), str(moved), cwd=tmp_path)
    (moved / "README").write_text("a later commit\n")
    git("add", ".", cwd=moved)
    git("commit", "--quiet", "-m", "later", cwd=moved)
    with pytest.raises(CrganError, match="check out that commit"):
        run_state.restore(state, moved)
    with pytest.raises(CrganError, match="no run state"):
        run_state.restore(tmp_path, moved)


def test_save_refuses_a_state_that_would_rerun_finished_jobs(stopped_run: Path, tmp_path: Path, monkeypatch) -> None:
    """A state that drops the evaluation the pending report reads would evaluate again: the check sees it."""
    monkeypatch.setattr(run_state, "BULKY_BYTES", 0)
    monkeypatch.setattr(run_state, "_is_read", lambda path, inputs: False)
    with pytest.raises(CrganError, match="would not resume"):
        run_state.save(stopped_run, tmp_path / "state", [])
    assert not (tmp_path / "state").exists()


def test_the_dry_run_listing_gives_jobs_and_inputs() -> None:
    listing = ("rule train:\n    input: data/draw\n    output: results/second.bin\n    jobid: 2\n"
               "    wildcards: name=second\n\nlocalrule all:\n    input: results/report.txt\n    jobid: 0\n")
    plan = run_state.parse_dry_run(listing)
    assert plan.jobs == {"train: results/second.bin name=second", "all:"}
    assert plan.inputs == {"data/draw", "results/report.txt"}
