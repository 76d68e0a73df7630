"""Process setup shared by every command: threads, seeds, device, provenance."""
from __future__ import annotations

import contextlib
import random
import sys
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

    float32 subnormals (magnitudes below 1.2e-38) are flushed to zero on a CPU that can
    (:func:`flush_subnormals`), before the first parallel op, so every worker thread inherits it.
    """
    flush_subnormals()
    torch.set_num_threads(max(1, threads))
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    use_deterministic_algorithms(deterministic)
    torch.utils.deterministic.fill_uninitialized_memory = False
    torch.backends.cudnn.benchmark = not deterministic


def flush_subnormals() -> bool:
    """Have this thread, and the worker threads it starts later, flush float32 subnormals to zero
    (x86 FTZ/DAZ); whether the CPU can. A network trained for a while carries gradients and
    momenta that decay into the subnormal range, where x86 cores take a slow microcode path per
    operand: TAUDL fine-tuning a trained re-id network ran 0.22 s an iteration on a Xeon, then
    2.5 s from about iteration 1,700; with this, 0.24 s to the end (docs/results.md). The values
    flushed are below 1.2e-38, far under anything a loss or a weight update resolves. A worker
    thread started before the call keeps its own setting, hence the call before any parallel op
    and :func:`subnormals_flushed` in the provenance."""
    return torch.set_flush_denormal(True)


def subnormals_flushed() -> bool:
    """Whether a product that lands in the float32 subnormal range comes out zero on every thread
    that computes it (a tensor that PyTorch splits across up to 32 threads: its grain is 32,768
    elements)."""
    tiny = torch.full((1 << 20,), 1e-30, dtype=torch.float32)
    return bool((tiny * 1e-10).count_nonzero() == 0)


def use_deterministic_algorithms(mode: bool) -> None:
    """``torch.use_deterministic_algorithms(mode, warn_only=True)`` without its import of
    torch._inductor's config, which loads torch._dynamo (3-4 s a job on a 2-core CPU, more than a
    short job's work) to set a flag only ``torch.compile`` reads; no job compiles. Where inductor is
    loaded already, or torch lacks the setter, the public call sets both."""
    if "torch._inductor.config" in sys.modules or not hasattr(torch._C, "_set_deterministic_algorithms"):
        torch.use_deterministic_algorithms(mode, warn_only=True)
    else:
        torch._C._set_deterministic_algorithms(mode, warn_only=True)


def device(name: str) -> torch.device:
    """Resolve the configured device; asking for CUDA without one is an error, not a silent fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("config key 'device' is 'cuda' but no CUDA GPU is available "
                          "(use device: auto or cpu on this machine)")
    return torch.device(name)


def cpu_computes_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX tiles), asked of the CPU
    itself, never assumed from its model name: without them PyTorch emulates bfloat16 convolutions,
    15-20x slower than float32 on an AVX2 EPYC (bench/RESULTS.md)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def memory_format_of(cfg: dict[str, Any]) -> str:
    """Config key ``memory_format``, at its default where a hand-made config leaves it out."""
    return cfg.get("memory_format", "channels_last")


def conv_layout(module: torch.nn.Module, cfg: dict[str, Any]) -> torch.nn.Module:
    """``module`` with its 4-D weights in ``cfg``'s memory format (config key ``memory_format``).

    ``channels_last`` is the order oneDNN's CPU convolutions and cuDNN's tensor-core kernels run
    fastest in for the re-id networks (BatchNorm ResNets): steps of re-id, TAUDL and Cluster
    Contrast 1.16-1.38x faster on a 2-core CPU, so their trainers and evaluation apply it; the GANs'
    trainers and the fine-tuning did not gain (0.73-1.01x) and stay contiguous (bench/RESULTS.md). A
    convolution whose weight is channels-last gives a channels-last output, so activations follow
    without a copy of the inputs. Values equal ``contiguous`` up to the order of float sums; parameters keep their
    identity, so optimisers made before stay valid.

    A network with a strided 1x1 convolution over fewer than :data:`NARROW_CHANNELS` channels stays
    contiguous: torch 2.14's oneDNN path for that convolution in channels-last order corrupts the
    heap on one thread and gives different gradients from run to run on two (found on an AVX2 EPYC
    with 4 and 6 channels, as the tests' tiny networks and the smoke preset's Dcam have; the
    repro is in bench/RESULTS.md).
    """
    if memory_format_of(cfg) == "channels_last" and not any(is_narrow_strided_pointwise(m) for m in module.modules()):
        return module.to(memory_format=torch.channels_last)
    return module


