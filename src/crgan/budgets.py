"""Training budgets by one rule: each method's plateau on its validation curve (docs/assumptions.md,
"Training budgets").

A budget curve is a method's validation rank-1 (mean over seeds) at several budgets, each a full
training schedule at that budget. The plateau budget is the smallest whose mean is within a
tolerance of the best measured: one standard error of the best budget's mean, or one point of rank-1,
whichever is larger. A method trained on several pairs gets the largest of its pairs' plateau budgets,
so it is at its plateau on every pair; a configured budget below it is marked "below plateau".
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: The smallest tolerance, in points of rank-1: differences below it are noise on these test sets.
MIN_TOLERANCE = 1.0


@dataclass(frozen=True)
class Plateau:
    """Where a curve plateaus: the chosen budget, the best measured one, its mean validation rank-1,
    and the tolerance the rule allowed."""

    budget: int
    best: int
    best_mean: float
    tolerance: float
    largest: int

    @property
    def at_edge(self) -> bool:
        """The best is the largest budget measured: the curve may still rise beyond it."""
        return self.best == self.largest


def plateau(curve: Mapping[int, Sequence[float]]) -> Plateau:
    """The plateau of one curve (``{budget: [validation rank-1 per seed]}``): the smallest budget whose
    mean is within ``max(SE of the best budget's mean, MIN_TOLERANCE)`` of the best mean (ties of the
    best go to the smaller budget)."""
    if not curve or any(not values for values in curve.values()):
        raise ValueError("a budget curve needs at least one value at each of at least one budget")
    means = {budget: statistics.fmean(values) for budget, values in curve.items()}
    best = min(means, key=lambda budget: (-means[budget], budget))
    values = curve[best]
    error = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    tolerance = max(error, MIN_TOLERANCE)
    # rounded: a gap of exactly the tolerance (32.2 - 31.2 = 1.0000000000000036 in floats) is within it
    chosen = min(budget for budget, mean in means.items() if round(means[best] - mean, 9) <= tolerance)
    return Plateau(chosen, best, means[best], tolerance, max(curve))


def method_budget(curves: Mapping[tuple[str, str], Mapping[int, Sequence[float]]]) -> int:
    """One budget for a method over its pairs: the largest of the pairs' plateau budgets."""
    if not curves:
        raise ValueError("no budget curves to choose from")
    return max(plateau(curve).budget for curve in curves.values())


def below_plateau(configured: int, curves: Mapping[tuple[str, str], Mapping[int, Sequence[float]]]) -> bool:
    """Whether a configured budget is below the method's plateau budget."""
    return configured < method_budget(curves)
