"""rank_metrics (Triton kernel and torch reference) and evaluate_rank (the CPU numpy path) against the
per-query oracle, on distances with many ties (one tie rule: a stable sort)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from kernel_checks import DEVICE

from crgan import kernels
from crgan.eval.ranking import evaluate_rank
from crgan.kernels._reference import rank_metrics_per_query


def problem(m: int, n: int, ids: int, cams: int, seed: int):
    """Random distances on a coarse grid (many ties) with distractors (pid 0), junk (-1) and
    same-camera matches."""
    rng = np.random.default_rng(seed)
    q_pids = rng.integers(1, ids + 1, m)
    g_pids = rng.integers(-1, ids + 1, n)
    dist = (rng.integers(0, 64, (m, n)) / 64).astype(np.float32)
    return dist, q_pids, g_pids, rng.integers(0, cams, m), rng.integers(0, cams, n)


@pytest.mark.parametrize("backend", ["torch", "triton"])
@pytest.mark.parametrize("m,n,ids,cams,max_rank,seed", [(1, 40, 3, 2, 5, 0), (23, 1500, 30, 3, 50, 1),
                                                         (9, 2049, 4, 6, 10, 2)])
def test_matches_the_oracle_with_ties(monkeypatch, backend, m, n, ids, cams, max_rank, seed):
    if backend == "triton":
        pytest.importorskip("triton")
    monkeypatch.setenv("CRGAN_KERNELS", backend)
    dist, *labels = problem(m, n, ids, cams, seed)
    want_cmc, want_map = rank_metrics_per_query(dist, *labels, max_rank=max_rank)
    for cmc, m_ap in (evaluate_rank(dist, *labels, max_rank=max_rank),
                      kernels.rank_metrics(torch.from_numpy(dist).to(DEVICE), *labels, max_rank=max_rank)):
        np.testing.assert_allclose(cmc, want_cmc, rtol=0, atol=1e-12)
        assert m_ap == pytest.approx(want_map, rel=1e-6)


def clustered_problem(m: int, n: int, ids: int, cams: int, dim: int, seed: int):
    """Distances between features that cluster by identity, as a trained network's do (identity
    centres plus a camera shift and noise), rounded to float16 steps so near-ties become ties;
    identities hold many gallery items (more than the kernel's candidate tile)."""
    gen = torch.Generator().manual_seed(seed)
    centres, shifts = torch.randn(ids + 1, dim, generator=gen), 0.3 * torch.randn(cams, dim, generator=gen)
    q_pids, g_pids = torch.randint(1, ids + 1, (m,), generator=gen), torch.randint(0, ids + 1, (n,), generator=gen)
    q_cams, g_cams = torch.randint(0, cams, (m,), generator=gen), torch.randint(0, cams, (n,), generator=gen)

    def features(pids, cams_):
        noise = 0.6 * torch.randn(len(pids), dim, generator=gen)
        return torch.nn.functional.normalize(centres[pids] + shifts[cams_] + noise, dim=1)

    dist = kernels.pairwise_distance(features(q_pids, q_cams), features(g_pids, g_cams)).half().float()
    return dist.numpy(), q_pids.numpy(), g_pids.numpy(), q_cams.numpy(), g_cams.numpy()


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_matches_the_oracle_on_clustered_features(monkeypatch, backend):
    """Exact CMC at every rank and mAP within 1e-6 where features cluster as trained ones do."""
    if backend == "triton":
        pytest.importorskip("triton")
    monkeypatch.setenv("CRGAN_KERNELS", backend)
    dist, *labels = clustered_problem(40, 700, 12, 4, 32, 3)
    want_cmc, want_map = rank_metrics_per_query(dist, *labels, max_rank=50)
    cmc, m_ap = kernels.rank_metrics(torch.from_numpy(dist).to(DEVICE), *labels, max_rank=50)
    np.testing.assert_array_equal(cmc, want_cmc)
    assert abs(m_ap - want_map) < 1e-6


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_nan_distances_rank_last(monkeypatch, backend):
    """A NaN distance ranks after every number, as a sort puts it (the kernel then hands over to the sort)."""
    if backend == "triton":
        pytest.importorskip("triton")
    monkeypatch.setenv("CRGAN_KERNELS", backend)
    dist, *labels = problem(5, 300, 6, 3, 4)
    dist[:, ::7] = np.nan
    want_cmc, want_map = rank_metrics_per_query(dist, *labels, max_rank=20)
    cmc, m_ap = kernels.rank_metrics(torch.from_numpy(dist).to(DEVICE), *labels, max_rank=20)
    np.testing.assert_array_equal(cmc, want_cmc)
    assert abs(m_ap - want_map) < 1e-6


def test_hand_made_case(monkeypatch):
    """Junk (same id, same camera) is skipped; AP counts kept ranks only."""
    monkeypatch.setenv("CRGAN_KERNELS", "torch")
    dist = torch.tensor([[0.1, 0.2, 0.3, 0.4]])
    cmc, m_ap = kernels.rank_metrics(dist, [1], [1, 2, 1, 1], [0], [0, 1, 1, 2], max_rank=3)
    assert cmc.tolist() == [0.0, 1.0, 1.0]  # the first item is junk, the match is 2nd among kept
    assert m_ap == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_no_valid_query_and_bad_labels():
    with pytest.raises(ValueError, match="no query has a valid match"):
        kernels.rank_metrics(torch.zeros(1, 2), [1], [1, 2], [0], [0, 0])
    with pytest.raises(ValueError, match="g_pids must have 2 entries"):
        kernels.rank_metrics(torch.zeros(1, 2), [1], [1, 2, 3], [0], [0, 0])


def test_matches_the_oracle_on_features_of_a_trained_network(synthetic_domain, tmp_path, monkeypatch):
    """The GPU ranking's condition on a trained network's features (a re-id model trained briefly on
    the benchmark, its query and gallery features, torchreid's squared Euclidean distance): CMC
    equal at every rank and mAP within 1e-6 of the per-query oracle, LMP and GAP features alike."""
    pytest.importorskip("triton")
    from test_reid import CFG

    from crgan.data.datasets import load_dataset, records_of
    from crgan.data.draws import make_loader
    from crgan.data.images import ReidImages
    from crgan.eval.features import extract
    from crgan.models.store import load_network
    from crgan.train.reid import train_reid

    sizes = {"train_ids": 8, "test_ids": 25, "distractor_ids": 6, "junk_images": 4}
    index = load_dataset("market1501", synthetic_domain("market1501", domains={"market1501": sizes}))
    torch.manual_seed(0)
    train_reid(index, CFG, 0, tmp_path / "model.pt", torch.device("cpu"))
    model, _ = load_network(tmp_path / "model.pt", torch.device("cpu"))
    features, labels = {}, []
    for split in ("query", "gallery"):
        records = records_of(index, split)
        loader = make_loader(ReidImages(index["root"], records, 32, 16), 64, train=False, workers=0)
        features[split] = extract(model, loader, 2, torch.device("cpu"))
        labels += [np.array([r.pid for r in records]), np.array([r.camid for r in records])]
    q_pids, q_cams, g_pids, g_cams = labels
    monkeypatch.setenv("CRGAN_KERNELS", "triton")
    for pooling in ("gap", "lmp"):
        dist = kernels.pairwise_distance(features["query"][pooling], features["gallery"][pooling],
                                         precision="ieee").cpu()
        want_cmc, want_map = rank_metrics_per_query(dist.numpy(), q_pids, g_pids, q_cams, g_cams, max_rank=20)
        cmc, m_ap = kernels.rank_metrics(dist.to(DEVICE), q_pids, g_pids, q_cams, g_cams, max_rank=20)
        np.testing.assert_array_equal(cmc, want_cmc)
        assert abs(m_ap - want_map) < 1e-6
