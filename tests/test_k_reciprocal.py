"""k-reciprocal encoding and re-ranking against a straightforward implementation of Zhong et al.'s
definitions (loops over samples, sets), on small hand-made problems."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from crgan.eval.k_reciprocal import encode, feature_jaccard_distance, jaccard_distance, jaccard_from_encoding, rerank_distance


def reciprocal(rank: np.ndarray, i: int, k: int) -> set[int]:
    return {int(j) for j in rank[i, :k + 1] if i in rank[j, :k + 1]}


def reference_jaccard(dist: np.ndarray, k1: int, k2: int) -> np.ndarray:
    """Zhong et al.'s Jaccard distance, written out sample by sample."""
    n = len(dist)
    rank = np.argsort(dist, axis=1, kind="stable")
    encoding = np.zeros((n, n))
    for i in range(n):
        members = reciprocal(rank, i, k1)
        expanded = set(members)
        for j in members:
            candidate = reciprocal(rank, j, round(k1 / 2))
            if len(candidate & members) > 2 / 3 * len(candidate):
                expanded |= candidate
        weights = {j: np.exp(-dist[i, j]) for j in expanded}
        for j, w in weights.items():
            encoding[i, j] = w / sum(weights.values())
    encoding = np.stack([encoding[rank[i, :k2]].mean(axis=0) for i in range(n)]) if k2 > 1 else encoding
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            overlap = np.minimum(encoding[i], encoding[j]).sum()
            out[i, j] = max(0.0, 1 - overlap / (2 - overlap))
    return out


def clustered_features(seed: int, groups: int = 5, per_group: int = 6, dim: int = 8) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(groups, dim, generator=gen) * 2
    return torch.cat([centres[g] + 0.4 * torch.randn(per_group, dim, generator=gen) for g in range(groups)])


@pytest.mark.parametrize(("seed", "k1", "k2"), [(0, 4, 1), (1, 6, 3), (2, 10, 6)])
def test_jaccard_matches_the_definition(seed: int, k1: int, k2: int):
    x = clustered_features(seed)
    dist = torch.cdist(x, x).square()
    dist = dist / dist.max()
    expected = reference_jaccard(dist.double().numpy(), k1, k2)
    torch.testing.assert_close(jaccard_distance(dist, k1, k2).double(), torch.from_numpy(expected), atol=1e-5,
                               rtol=1e-5)
    encoding = encode(dist, k1, k2)  # the overlaps summed a few column pairs at a time: the same distances
    torch.testing.assert_close(jaccard_from_encoding(encoding, pairs_per_chunk=7), jaccard_from_encoding(encoding))


def test_jaccard_separates_clusters():
    x = clustered_features(3, groups=4, per_group=8)
    jaccard = feature_jaccard_distance(x, k1=6, k2=3)
    group = torch.arange(32) // 8
    same = group[:, None] == group[None, :]
    assert jaccard.diagonal().abs().max() < 1e-6
    assert jaccard[same].mean() < 0.6 < jaccard[~same].mean()


def reference_rerank(query: np.ndarray, gallery: np.ndarray, k1: int, k2: int, lambda_value: float) -> np.ndarray:
    """Zhong et al.'s re_ranking(q_g, q_q, g_g): squared Euclidean over query and gallery, each row
    divided by its maximum, mixed with the Jaccard distance; query x gallery part."""
    both = np.concatenate([query, gallery])
    original = ((both[:, None] - both[None]) ** 2).sum(-1)
    original = original / original.max(axis=1, keepdims=True)
    final = (1 - lambda_value) * reference_jaccard(original, k1, k2) + lambda_value * original
    return final[:len(query), len(query):]


def test_rerank_matches_the_definition_and_helps_on_clustered_data():
    x = clustered_features(4, groups=6, per_group=5)
    ids = torch.arange(30) // 5
    query_rows = torch.arange(0, 30, 5)  # one query per identity, the rest gallery
    gallery_rows = torch.tensor([i for i in range(30) if i % 5])
    query, gallery = x[query_rows], x[gallery_rows]
    out = rerank_distance(query, gallery, k1=5, k2=3, lambda_value=0.3)
    expected = reference_rerank(query.double().numpy(), gallery.double().numpy(), 5, 3, 0.3)
    torch.testing.assert_close(out.double(), torch.from_numpy(expected), atol=1e-5, rtol=1e-5)
    nearest = gallery_rows[out.argmin(dim=1)]
    assert torch.equal(ids[nearest], ids[query_rows])


def test_encoding_rows_equal_a_softmax_of_each_row_alone():
    """Rows are grouped by the size of R* for one softmax call: each row still equals, to the bit,
    the softmax over its own members alone (members as the definition builds them)."""
    x = clustered_features(4, groups=6, per_group=7)
    dist = torch.cdist(x, x).square()
    rank = np.argsort(dist.numpy(), axis=1, kind="stable")
    encoding = encode(dist, 10, 1)
    for i in range(len(x)):
        members = reciprocal(rank, i, 10)
        expanded = set(members)
        for j in members:
            candidate = reciprocal(rank, j, 5)
            if len(candidate & members) > 2 / 3 * len(candidate):
                expanded |= candidate
        columns = sorted(expanded)
        assert torch.equal(encoding[i, columns], torch.softmax(-dist[i, columns], dim=0))
        assert int((encoding[i] > 0).sum()) == len(columns)
