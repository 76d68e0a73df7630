"""The code and the workflow are lint-clean: ruff (configured in pyproject.toml), snakefmt, and
Snakemake's own linter. `make lint` runs the same three commands."""
from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO, snakemake_command

LINTERS = {
    "ruff": [sys.executable, "-m", "ruff", "check", "src", "tests", "bench"],
    "snakefmt": [sys.executable, "-m", "snakefmt", "--check", "."],
    "snakemake --lint": snakemake_command("--lint")[0],
}


@pytest.mark.parametrize("name", LINTERS)
def test_lint_clean(name: str):
    command = LINTERS[name]
    env = snakemake_command()[1]
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{name} found problems:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
