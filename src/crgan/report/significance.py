"""The statistics behind a verdict: a paired t-test of per-seed-bundle effects and Holm's correction.

An effect is a difference between two runs of one seed bundle (same training seed, synthetic data
draw and mask-error draw), so the test is the one-sample t-test of those differences against 0:
t = mean / (s / sqrt(n)), n - 1 degrees of freedom, two-sided, at 95 %. Holm's step-down procedure
then asks which of a table's rows still hold when every row is a test of its own.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import special  # Student's t directly: scipy.stats costs 2 s to import

#: The two-sided error rate of one test (95 % confidence).
ALPHA = 0.05


@dataclass(frozen=True)
class PairedTest:
    """The paired t-test of ``n`` effects: their mean, standard deviation, t, the two-sided p-value,
    the critical |t| at ``ALPHA`` and the 95 % confidence interval of the mean (``None`` where one
    effect leaves no spread to judge by)."""

    n: int
    mean: float
    std: float | None
    t: float | None
    p_value: float | None
    critical_value: float | None
    interval: tuple[float, float] | None

    @property
    def significant(self) -> bool:
        """Whether the mean differs from 0 at ``ALPHA`` (two-sided)."""
        return self.p_value is not None and self.p_value < ALPHA


def paired_t_test(effects: Sequence[float], alpha: float = ALPHA) -> PairedTest:
    """The two-sided one-sample t-test of ``effects`` against 0 (``n - 1`` degrees of freedom).

    Identical effects (no spread) give p = 0 when their mean is not 0 and p = 1 when it is."""
    n = len(effects)
    if n == 0:
        raise ValueError("a t-test needs at least one effect")
    mean = statistics.fmean(effects)
    if n < 2:
        return PairedTest(n, mean, None, None, None, None, None)
    std = statistics.stdev(effects)
    critical = float(special.stdtrit(n - 1, 1 - alpha / 2))  # scipy.stats.t.ppf
    se = std / math.sqrt(n)
    if se == 0:
        t, p = (math.copysign(math.inf, mean), 0.0) if mean != 0 else (0.0, 1.0)
    else:
        t = mean / se
        p = float(2 * special.stdtr(n - 1, -abs(t)))  # 2 x scipy.stats.t.sf(|t|)
    return PairedTest(n, mean, std, t, p, critical, (mean - critical * se, mean + critical * se))


def holm(p_values: Sequence[float], alpha: float = ALPHA) -> list[bool]:
    """Holm's step-down correction: which of ``p_values`` stay significant with the family-wise
    error rate at ``alpha`` (sorted ascending, the i-th smallest is compared with alpha / (m - i);
    the first that fails stops the procedure)."""
    m = len(p_values)
    survives = [False] * m
    for rank, index in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        if p_values[index] >= alpha / (m - rank):
            break
        survives[index] = True
    return survives
