"""Process setup: the ``deterministic`` switch and the memory format (config keys), provenance, and
which commands import torch."""
from __future__ import annotations

import subprocess
import sys

import torch

from crgan import runtime


def few_steps(deterministic: bool) -> list[torch.Tensor]:
    """A small conv net trained a few steps, with a scatter-add (an op with an atomic CUDA kernel)."""
    runtime.setup(1, 0, deterministic)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 6 * 6, 5))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(3):
        x = torch.randn(6, 3, 8, 8)
        features = net(x)
        pooled = torch.zeros(2, 5).index_add(0, torch.tensor([0, 1, 0, 1, 0, 1]), features)
        opt.zero_grad()
        pooled.square().mean().backward()
        opt.step()
    return [p.detach().clone() for p in net.parameters()]


def test_the_switch_sets_the_kernels_and_leaves_cpu_results_alone():
    """On a CPU both settings train to the same bits (on a GPU they may differ in the last bits)."""
    try:
        fast = few_steps(False)
        assert not torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.benchmark
        exact = few_steps(True)
        assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark
        assert not torch.utils.deterministic.fill_uninitialized_memory
    finally:
        runtime.setup(1, 0)
    assert all(torch.equal(a, b) for a, b in zip(fast, exact))


def trained_compact(memory_format: str, width: int = 16) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """A compact re-id network trained three Adam steps in ``memory_format`` (fixed data): the first
    step's gradients and the final weights."""
    from crgan.models.reid import build_reid

    torch.manual_seed(0)
    net, _ = build_reid({"arch": "compact", "width": width, "last_stride": 1}, 10)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    runtime.conv_layout(net, {"memory_format": memory_format})
    images = torch.randn(16, 3, 32, 16, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(16) % 10
    gradients = []
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(images), labels).backward()
        gradients = gradients or [p.grad.clone() for p in net.parameters()]
        opt.step()
    return gradients, [p.detach().clone() for p in net.parameters()]


def test_channels_last_repeats_itself_and_agrees_with_contiguous(one_thread):
    """The channels-last layout gives the same bits run after run, and the contiguous layout's
    gradients up to the order of float sums."""
    (first_gradients, first), (_, again) = trained_compact("channels_last"), trained_compact("channels_last")
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    for a, b in zip(first_gradients, trained_compact("contiguous")[0]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_channels_last_leaves_networks_with_narrow_strided_pointwise_convolutions_alone():
    """Wide networks take channels-last weights; one with a strided 1x1 convolution over fewer than
    16 channels (torch's oneDNN path corrupts memory there) stays contiguous; 'contiguous' never converts."""
    from crgan.models.reid import build_reid

    wide, _ = build_reid({"arch": "compact", "width": 16, "last_stride": 1}, 10)
    narrow, _ = build_reid({"arch": "compact", "width": 4, "last_stride": 1}, 10)
    stem, channels_last = "backbone.stem.0.weight", {"memory_format": "channels_last"}
    assert runtime.conv_layout(wide, channels_last).get_parameter(stem).is_contiguous(memory_format=torch.channels_last)
    assert runtime.conv_layout(narrow, channels_last).get_parameter(stem).is_contiguous()
    plain, _ = build_reid({"arch": "compact", "width": 16, "last_stride": 1}, 10)
    assert runtime.conv_layout(plain, {"memory_format": "contiguous"}).get_parameter(stem).is_contiguous()


def test_a_trainer_section_may_set_its_own_precision_and_auto_asks_the_cpu(monkeypatch):
    """A section's own key overrides the run-wide one; ``auto`` on a CPU is bfloat16 only for a cleared
    section on a CPU that computes it, and always on CUDA."""
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    cfg = {"precision": "float32", "crgan": {"precision": "bfloat16"}, "reid": {}}
    assert runtime.autocast_dtype(cfg, cpu, "crgan") == torch.bfloat16
    assert runtime.autocast_dtype(cfg, cpu, "reid") is None and runtime.autocast_dtype(cfg, cpu) is None
    monkeypatch.setattr(runtime, "CPU_BFLOAT16_SECTIONS", frozenset({"crgan"}))
    for computes, expected in ((True, torch.bfloat16), (False, None)):
        monkeypatch.setattr(runtime, "cpu_computes_bfloat16", lambda computes=computes: computes)
        assert runtime.autocast_dtype({"precision": "auto"}, cpu, "crgan") == expected
        assert runtime.autocast_dtype({"precision": "auto"}, cpu, "reid") is None
        assert runtime.autocast_dtype({"precision": "auto"}, cuda, "reid") == torch.bfloat16
    record = runtime.provenance({"precision": "auto", "crgan": {"precision": "bfloat16"}}, 0, cpu, "crgan")
    assert record["training_precision"] == "bfloat16"


def test_a_step_that_updates_a_network_then_runs_it_again_sees_the_update_under_bfloat16():
    """The training autocast keeps no weight cache: an epoch-long step (re-id, Cluster Contrast) or a
    generator step after its discriminator's runs the updated weights, as float32 does."""
    torch.manual_seed(0)
    layer, inputs = torch.nn.Linear(4, 4), torch.randn(2, 4)
    opt = torch.optim.SGD(layer.parameters(), lr=0.5)
    with runtime.training_autocast(torch.bfloat16, torch.device("cpu")):
        before = layer(inputs)
        before.float().square().mean().backward()
        opt.step()
        after = layer(inputs)
    assert before.dtype == torch.bfloat16 and not torch.equal(before, after)
    with runtime.training_autocast(None, torch.device("cpu")):
        assert layer(inputs).dtype == torch.float32


def test_provenance_records_the_training_precision_and_layout():
    record = runtime.provenance({"precision": "float32", "memory_format": "contiguous"}, 3)
    assert record["training_precision"] == "float32" and record["memory_format"] == "contiguous"
    assert record["seed"] == 3 and isinstance(record["cpu_bfloat16"], bool)
    assert runtime.provenance({}, 0)["memory_format"] == "channels_last"
    assert record["cpu"] and isinstance(record["subnormals_flushed"], bool)


def test_setup_flushes_float32_subnormals_on_every_thread():
    """A fresh process set up as a job is: a product in the subnormal range is zero on both threads
    (a worker thread started before the setting would keep computing subnormals), the provenance
    says so, and a normal float32 product is untouched."""
    code = ("import torch; from crgan import runtime; runtime.setup(2, 0); "
            "tiny = torch.full((1 << 20,), 1e-30); "
            "print(runtime.flush_subnormals(), int((tiny * 1e-10).count_nonzero()), float((tiny * 1e-6)[0]) > 0, "
            "runtime.provenance({}, 0)['subnormals_flushed'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    cpu_can, *rest = out.split()
    assert rest == (["0", "True", "True"] if cpu_can == "True" else ["1048576", "True", "False"])


def test_table_claims_and_report_commands_start_without_torch():
    """The command line, tables, claims, the report and what the Snakefile reads when Snakemake parses
    it import neither torch nor matplotlib nor scipy.stats (each costs seconds per job or per
    Snakemake call); the commands that run networks import torch themselves."""
    code = ("import sys, crgan.cli, crgan.report.tables, crgan.report.claims, crgan.report.html, crgan.preflight, "
            "crgan.budget_curves, crgan.gap_sweep, crgan.plan, crgan.config; "
            "print(sorted(m for m in ('torch', 'matplotlib', 'scipy.stats') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
