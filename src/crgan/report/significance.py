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
    the critical |t| at ``alpha`` and the confidence interval of the mean at 1 - ``alpha`` (``None``
    where the effects leave no spread to judge by: one effect, identical effects, or a value that is
    not a number)."""

    n: int
    mean: float
    std: float | None
    t: float | None
    p_value: float | None
    critical_value: float | None
    interval: tuple[float, float] | None
    alpha: float = ALPHA

    @property
    def significant(self) -> bool:
        """Whether the mean differs from 0 at the test's ``alpha`` (two-sided)."""
        return self.p_value is not None and self.p_value < self.alpha


def paired_t_test(effects: Sequence[float], alpha: float = ALPHA) -> PairedTest:
    """The two-sided one-sample t-test of ``effects`` against 0 (``n - 1`` degrees of freedom).

    No test (p ``None``) where the effects cannot be judged: one effect; identical effects (no spread:
    t would be infinite on two bundles); an effect that is not a finite number (its mean is NaN)."""
    n = len(effects)
    if n == 0:
        raise ValueError("a t-test needs at least one effect")
    if not all(math.isfinite(effect) for effect in effects):
        return PairedTest(n, math.nan, None, None, None, None, None, alpha)
    mean = statistics.fmean(effects)
    std = statistics.stdev(effects) if n > 1 else 0.0
    if std == 0:
        return PairedTest(n, mean, std if n > 1 else None, None, None, None, None, alpha)
    critical = float(special.stdtrit(n - 1, 1 - alpha / 2))  # scipy.stats.t.ppf
    se = std / math.sqrt(n)
    t = mean / se
    p = float(2 * special.stdtr(n - 1, -abs(t)))  # 2 x scipy.stats.t.sf(|t|)
    return PairedTest(n, mean, std, t, p, critical, (mean - critical * se, mean + critical * se), alpha)


def p_text(p: float, alpha: float = ALPHA) -> str:
    """``p`` in three significant digits, or more where three would round it across ``alpha``
    (0.04997 is "0.04997", never "0.05" beside "< 0.05")."""
    for digits in range(3, 10):
        text = f"{p:.{digits}g}"
        if (float(text) < alpha) == (p < alpha):
            return text
    return repr(p)


def holm(p_values: Sequence[float], alpha: float = ALPHA) -> list[bool]:
    """Holm's step-down correction: which of ``p_values`` stay significant with the family-wise
    error rate at ``alpha`` (sorted ascending, the i-th smallest is compared with alpha / (m - i);
    the first that fails stops the procedure). A p-value that is not a number never survives and
    sorts last."""
    m = len(p_values)
    survives = [False] * m
    order = sorted(range(m), key=lambda i: (math.isnan(p_values[i]), p_values[i] if not math.isnan(p_values[i]) else 0))
    for rank, index in enumerate(order):
        if not p_values[index] < alpha / (m - rank):
            break
        survives[index] = True
    return survives


def power(effect: float, std: float, n: int, alpha: float = ALPHA) -> float:
    """The chance that the two-sided paired t-test of ``n`` bundles at ``alpha`` decides a true mean
    effect ``effect`` whose per-bundle effects spread by ``std`` (the noncentral t distribution)."""
    if n < 2 or std <= 0:
        raise ValueError("power needs two or more bundles and a positive spread")
    critical = float(special.stdtrit(n - 1, 1 - alpha / 2))
    shift = effect / (std / math.sqrt(n))
    return float(1 - special.nctdtr(n - 1, shift, critical) + special.nctdtr(n - 1, shift, -critical))


def smallest_decided_effect(std: float, n: int, alpha: float = ALPHA, wanted: float = 0.8) -> float:
    """The smallest mean effect the paired t-test of ``n`` bundles at ``alpha`` decides with chance
    ``wanted``, for per-bundle effects spread by ``std`` (bisection on :func:`power`, to 0.001 of std)."""
    low, high = 0.0, std
    while power(high, std, n, alpha) < wanted:
        low, high = high, 2 * high
    while high - low > 1e-3 * std:
        middle = (low + high) / 2
        low, high = (middle, high) if power(middle, std, n, alpha) < wanted else (low, middle)
    return high
