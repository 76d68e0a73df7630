"""Which implementation runs: CRGAN_KERNELS, the device, and whether Triton is installed."""
from __future__ import annotations

import os

import pytest
import torch

from crgan import kernels
from crgan.kernels import _dispatch


def test_auto_uses_reference_on_cpu(monkeypatch):
    monkeypatch.delenv("CRGAN_KERNELS", raising=False)
    assert kernels.backend(torch.zeros(1)) == "torch"


def test_forced_torch(monkeypatch):
    monkeypatch.setenv("CRGAN_KERNELS", "torch")
    assert not _dispatch.use_triton(torch.zeros(1))


def test_forced_triton_on_cpu_runs_the_interpreter(triton_kernels):
    if torch.cuda.is_available():
        pytest.skip("with a GPU, Triton is compiled rather than interpreted in this process")
    assert kernels.backend(torch.zeros(1)) == "triton-interpreter"


def test_forced_triton_on_cpu_without_the_interpreter_says_how_and_leaves_the_environment(monkeypatch):
    monkeypatch.setenv("CRGAN_KERNELS", "triton")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setattr(_dispatch, "triton_installed", lambda: True)
    with pytest.raises(RuntimeError, match="start the process with TRITON_INTERPRET=1"):
        _dispatch.use_triton(torch.zeros(1))
    assert "TRITON_INTERPRET" not in os.environ


def test_bad_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("CRGAN_KERNELS", "cuda")
    with pytest.raises(ValueError, match="CRGAN_KERNELS='cuda': expected one of auto, torch, triton"):
        kernels.blend(torch.zeros(1, 3, 2, 2), torch.zeros(1, 1, 2, 2), torch.zeros(1, 3, 2, 2))


def test_forced_triton_without_triton(monkeypatch):
    monkeypatch.setenv("CRGAN_KERNELS", "triton")
    monkeypatch.setattr(_dispatch, "triton_installed", lambda: False)
    with pytest.raises(RuntimeError, match="Triton is not installed"):
        _dispatch.use_triton(torch.zeros(1))


def test_too_large_for_32_bit_offsets():
    with pytest.raises(ValueError, match="too large"):
        _dispatch.check_numel((2 ** 16, 2 ** 15))
