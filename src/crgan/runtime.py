"""Process setup shared by every command: threads, seeds, device, provenance."""
from __future__ import annotations

import contextlib
import platform
import random
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crgan.errors import ConfigError


def setup(threads: int, seed: int, deterministic: bool = True) -> None:
    """Pin torch to the rule's threads (no oversubscription under --cores), seed everything, and
    choose the kernels (config key ``deterministic``).

    ``deterministic: true`` (the default) asks for PyTorch's deterministic algorithms: a CUDA run
    repeats itself bit for bit, at the cost of a few slower kernels (scatter and index_add without
    atomics) and no cuDNN autotuning. ``false`` lets cuDNN benchmark its convolutions and PyTorch
    use its atomic kernels: faster on a GPU, with results that vary in the last bits from run to
    run. On a CPU the two give the same results. Either way uninitialised memory is not filled
    (PyTorch fills every ``torch.empty`` with NaN under deterministic mode otherwise, a debugging
    aid that costs a write of every output and guards nothing here: no op reads memory it did not write).
    """
    torch.set_num_threads(max(1, threads))
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = False
    torch.backends.cudnn.benchmark = not deterministic


def device(name: str) -> torch.device:
    """Resolve the configured device; asking for CUDA without one is an error, not a silent fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("config key 'device' is 'cuda' but no CUDA GPU is available "
                          "(use device: auto or cpu on this machine)")
    return torch.device(name)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of training steps for config key ``precision`` (None: float32 throughout).

    ``auto`` is bfloat16 on CUDA (tensor cores, half the activation memory, no loss scaling needed)
    and float32 on CPU, so CPU results stay as they were; parameters and optimiser state are float32.
    """
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return torch.bfloat16 if precision == "bfloat16" else None


def training_autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """A context running a training step in the configured precision."""
    dtype = autocast_dtype(precision, device)
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(cfg: dict[str, Any], seed: int | None = None, dev: torch.device | None = None) -> dict[str, Any]:
    """What produced a result: config hash, code version, packages, machine, seed, kernel backend."""
    import crgan
    from crgan.config import config_hash
    from crgan.kernels import backend

    dev = dev if dev is not None else torch.device("cpu")
    return {
        "config_hash": config_hash(cfg), "git_commit": git_commit(), "crgan": crgan.__version__,
        "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
        "machine": platform.machine(), "device": str(dev), "seed": seed,
        "kernels": backend(torch.empty(0, device=dev)),
    }