#: Channels below which a strided 1x1 convolution stays contiguous (:func:`conv_layout`): the
#: failure shows below AVX2's eight float lanes; 16 covers AVX-512's lanes too.
NARROW_CHANNELS = 16


def is_narrow_strided_pointwise(module: torch.nn.Module) -> bool:
    """Whether ``module`` is a 1x1 convolution with a stride over fewer than :data:`NARROW_CHANNELS` inputs."""
    return (isinstance(module, torch.nn.Conv2d) and module.kernel_size == (1, 1) and module.stride != (1, 1)
            and module.in_channels < NARROW_CHANNELS)


#: Config sections whose trainers ``precision: auto`` runs in bfloat16 on a CPU that computes it
#: natively: those whose validation rank-1 did not move beyond noise in the precision check over three
#: seed bundles and both pairs (``snakemake results/precision_check.csv`` at fc78b27, 2026-12-06:
#: re-id -0.12 [-0.96, 0.72], CR-GAN's G -0.57 [-2.94, 1.81], the fine-tuning -0.10 [-0.40, 0.20]
#: rank-1 points, 1.5-1.6x faster). SPGAN (-1.35 [-2.51, -0.19]), TAUDL and Cluster Contrast
#: (+1.53 [0.49, 2.58]) moved and stay float32 (bench/RESULTS.md, docs/assumptions.md "Precision").
CPU_BFLOAT16_SECTIONS: frozenset[str] = frozenset({"reid", "crgan", "finetune"})


def precision_setting(cfg: dict[str, Any], section: str | None = None) -> str:
    """The ``precision`` a trainer runs with: its own section's key where set, else the run-wide one."""
    own = (cfg.get(section) or {}).get("precision") if section else None
    return own or cfg.get("precision", "auto")


def autocast_dtype(cfg: dict[str, Any], device: torch.device, section: str | None = None) -> torch.dtype | None:
    """The autocast dtype of the training steps of config section ``section`` (None: float32 throughout).

    ``auto`` is bfloat16 on CUDA (tensor cores, half the activation memory, no loss scaling needed);
    on a CPU it is bfloat16 only for the sections in :data:`CPU_BFLOAT16_SECTIONS` and only where the
    CPU computes bfloat16 natively (:func:`cpu_computes_bfloat16`), float32 elsewhere. Parameters and
    optimiser state are float32 either way.
    """
    precision = precision_setting(cfg, section)
    if precision == "auto":
        if device.type == "cuda":
            return torch.bfloat16
        on_cpu = device.type == "cpu" and section in CPU_BFLOAT16_SECTIONS and cpu_computes_bfloat16()
        return torch.bfloat16 if on_cpu else None
    return torch.bfloat16 if precision == "bfloat16" else None


def training_autocast(dtype: torch.dtype | None, device: torch.device) -> contextlib.AbstractContextManager:
    """A context running a training step in ``dtype`` (:func:`autocast_dtype`; None: float32).

    Without autocast's weight cache: the cache keeps the first low-precision copy of each weight until
    the context ends, so a step that updates a network and then runs it again (an epoch of re-id or
    Cluster Contrast updates, CR-GAN's generator step after its discriminator's) would run the
    weights as they were before the update (a re-id network then stays at chance for 30 epochs)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype, cache_enabled=False)


def provenance(cfg: dict[str, Any], seed: int | None = None, dev: torch.device | None = None,
               section: str | None = None) -> dict[str, Any]:
    """What produced a result: :func:`crgan.provenance.code_provenance`, and the device, seed, kernel
    backend, training precision (of config section ``section``'s trainer) and memory format it ran
    with, whether the CPU computes bfloat16, and whether float32 subnormals were flushed
    (:func:`flush_subnormals`)."""
    from crgan.kernels import backend
    from crgan.provenance import code_provenance

    dev = dev if dev is not None else torch.device("cpu")
    return {
        **code_provenance(cfg), "device": str(dev), "seed": seed, "kernels": backend(torch.empty(0, device=dev)),
        "training_precision": str(autocast_dtype(cfg, dev, section) or torch.float32).removeprefix("torch."),
        "memory_format": memory_format_of(cfg), "cpu_bfloat16": cpu_computes_bfloat16(),
        "subnormals_flushed": subnormals_flushed(),
    }
