"""CR-GAN's training schedule (Section 4.1): constant lr for the first half of the iterations,
linearly decayed to 0 over the second half, where G is updated twice per iteration."""
from __future__ import annotations


def lr_factor(iteration: int, total: int) -> float:
    """Multiplier of the base lr at ``iteration`` (0-based) out of ``total``."""
    half = total / 2
    return 1.0 if iteration < half else max(0.0, (total - iteration) / (total - half))


def g_updates(iteration: int, total: int) -> int:
    """How many G updates iteration ``iteration`` makes: 1 in the first half, 2 in the second."""
    return 1 if iteration < total / 2 else 2
