"""k-reciprocal encoding (Zhong, Zheng, Cao, Li, CVPR 2017): the Jaccard distance between two
samples' k-reciprocal neighbour sets, used twice here.

- Re-ranking at test time (:func:`rerank_distance`, config ``eval.rerank``): query and gallery
  features together, original distances scaled by each row's maximum, final distance
  ``(1 - lambda) * Jaccard + lambda * original`` (Zhong et al.'s k1 20, k2 6, lambda 0.3).
- Pseudo-labels of Cluster Contrast (crgan.train.cluster_contrast): DBSCAN on the Jaccard
  distance of the target training features (k1 30, k2 6 as alibaba/cluster-contrast-reid).

Definitions, for a square distance matrix d over N samples with ``rank[i]`` the samples sorted by
d[i] (i itself first):
- R(i, k): the k-reciprocal neighbours of i, those j among the first k + 1 of rank[i] that have i
  among the first k + 1 of rank[j];
- R*(i): R(i, k1) expanded by R(j, round(k1 / 2)) for each j in R(i, k1) sharing more than two
  thirds of its members with R(i, k1);
- V[i, j] = exp(-d[i, j]) / sum over R*(i) of exp(-d[i, .]) for j in R*(i), else 0; then local
  query expansion: V[i] = the mean of V over the first k2 of rank[i];
- Jaccard(i, j) = 1 - m / (2 - m), m = sum over k of min(V[i, k], V[j, k]).
"""
from __future__ import annotations

import numpy as np
import torch

from crgan.kernels import pairwise_distance


def k_reciprocal_neighbours(rank: np.ndarray, k: int) -> np.ndarray:
    """R(i, k) of every i as an (N, k + 1) array in ``rank[i]``'s order, -1 where a slot is empty:
    among the first k + 1 of ``rank[i]``, those with i among their own first k + 1."""
    forward = rank[:, :k + 1]
    mutual = (rank[forward, :k + 1] == np.arange(len(rank))[:, None, None]).any(axis=2)
    return np.where(mutual, forward, -1)


def _expanded_members(reciprocal: np.ndarray, reciprocal_half: np.ndarray, rows_per_chunk: int = 512
                      ) -> tuple[np.ndarray, np.ndarray]:
    """R*(i) of every i as (rows, columns) of its members, sorted by row then column: R(i, k1) and each
    R(j, k1 / 2), j in R(i, k1), that shares more than two thirds of its members with R(i, k1)."""
    n = len(reciprocal)
    pairs = []
    for s in range(0, n, rows_per_chunk):
        members = reciprocal[s:s + rows_per_chunk]  # (B, K1), -1 where empty
        candidates = np.where(members[..., None] >= 0, reciprocal_half[members], -1)  # (B, K1, K2)
        shared = ((candidates[..., None] == members[:, None, None, :]) & (candidates[..., None] >= 0)).sum(axis=(2, 3))
        accepted = (members >= 0) & (shared > 2 / 3 * (candidates >= 0).sum(axis=2))
        first = np.arange(s, s + len(members)) * n  # flat index of each row's column 0
        pairs += [(first[:, None] + members)[members >= 0],
                  (first[:, None, None] + candidates)[accepted[..., None] & (candidates >= 0)]]
    flat = np.unique(np.concatenate(pairs))
    return flat // n, flat % n


