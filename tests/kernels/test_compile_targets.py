"""Every launched Triton kernel compiles ahead of time for sm_90 and sm_80 (no GPU needed).

The interpreter that runs the other kernel tests on a CPU accepts code the compiler rejects, so
this test runs ``python -m crgan.kernels.compile_check`` (Triton's JIT path down to ptxas, with
a stand-in driver that skips the launch) in a process without ``TRITON_INTERPRET``.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from crgan.kernels import compile_check

KERNELS = {"_blend_fwd", "_blend_bwd", "_blend_con_fwd", "_blend_con_bwd", "_res_in_fwd", "_res_in_bwd", "_distance",
           "_query_stats"}


@pytest.fixture(scope="module")
def compile_log() -> str:
    pytest.importorskip("triton")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "-m", "crgan.kernels.compile_check"], env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("arch", [90, 80])
def test_every_kernel_compiles_for_the_target(compile_log, arch):
    lines = [line.split() for line in compile_log.splitlines() if line.startswith(f"sm_{arch}  ")]
    assert {fields[1] for fields in lines} == KERNELS
    for dtype in ("float32", "bfloat16", "float16"):
        for kernel in KERNELS - {"_query_stats"}:  # ranking reads int64 labels only
            assert any(f[1] == kernel and f[3] == dtype for f in lines), f"sm_{arch}: {kernel} not compiled in {dtype}"
    for shapes in ("test", "paper"):
        assert re.search(rf"^sm_{arch} {shapes} shapes: \d+ kernels compiled", compile_log, re.M)


def test_paper_size_float32_distance_has_registers_to_spare(compile_log):
    """The Market-size distance kernel (D = 2048) fits in registers on sm_90 without heavy spilling."""
    line = next(line for line in compile_log.splitlines()
                if line.startswith("sm_90  _distance") and "float32 3368x15913x2048 euclidean ieee" in line)
    spills = int(re.search(r"spills\s+(\d+) B", line).group(1))
    assert spills <= 64, line


def test_refuses_to_run_under_the_interpreter(monkeypatch, capsys):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert compile_check.main(["--arch", "90"]) == 2
    assert "unset TRITON_INTERPRET" in capsys.readouterr().err


def test_ptxas_log_parsing():
    log = ("ptxas info    : Compiling entry function '_distance' for 'sm_90a'\n"
           "ptxas info    : Function properties for _distance\n"
           "    12 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads\n"
           "ptxas info    : Used 128 registers, used 1 barriers\n")
    assert compile_check._ptxas_resources(log) == [("_distance", 128, 12)]
