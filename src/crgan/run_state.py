"""Carry a stopped Snakemake run to another machine, where only a git repository survives.

``save`` writes what the run needs to go on into one folder that can be committed: every result, log
and benchmark file, Snakemake's metadata, the in-flight trainers' checkpoints and, of the bulky
outputs, only those the pending jobs need: a file of 1 MiB or more (a network) when a pending job
reads it, a directory output (a synthetic data draw) when a pending job's input was made from it, as
one gzip'd tar. Each file keeps its modification time (in the manifest, ``run-state.json``), since
Snakemake reruns a job whose input is newer than its output. A bulky output no pending job needs is
left out: Snakemake does not rebuild a missing intermediate file whose consumers are all done.
``restore`` lays the folder out in a fresh checkout of the same commit at the same path; ``save``
checks this by restoring into a scratch checkout and comparing the pending jobs of both dry runs, and
refuses to write a state that would not resume as the run stands.

    python -m crgan.run_state save RUN STATE -- --configfile presets/verdicts.yaml ...
    python -m crgan.run_state restore STATE RUN
"""
from __future__ import annotations

import argparse
import base64
import gzip
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from crgan.errors import CrganError
from crgan.io import atomic_dir, read_json, write_json

#: The folders of a run that hold its state (everything else is the checkout's code).
ROOTS = ("results", "logs", "benchmarks", "data", ".snakemake/metadata")
MANIFEST = "run-state.json"
#: A file at least this large is saved only while a pending job reads it.
BULKY_BYTES = 1 << 20
#: Snakemake's mark of a directory output.
DIRECTORY_MARK = ".snakemake_timestamp"
ARCHIVE_SUFFIX = ".tar.gz"


@dataclass
class Plan:
    """What one dry run says is still to do: each pending job (rule and outputs) and every path a pending
    job reads."""

    jobs: set[str] = field(default_factory=set)
    inputs: set[str] = field(default_factory=set)


