"""Image-quality metrics (Tables 1 and 4): LPIPS, FID and KID, with ImageNet weights the tests make
themselves and with the named substitute."""
from __future__ import annotations

import warnings

import lpips
import numpy as np
import pytest
import torch
from torchvision.models import alexnet

from crgan.errors import WeightsError
from crgan.eval import quality
from crgan.eval.quality_nets import fid_inception_net, quality_nets
from crgan.models.reid import build_reid
from crgan.records import QualityRecord
from crgan.report.tables import build_table
from crgan.weights import ALEXNET_HUB_FILES

CPU = torch.device("cpu")
QC = {"alexnet": None, "inception": None}


def images(n: int, seed: int, h: int = 64, w: int = 32) -> torch.Tensor:
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def substitute():
    torch.manual_seed(0)
    model, _ = build_reid({"arch": "compact", "width": 8, "last_stride": 1}, num_classes=5)
    return model, "compact re-id network (test)"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache of the test's own."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    return folder


def save_alexnet(path) -> torch.nn.Module:
    torch.manual_seed(1)
    net = alexnet(weights=None)
    torch.save(net.state_dict(), path)
    return net


def save_fid_inception(path) -> None:
    torch.manual_seed(2)
    torch.save(fid_inception_net().state_dict(), path)


def test_without_imagenet_weights_both_metrics_use_the_named_substitute(hub):
    lp, fid = quality_nets(QC, substitute, CPU)
    assert (lp.metric, fid.metric) == ("lpips_substitute", "fid_substitute")
    assert lp.backbone == fid.backbone == "substitute: compact re-id network (test)"
    assert len(lp.layers(images(2, 0))) == 5 and fid.features(images(3, 0)).shape == (3, 64)


def test_lpips_with_alexnet_from_the_hub_cache_equals_the_lpips_package(hub):
    tv = save_alexnet(hub / ALEXNET_HUB_FILES[0])
    lp, _ = quality_nets(QC, substitute, CPU)
    assert (lp.metric, lp.backbone) == ("lpips", "imagenet-alexnet")
    # The reference: lpips' own module, its AlexNet slices filled module by module from torchvision's.
    ref = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False).eval()
    for s, ks in enumerate([range(0, 2), range(2, 5), range(5, 8), range(8, 10), range(10, 12)], 1):
        for k in ks:
            getattr(ref.net, f"slice{s}")._modules[str(k)].load_state_dict(tv.features[k].state_dict())
    a, b = images(4, 1), images(4, 2)
    with torch.no_grad():
        ours = quality.lpips_between(lp, lp.layers(a), lp.layers(b))[""]
        theirs = ref(a, b).flatten()
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_fid_with_inception_from_a_configured_file(hub, tmp_path):
    save_fid_inception(tmp_path / "inception.pth")
    _, fid = quality_nets({**QC, "inception": str(tmp_path / "inception.pth")}, substitute, CPU)
    assert (fid.metric, fid.backbone) == ("fid", "imagenet-inception")
    # The reference: pytorch-fid's own InceptionV3, its one download call answered with the same file.
    from pytorch_fid import inception as fid_inception

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fid_inception, "load_state_dict_from_url", lambda *a, **k: torch.load(tmp_path / "inception.pth"))
        ref = fid_inception.InceptionV3([3]).eval()
    x = images(2, 0)
    with torch.no_grad():
        ours = fid.features(x)
        theirs = ref((x + 1) / 2)[0].flatten(1)
    assert ours.shape == (2, 2048)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_weights_of_the_wrong_architecture_or_a_missing_file_are_named(hub, tmp_path):
    torch.save(build_reid({"arch": "compact", "width": 8, "last_stride": 1}, 3)[0].state_dict(), tmp_path / "x.pth")
    with pytest.raises(WeightsError, match="x.pth does not fit torchvision AlexNet"):
        quality_nets({**QC, "alexnet": str(tmp_path / "x.pth")}, substitute, CPU)
    with pytest.raises(WeightsError, match="x.pth does not fit pytorch-fid's Inception"):
        quality_nets({**QC, "inception": str(tmp_path / "x.pth")}, substitute, CPU)
    with pytest.raises(WeightsError, match="nothere.pth does not exist"):
        quality_nets({**QC, "alexnet": str(tmp_path / "nothere.pth")}, substitute, CPU)


def test_diversity_is_zero_for_identical_renderings_and_positive_otherwise(hub):
    lp, _ = quality_nets(QC, substitute, CPU)
    same = images(1, 0).expand(3, 4, -1, -1, -1).contiguous()
    assert quality.lpips_diversity(lp, same) == {"": 0.0}
    assert quality.lpips_diversity(lp, images(12, 1).view(3, 4, 3, 64, 32))[""] > 0.1


def test_frechet_and_kernel_distances_on_known_gaussians():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4000, 4)), rng.normal(size=(4000, 4))
    assert quality.frechet_distance(a, b) < 0.02
    assert quality.frechet_distance(a, b + 2.0) == pytest.approx(4 * 4.0, rel=0.05)  # |mean shift|^2
    assert abs(quality.kernel_inception_distance(a, b)) < 0.01
    assert quality.kernel_inception_distance(a, b + 2.0) > 1.0