def encode(dist: torch.Tensor, k1: int, k2: int) -> torch.Tensor:
    """The k-reciprocal encoding V (N, N) of a square distance matrix, after query expansion.

    Vectorised over samples: the reciprocal sets and their expansion are built in numpy for all
    samples at once, and the exponential weights of the rows whose R* has the same size form one
    softmax call (each row's arithmetic as a softmax of that row alone, so the result does not
    depend on how rows are grouped)."""
    n = dist.shape[0]
    k1, k2 = min(k1, n - 1), max(1, min(k2, n))
    rank = torch.argsort(dist, dim=1, stable=True).cpu().numpy()
    rows, columns = _expanded_members(k_reciprocal_neighbours(rank, k1),
                                      k_reciprocal_neighbours(rank, int(np.around(k1 / 2))))
    sizes = np.bincount(rows, minlength=n)
    starts = np.cumsum(sizes) - sizes
    encoding = torch.zeros_like(dist)
    for size in np.unique(sizes[sizes > 0]):
        same = np.flatnonzero(sizes == size)
        index = torch.as_tensor(columns[starts[same][:, None] + np.arange(size)], device=dist.device)
        where = torch.as_tensor(same, device=dist.device)[:, None]
        encoding[where, index] = torch.softmax(-dist[where, index], dim=1)
    if k2 > 1:  # a block of rows at a time: (rows, k2, N) stays small for real dataset sizes
        neighbours = torch.as_tensor(rank[:, :k2], device=dist.device)
        encoding = torch.cat([encoding[neighbours[s:s + 256]].mean(dim=1) for s in range(0, n, 256)])
    return encoding


def jaccard_from_encoding(encoding: torch.Tensor, pairs_per_chunk: int = 1 << 22) -> torch.Tensor:
    """Jaccard distance (N, N) between the rows of a k-reciprocal encoding, clipped at 0.

    min(V[i, k], V[j, k]) is non-zero only where column k holds both rows, so the overlaps are summed
    over the pairs of non-zero entries of each column (an inverted index, as Zhong et al.), a chunk of
    entries at a time: about N * support^2 terms instead of N^2 * support."""
    n = encoding.shape[0]
    column, row = encoding.T.nonzero(as_tuple=True)  # entries grouped by column
    value = encoding[row, column]
    counts = torch.bincount(column, minlength=n)
    starts = torch.cumsum(counts, 0) - counts
    partners = counts[column]  # each entry meets every entry of its column
    overlap = torch.zeros(n * n, dtype=encoding.dtype, device=encoding.device)
    ends = torch.cumsum(partners, 0)
    first_entry = 0
    while first_entry < len(column):
        last_entry = int(torch.searchsorted(ends, ends[first_entry] - partners[first_entry] + pairs_per_chunk))
        last_entry = max(last_entry, first_entry + 1)
        reps = partners[first_entry:last_entry]
        mine = torch.repeat_interleave(torch.arange(first_entry, last_entry, device=encoding.device), reps)
        offset = torch.arange(len(mine), device=encoding.device) - torch.repeat_interleave(
            torch.cumsum(reps, 0) - reps, reps)
        theirs = starts[column[mine]] + offset
        overlap.index_add_(0, row[mine] * n + row[theirs], torch.minimum(value[mine], value[theirs]))
        first_entry = last_entry
    overlap = overlap.view(n, n)
    return (1 - overlap / (2 - overlap)).clamp_(min=0)


def jaccard_distance(dist: torch.Tensor, k1: int, k2: int) -> torch.Tensor:
    """Jaccard distance of the k-reciprocal sets for a square distance matrix (N, N)."""
    return jaccard_from_encoding(encode(dist.float(), k1, k2))


def feature_jaccard_distance(features: torch.Tensor, k1: int, k2: int) -> torch.Tensor:
    """Cluster Contrast's distance: Jaccard on squared Euclidean distances of L2-normalised features
    (2 - 2 cos), which the exponential weights of the encoding use as they are."""
    unit = torch.nn.functional.normalize(features.float(), dim=1)
    return jaccard_distance((2 - 2 * unit @ unit.T).clamp_(min=0), k1, k2)


def rerank_distance(query: torch.Tensor, gallery: torch.Tensor, k1: int = 20, k2: int = 6,
                    lambda_value: float = 0.3, metric: str = "euclidean") -> torch.Tensor:
    """Zhong et al.'s re-ranked query x gallery distance: the original distances over query and
    gallery together, each row divided by its maximum, mixed with the Jaccard distance."""
    both = torch.cat([query, gallery]).float()
    original = pairwise_distance(both, both, metric).float()  # squared Euclidean, as Zhong et al.
    original = original / original.max(dim=1, keepdim=True).values.clamp_min(1e-12)
    final = (1 - lambda_value) * jaccard_distance(original, k1, k2) + lambda_value * original
    return final[:len(query), len(query):]