def pending(run: Path, snakemake_args: list[str]) -> Plan:
    """The run's pending jobs, from ``snakemake --dry-run`` with the run's own arguments and the run's own
    code (its ``src/`` first on the path: this tool may come from a later checkout)."""
    command = [sys.executable, "-m", "snakemake", "--dry-run", "--cores", "1", "--rerun-incomplete", *snakemake_args]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(run / "src"), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(command, cwd=run, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise CrganError(f"the dry run in {run} failed ({' '.join(command[2:])}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return parse_dry_run(done.stdout + done.stderr)


def parse_dry_run(text: str) -> Plan:
    """The jobs and inputs of a Snakemake dry run's listing (``rule NAME:`` blocks)."""
    plan, rule, fields = Plan(), None, {}

    def close() -> None:
        if rule is not None:
            plan.jobs.add(f"{rule}: {fields.get('output', '')} {fields.get('wildcards', '')}".strip())
            plan.inputs.update(path for path in fields.get("input", "").split(", ") if path)

    for line in text.splitlines():
        start = re.match(r"^(?:local)?rule (\S+):$", line.strip())
        if start:
            close()
            rule, fields = start.group(1), {}
        elif rule is not None and (entry := re.match(r"^\s+(input|output|wildcards): (.*)$", line)):
            fields[entry.group(1)] = entry.group(2)
    close()
    return plan


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


def _is_read(path: str, inputs: set[str]) -> bool:
    """Whether a pending job reads ``path``, a folder holding it, or something inside it."""
    return any(_within(path, item) or _within(item, path) for item in inputs)


def _upstream(run: Path, inputs: set[str]) -> set[str]:
    """Every path the pending jobs' inputs were made from, through Snakemake's metadata records (the
    ``input`` of each output's job): a directory output upstream of a pending job is kept whole, since
    a file made from it may name what is in it (a dataset index names its images)."""
    reached, frontier = set(inputs), list(inputs)
    while frontier:
        record = run / ".snakemake" / "metadata" / base64.b64encode(frontier.pop().encode()).decode()
        for path in read_json(record).get("input", []) if record.is_file() else []:
            if path not in reached:
                reached.add(path)
                frontier.append(path)
    return reached


def _directory_outputs(run: Path) -> list[str]:
    """The outermost directory outputs under the run's roots (folders holding Snakemake's mark)."""
    found: list[str] = []
    for root in ROOTS:
        for mark in sorted((run / root).rglob(DIRECTORY_MARK)):
            folder = mark.parent.relative_to(run).as_posix()
            if not any(_within(folder, outer) for outer in found):
                found = [outer for outer in found if not _within(outer, folder)] + [folder]
    return sorted(found)


def _archive(run: Path, folder: str, out: Path) -> None:
    """A directory output as one gzip'd tar, the same bytes for the same files (sorted, no owner, gzip
    time zero); members keep their modification times."""
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as zipped, \
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in [run / folder, *sorted((run / folder).rglob("*"))]:
            info = tar.gettarinfo(path, arcname=path.relative_to(run).as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = path.stat().st_mtime_ns / 1e9
            if info.isfile():
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)


def write_state(run: Path, state: Path, plan: Plan, snakemake_args: list[str]) -> dict:
    """Copy the run's state into ``state`` (a new folder) and return its manifest."""
    folders, upstream = _directory_outputs(run), _upstream(run, plan.inputs)
    manifest = {"commit": _commit(run), "run": str(run.resolve()), "snakemake_args": snakemake_args,
                "pending_jobs": sorted(plan.jobs), "files": {}, "archives": [], "left_out": {}}
    for folder in folders:
        if _is_read(folder, upstream):
            target = state / f"{folder}{ARCHIVE_SUFFIX}"
            target.parent.mkdir(parents=True, exist_ok=True)
            _archive(run, folder, target)
            manifest["archives"].append(folder)
        else:
            manifest["left_out"][folder] = "directory output no pending job is made from"
    for root in ROOTS:
        for path in sorted(p for p in (run / root).rglob("*") if p.is_file()):
            name = path.relative_to(run).as_posix()
            if any(_within(name, folder) for folder in folders) or name.endswith(".ckpt.prev"):
                continue
            size = path.stat().st_size
            if size >= BULKY_BYTES and not name.endswith(".ckpt") and not _is_read(name, plan.inputs):
                manifest["left_out"][name] = f"{size} bytes no pending job reads"
                continue
            (state / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, state / name)
            manifest["files"][name] = path.stat().st_mtime_ns
    write_json(state / MANIFEST, manifest)
    return manifest


def restore(state: Path, run: Path, same_folder: bool = True) -> dict:
    """Lay a saved state out in ``run``, a checkout of the state's commit holding no run files yet, in the
    folder the run was saved from (``same_folder``: its files name absolute paths, as a dataset index
    its images' root)."""
    manifest_path = state / MANIFEST
    if not manifest_path.is_file():
        raise CrganError(f"{manifest_path}: no run state here (written by `python -m crgan.run_state save`)")
    manifest = read_json(manifest_path)
    commit = _commit(run)
    if commit != manifest["commit"]:
        raise CrganError(f"{run} is at commit {commit}, the state in {state} was saved at {manifest['commit']}: "
                         f"check out that commit (a job whose command changed would rerun)")
    if same_folder and str(run.resolve()) != manifest["run"]:
        raise CrganError(f"the state in {state} was saved from {manifest['run']}: restore it there (its files "
                         f"name absolute paths, as a dataset index its images' root), not in {run.resolve()}")
    present = [root for root in ROOTS if (run / root).exists()]
    if present:
        raise CrganError(f"{run} already holds run files ({', '.join(present)}): restore into a fresh checkout")
    for folder in manifest["archives"]:
        with tarfile.open(state / f"{folder}{ARCHIVE_SUFFIX}") as tar:
            tar.extractall(run, filter="data")
    for name, mtime in manifest["files"].items():
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(state / name, run / name)
        os.utime(run / name, ns=(mtime, mtime))
    return manifest


def save(run: Path, state: Path, snakemake_args: list[str]) -> dict:
    """Save a stopped run's state into ``state`` (replaced whole), after checking that a checkout
    restored from it has the same pending jobs."""
    if any((run / ".snakemake" / "locks").glob("*")):
        raise CrganError(f"{run} is locked (.snakemake/locks): stop the run first (or remove a stale lock)")
    plan = pending(run, snakemake_args)
    with atomic_dir(state) as written:
        manifest = write_state(run, written, plan, snakemake_args)
        with tempfile.TemporaryDirectory(prefix="run-state-check.") as scratch:
            check = Path(scratch) / "run"
            for command in (["git", "clone", "--quiet", "--no-checkout", str(run), str(check)],
                            ["git", "-C", str(check), "checkout", "--quiet", manifest["commit"]]):
                subprocess.run(command, check=True, capture_output=True)
            restore(written, check, same_folder=False)
            again = pending(check, snakemake_args)
        if again.jobs != plan.jobs:
            extra, missing = sorted(again.jobs - plan.jobs), sorted(plan.jobs - again.jobs)
            raise CrganError(f"a checkout restored from the state would not resume as {run} stands: "
                             f"it would also run {extra[:5]} and not run {missing[:5]}")
    return manifest


def _commit(run: Path) -> str:
    done = subprocess.run(["git", "-C", str(run), "rev-parse", "HEAD"], capture_output=True, text=True)
    if done.returncode != 0:
        raise CrganError(f"{run}: not a git checkout (the state records the commit its jobs ran at)")
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crgan.run_state", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("save", help="save a stopped run's state into a folder to commit")
    p.add_argument("run", type=Path, help="the run's folder (a checkout where snakemake ran)")
    p.add_argument("state", type=Path, help="the state folder to write (replaced whole)")
    p.add_argument("snakemake_args", nargs="*", help="the run's snakemake arguments, after --")
    p = sub.add_parser("restore", help="lay a saved state out in a fresh checkout of its commit")
    p.add_argument("state", type=Path)
    p.add_argument("run", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "save":
            manifest = save(args.run, args.state, args.snakemake_args)
            print(f"saved {len(manifest['files'])} files and {len(manifest['archives'])} directory outputs to "
                  f"{args.state} ({len(manifest['pending_jobs'])} jobs pending, {len(manifest['left_out'])} "
                  f"bulky outputs no pending job reads left out)")
        else:
            manifest = restore(args.state, args.run)
            print(f"restored {len(manifest['files'])} files and {len(manifest['archives'])} directory outputs into "
                  f"{args.run}; go on with: snakemake {' '.join(manifest['snakemake_args'])}")
    except CrganError as exc:
        print(f"run-state: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