@pytest.mark.parametrize("dimensions, samples", [(4, 50), (16, 8)])  # 16 x 8: singular covariances
def test_frechet_distance_equals_pytorch_fids(dimensions, samples):
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(dimensions)
    a, b = rng.normal(size=(samples, dimensions)), rng.normal(0.3, 1.2, size=(samples, dimensions))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = calculate_frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
        assert quality.frechet_distance(a, b) == pytest.approx(float(theirs), rel=1e-9, abs=1e-9)


def test_measure_end_to_end_on_a_tiny_selection(hub):
    lp, fid = quality_nets(QC, substitute, CPU)
    sel = quality.Selection(images(3, 0), half_masks(3), images(12, 1).view(3, 4, 3, 64, 32),
                            torch.ones(3, 4, 1, 64, 32), images(10, 2), images(10, 4), torch.ones(10, 1, 64, 32),
                            images(10, 3))
    data, shown = quality.measure(None, sel, lp, fid, batch=5, dev=CPU)
    assert set(data) == {f"lpips{kind}{region}_substitute" for kind in ("", "_diversity")
                         for region in ("", "_person", "_background")} | {"fid_substitute", "kid_substitute"}
    assert shown is sel.xt and data["lpips_substitute"] > 0.1 and data["lpips_diversity_substitute"] > 0.1
    copy, _ = quality.measure(lambda xs, xt, mt: xs, sel, lp, fid, batch=5, dev=CPU)
    assert copy["lpips_substitute"] == 0.0 and copy["lpips_diversity_substitute"] == 0.0
    ctx, out = quality.measure(lambda xs, xt, mt: xt, sel, lp, fid, batch=5, dev=CPU)
    assert out.shape == (3, 4, 3, 64, 32) and ctx["lpips_diversity_substitute"] > 0
    # rendering each source as its target instance: LPIPS equals the data row's (same pairs)
    assert ctx["lpips_substitute"] == pytest.approx(data["lpips_substitute"], rel=1e-6)
    # FID is on the distinct (source, one context) renderings: returning the context gives the
    # contexts' FID, returning the source gives the data row's (real source images)
    assert copy["fid_substitute"] == pytest.approx(data["fid_substitute"], rel=1e-6)
    assert all(np.isfinite(v) for v in {**data, **copy, **ctx}.values())


def half_masks(n: int) -> torch.Tensor:
    """Person masks covering the upper half of each image."""
    masks = torch.zeros(n, 1, 64, 32)
    masks[:, :, :32] = 1
    return masks


def test_lpips_by_region_sees_which_part_a_renderer_changed(hub):
    """A renderer that keeps the source person and replaces the background with the context moves
    the background far and the person little; one that does the opposite, the reverse."""
    lp, fid = quality_nets(QC, substitute, CPU)
    ms = half_masks(3)
    sel = quality.Selection(images(3, 0), ms, images(12, 1).view(3, 4, 3, 64, 32), torch.ones(3, 4, 1, 64, 32),
                            images(10, 2), images(10, 4), torch.ones(10, 1, 64, 32), images(10, 3))
    person = ms.repeat_interleave(4, dim=0)

    def keep_person(xs, xt, mt):  # (FID's distinct renderings, another count, have no region: all person)
        m = person[:len(xs)] if len(xs) == len(person) else torch.ones_like(xs[:, :1])
        return xs * m + xt * (1 - m)

    def change_person(xs, xt, mt):
        m = person[:len(xs)] if len(xs) == len(person) else torch.ones_like(xs[:, :1])
        return xt * m + xs * (1 - m)

    kept, _ = quality.measure(keep_person, sel, lp, fid, batch=len(person), dev=CPU)
    changed, _ = quality.measure(change_person, sel, lp, fid, batch=len(person), dev=CPU)
    assert kept["lpips_background_substitute"] > 2 * kept["lpips_person_substitute"]
    assert changed["lpips_person_substitute"] > 2 * changed["lpips_background_substitute"]
    assert kept["lpips_diversity_background_substitute"] > 2 * kept["lpips_diversity_person_substitute"]


def test_quality_rows_keep_the_substitute_name_and_quote_the_paper():
    def record(method: str, seed: int, v: float) -> QualityRecord:
        return QualityRecord(method, "market1501", "dukemtmc", seed, True, {"lpips_substitute": v, "fid_substitute": 2 * v},
                             {"lpips": "substitute: x", "fid": "substitute: x"}, {}, None, {})

    records = [record(m, s, v + s) for m, v in (("source-target", 1.0), ("wo_dual", 0.0), ("crgan", 0.5)) for s in (0, 1)]
    rows = build_table(1, records, {"pairs": [["market1501", "dukemtmc"]]})
    crgan = {r["metric"]: r for r in rows if r["method"] == "CR-GAN"}
    assert crgan["lpips_substitute"]["value"] == "1.0000" and crgan["lpips_substitute"]["paper_value"] == "0.281"
    assert crgan["lpips_substitute"]["std"] == "0.7071" and crgan["lpips_substitute"]["seeds"] == "0;1"
    assert "not on the paper's scale" in crgan["fid_substitute"]["notes"]
    assert crgan["fid_substitute"]["metric_backbone"] == "substitute: x"
    assert {r["method"] for r in rows} == {"source-target data", "w/o dual condition", "CR-GAN"}
    with pytest.raises(ValueError, match="no image-quality result for spgan"):
        build_table(4, records, {"pairs": [["market1501", "dukemtmc"]]})
