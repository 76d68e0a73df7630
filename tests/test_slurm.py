"""The workflow through a real Slurm: a single-node cluster on localhost (munge, slurmctld, slurmd,
configured by the test in a temporary folder) runs the smoke workflow's data, masks and
source-training jobs via ``--profile profiles/slurm``. Where Slurm cannot start, the test skips
and says why (``.ci/run`` installs Debian's slurm-wlm and munge)."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from conftest import run_snakemake, smoke_workdir

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo")
SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def tool(name: str) -> str | None:
    """A Slurm or munge program, also where daemons live (sbin, often not on a user's PATH)."""
    return shutil.which(name, path=SEARCH)
TARGETS = ["results/reid/market1501/seed0/model.pt", "results/masks/draw0/market1501"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def slurm_conf(folder: Path, host: str, port: int) -> str:
    """A one-node cluster: no accounting (jobs are followed with squeue), generous configured
    resources so the profile's per-rule memory requests fit, and configless slurmd (the jobs' own
    srun drops SLURM_CONF and finds the configuration slurmd caches)."""
    return "\n".join([
        "ClusterName=crgan-test", f"SlurmctldHost={host}(127.0.0.1)", f"SlurmctldPort={port}",
        f"SlurmdPort={free_port()}", "AuthType=auth/munge", "SlurmUser=root", "SlurmdUser=root",
        "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "MpiDefault=none",
        "SelectType=select/cons_tres", "SelectTypeParameters=CR_CPU", "SchedulerType=sched/backfill",
        "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
        "ReturnToService=2", "MinJobAge=3600", "SlurmdParameters=config_overrides",
        "SlurmctldParameters=enable_configless",
        f"StateSaveLocation={folder}/state", f"SlurmdSpoolDir={folder}/spool",
        f"SlurmctldPidFile={folder}/slurmctld.pid", f"SlurmdPidFile={folder}/slurmd.pid",
        f"SlurmctldLogFile={folder}/slurmctld.log", f"SlurmdLogFile={folder}/slurmd.log",
        f"NodeName={host} NodeAddr=127.0.0.1 CPUs=4 RealMemory=65536 State=UNKNOWN",
        f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP", ""])


def start_munge() -> str | None:
    """munged with the system key (made if missing); None when it runs, else why not."""
    if subprocess.run("munge -n | unmunge", shell=True, capture_output=True).returncode == 0:
        return None
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        subprocess.run([tool("mungekey"), "--create", "--keyfile", str(key)], capture_output=True)
        shutil.chown(key, "munge", "munge") if key.exists() else None
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    started = subprocess.run(["runuser", "-u", "munge", "--", tool("munged"), "--force"], capture_output=True, text=True)
    time.sleep(1)
    if subprocess.run("munge -n | unmunge", shell=True, capture_output=True).returncode != 0:
        return f"munged did not start: {started.stderr.strip()[-300:]}"
    return None


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    missing = [d for d in DAEMONS if tool(d) is None]
    if missing:
        pytest.skip(f"Slurm is not installed here ({', '.join(missing)} missing): apt-get install slurm-wlm munge")
    if os.geteuid() != 0:
        pytest.skip("starting slurmd and munged needs root")
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="the [slurm] extra is not installed")
    why = start_munge()
    if why:
        pytest.skip(why)
    folder = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool"):
        (folder / sub).mkdir()
    host = socket.gethostname().split(".")[0]
    conf = folder / "slurm.conf"
    port = free_port()
    conf.write_text(slurm_conf(folder, host, port))
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(conf)
    subprocess.run([tool("slurmctld"), "-f", str(conf)], capture_output=True)
    time.sleep(1)
    subprocess.run([tool("slurmd"), "--conf-server", f"127.0.0.1:{port}", "-N", host], capture_output=True)
    deadline = time.time() + 60
    state = ""
    while time.time() < deadline:
        state = subprocess.run([tool("sinfo"), "-h", "-o", "%T"], capture_output=True, text=True).stdout.strip()
        if state in ("idle", "mixed", "allocated"):
            break
        time.sleep(1)
    else:
        logs = " | ".join(p.read_text()[-400:] for p in folder.glob("*.log"))
        stop(folder)
        pytest.skip(f"Slurm did not come up (node state {state!r}): {logs}")
    yield folder
    stop(folder)
    if old is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = old


def stop(folder: Path) -> None:
    subprocess.run([tool("scancel") or "scancel", "--user", "root"], capture_output=True)
    for pid_file in ("slurmd.pid", "slurmctld.pid"):
        path = folder / pid_file
        if path.exists():
            subprocess.run(["kill", path.read_text().strip()], capture_output=True)
    cache = Path("/run/slurm/conf")  # slurmd's link to its configuration cache in our folder
    if cache.is_symlink() and str(folder) in os.readlink(cache):
        cache.unlink()


def test_data_masks_and_source_training_run_as_slurm_jobs(slurm: Path, tmp_path: Path):
    work = smoke_workdir(tmp_path)
    proc = run_snakemake(work, *TARGETS, "--profile", "profiles/slurm", "--configfile", "presets/smoke.yaml",
                         "--slurm-no-account", "--slurm-status-command", "squeue", "--slurm-keep-successful-logs",
                         "--slurm-init-seconds-before-status-checks", "5",
                         "--latency-wait", "10",
                         timeout=1200)
    assert proc.returncode == 0, (proc.stderr[-3000:], (slurm / "slurmctld.log").read_text()[-2000:])
    for target in TARGETS:
        assert (work / target).exists(), target
    # every job went through Slurm: one sbatch log per job, named by its Slurm job id
    logs = sorted((work / ".snakemake" / "slurm_logs").rglob("*.log"))
    rules = {p.relative_to(work / ".snakemake" / "slurm_logs").parts[0].removeprefix("rule_") for p in logs}
    assert {"synth", "index", "masks", "train_reid"} <= rules, rules
    assert all(p.stem.isdigit() for p in logs)
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", proc.stdout + proc.stderr)
    assert len(submitted) == len(logs) == 4, submitted
    print(f"ran through Slurm: {len(logs)} jobs, rules {sorted(rules)}")
