"""evaluate_rank against a straightforward per-query implementation, and on hand-made cases."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from crgan.eval.ranking import evaluate_rank
from crgan.kernels._reference import rank_metrics_per_query


def random_problem(seed, m=60, n=300, ids=25, cams=4, distractors=40):
    rng = np.random.default_rng(seed)
    q_pids = rng.integers(1, ids + 5, m)  # some query ids never appear in the gallery
    g_pids = np.concatenate([rng.integers(1, ids, n - distractors), np.zeros(distractors, int)])
    q_cams, g_cams = rng.integers(0, cams, m), rng.integers(0, cams, n)
    return rng.random((m, n)), q_pids, g_pids, q_cams, g_cams


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("max_rank", [1, 10, 50])
def test_matches_reference(seed, max_rank):
    problem = random_problem(seed)
    cmc, m_ap = evaluate_rank(*problem, max_rank=max_rank, block=7)
    ref_cmc, ref_ap = rank_metrics_per_query(*problem, max_rank=max_rank)
    assert cmc.shape == (max_rank,)
    np.testing.assert_allclose(cmc, ref_cmc, atol=1e-12)
    assert m_ap == pytest.approx(ref_ap, abs=1e-12)


def test_hand_made_case():
    # query 1 (cam 0): gallery sorted by distance is [same cam same id (ignored), other id, match, match]
    dist = np.array([[0.1, 0.2, 0.3, 0.4]])
    cmc, m_ap = evaluate_rank(dist, np.array([1]), np.array([1, 2, 1, 1]), np.array([0]), np.array([0, 1, 1, 2]),
                              max_rank=3)
    np.testing.assert_allclose(cmc, [0, 1, 1])
    assert m_ap == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_queries_without_match_are_skipped_and_torch_inputs_work():
    dist = torch.tensor([[0.1, 0.9], [0.5, 0.2]])
    cmc, m_ap = evaluate_rank(dist, torch.tensor([1, 7]), torch.tensor([1, 3]), torch.tensor([0, 0]),
                              torch.tensor([1, 1]), max_rank=2)
    np.testing.assert_allclose(cmc, [1, 1])
    assert m_ap == 1.0


def test_no_valid_query_raises():
    with pytest.raises(ValueError, match="no query has a valid match"):
        evaluate_rank(np.zeros((1, 2)), np.array([1]), np.array([1, 2]), np.array([0]), np.array([0, 0]))


@settings(max_examples=80, deadline=None, derandomize=True)
@given(m=st.integers(1, 6), n=st.integers(1, 12), ids=st.integers(1, 4), cams=st.integers(1, 3),
       max_rank=st.integers(1, 15), seed=st.integers(0, 2**32 - 1))
def test_property_matches_reference_and_is_a_cmc(m, n, ids, cams, max_rank, seed):
    """Any small problem with distinct distances: the reference's CMC and mAP, a non-decreasing CMC
    in [0, 1], the same result for any gallery order, and a clear error when no query can match."""
    rng = np.random.default_rng(seed)
    dist = rng.permutation(m * n).reshape(m, n).astype(float)  # distinct, so gallery order cannot matter
    problem = (dist, rng.integers(0, ids, m), rng.integers(0, ids, n), rng.integers(0, cams, m),
               rng.integers(0, cams, n))
    _, q_pids, g_pids, q_cams, g_cams = problem
    valid = ((q_pids[:, None] == g_pids[None]) & (q_cams[:, None] != g_cams[None])).any()
    if not valid:
        with pytest.raises(ValueError, match="no query has a valid match"):
            evaluate_rank(*problem, max_rank=max_rank)
        return
    cmc, m_ap = evaluate_rank(*problem, max_rank=max_rank, block=2)
    ref_cmc, ref_ap = rank_metrics_per_query(*problem, max_rank=max_rank)
    np.testing.assert_allclose(cmc, ref_cmc, atol=1e-12)
    assert m_ap == pytest.approx(ref_ap, abs=1e-12)
    assert np.all(np.diff(cmc) >= 0) and cmc[0] >= 0 and cmc[-1] <= 1 and 0 < m_ap <= 1
    tied = dist // max(1, m * n // 3)  # few distinct values: the one tie rule (stable order) everywhere
    for got, want in zip(evaluate_rank(tied, *problem[1:], max_rank=max_rank, block=2),
                         rank_metrics_per_query(tied, *problem[1:], max_rank=max_rank)):
        np.testing.assert_allclose(got, want, atol=1e-12)
    perm = rng.permutation(n)
    cmc_p, m_ap_p = evaluate_rank(dist[:, perm], q_pids, g_pids[perm], q_cams, g_cams[perm], max_rank=max_rank)
    np.testing.assert_allclose(cmc_p, cmc, atol=1e-12)
    assert m_ap_p == pytest.approx(m_ap, abs=1e-12)
