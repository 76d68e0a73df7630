"""What produced a result, as far as the code and the machine tell it without importing torch:
config hash, git commit, package versions, Python, machine. ``runtime.provenance`` adds what a
job that runs networks knows (device, seed, kernel backend, training precision and layout)."""
from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any


def git_commit() -> str:
    """The short commit of the code that runs, or 'unknown' outside a git checkout."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_version(name: str) -> str:
    """An installed package's version, read from its metadata (the package is not imported)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    """The CPU's model name as Linux reports it (``platform.processor()`` is empty there), or the
    platform's answer elsewhere: results of one seed differ in their last bits between CPUs."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def code_provenance(cfg: dict[str, Any]) -> dict[str, Any]:
    """Config hash, git commit, crgan, torch and numpy versions, Python, machine and CPU model."""
    import crgan
    from crgan.config import config_hash

    return {"config_hash": config_hash(cfg), "git_commit": git_commit(), "crgan": crgan.__version__,
            "torch": package_version("torch"), "numpy": package_version("numpy"),
            "python": platform.python_version(), "machine": platform.machine(), "cpu": cpu_model()}
