"""The plateau rule on hand-made budget curves (docs/assumptions.md, "Training budgets")."""
from __future__ import annotations

import pytest

from crgan.budgets import below_plateau, method_budget, plateau


def test_smallest_budget_within_one_point_of_the_best_with_one_seed():
    curve = {125: [40.0], 250: [47.5], 500: [48.8], 1000: [49.2]}  # one seed: the tolerance is one point
    found = plateau(curve)
    assert (found.budget, found.best, found.tolerance) == (500, 1000, 1.0) and found.at_edge


def test_a_standard_error_larger_than_a_point_widens_the_tolerance():
    # the best (1000) has values 45, 49, 53: sd 4, SE 4 / sqrt 3 = 2.31 > 1 point
    curve = {250: [44.0, 46.0, 47.0], 500: [46.0, 47.0, 48.0], 1000: [45.0, 49.0, 53.0]}
    found = plateau(curve)
    assert found.tolerance == pytest.approx(4 / 3 ** 0.5) and found.best == 1000
    assert found.budget == 500  # 47 >= 49 - 2.31 (one point would have asked for 48); 250 (45.67) is below


def test_a_curve_that_falls_after_its_peak_is_not_at_the_edge_and_ties_go_to_the_smaller_budget():
    curve = {100: [30.0], 200: [50.0], 400: [50.0], 800: [45.0]}
    found = plateau(curve)
    assert (found.best, found.budget, found.at_edge) == (200, 200, False)


def test_one_budget_per_method_over_its_pairs_and_below_plateau():
    curves = {("market1501", "dukemtmc"): {1: [10.0], 2: [20.0], 4: [20.5]},   # plateau at 2
              ("dukemtmc", "market1501"): {1: [10.0], 2: [15.0], 4: [25.0]}}   # plateau at 4
    assert method_budget(curves) == 4 and below_plateau(2, curves) and not below_plateau(4, curves)
    with pytest.raises(ValueError, match="at least one value"):
        plateau({1: []})
