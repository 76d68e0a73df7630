"""Step loaders: batch i depends on (seed, stream, i) alone, whatever the workers and wherever a run resumes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from conftest import CPU
from PIL import Image

from crgan.data.datasets import load_dataset, records_of
from crgan.data.draws import StepBatches, Stream, epoch_of, make_loader, step_generator, uniform_batches, uniform_draw
from crgan.data.images import DecodedImages, MaskedImages, ReidImages


def masked(synthetic_domain, train: bool = True) -> MaskedImages:
    index = load_dataset("market1501", synthetic_domain("market1501"))
    return MaskedImages(index["root"], None, records_of(index, "train"), 32, 16, train=train)


def test_batches_are_the_same_with_workers_and_after_a_resume(synthetic_domain):
    ds = masked(synthetic_domain)
    in_process = [uniform_batches(ds, 6, 3, 0, {"workers": 0}, CPU)(i) for i in range(4)]
    with_workers = StepBatches(ds, uniform_draw(len(ds), 6), 3, 0, 2, CPU)
    for i, want in enumerate(in_process):
        for got, expected in zip(with_workers(i), want):
            assert torch.equal(got, expected)
    resumed = uniform_batches(ds, 6, 3, 0, {"workers": 0}, CPU)
    for got, expected in zip(resumed(2), in_process[2]):  # a loader asked for step 2 first starts there
        assert torch.equal(got, expected)


def test_a_batch_carries_the_indices_its_step_drew(synthetic_domain):
    ds = masked(synthetic_domain)
    draw = uniform_draw(len(ds), 6)
    batches = StepBatches(ds, draw, 3, Stream.TAUDL, 0, CPU)
    for step in range(3):
        batch = batches(step)
        assert batch.drawn == draw(step_generator(3, Stream.TAUDL, step))
        assert batch[2].tolist() == [ds[i][2] for i in batch.drawn]  # the labels of those very items


def test_streams_and_steps_draw_differently(synthetic_domain):
    ds = masked(synthetic_domain)
    draw = uniform_draw(len(ds), 8)
    assert draw(step_generator(0, 0, 5)) == draw(step_generator(0, 0, 5))
    assert len({tuple(draw(step_generator(0, stream, step))) for stream in (0, 1) for step in (0, 1)}) == 4


def test_item_augmentation_follows_its_seed_and_leaves_the_global_stream(synthetic_domain):
    index = load_dataset("market1501", synthetic_domain("market1501"))
    ds = ReidImages(index["root"], records_of(index, "train"), 32, 16, train=True)
    state = torch.get_rng_state()
    first = ds[(0, 7)][0]
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(ds[(0, 7)][0], first)
    assert any(not torch.equal(ds[(0, seed)][0], first) for seed in range(8))  # flips and crops do vary
    gan_images = masked(synthetic_domain)
    plain = masked(synthetic_domain, train=False)[0][0]
    mirrored = plain.flip(-1)
    variants = [gan_images[(0, seed)][0] for seed in range(16)]
    assert {torch.equal(v, plain) for v in variants} == {True, False}
    assert all(torch.equal(v, plain) or torch.equal(v, mirrored) for v in variants)


def test_random_erasing_blanks_a_patch_with_the_mean(synthetic_domain):
    index = load_dataset("market1501", synthetic_domain("market1501"))
    records = records_of(index, "train")
    erased = ReidImages(index["root"], records, 32, 16, train=True, erasing=1.0)[(0, 5)][0]
    plain = ReidImages(index["root"], records, 32, 16, train=True, erasing=0.0)[(0, 5)][0]
    blank = (erased == 0).all(0)  # the ImageNet mean is 0 after normalising, in every channel
    assert blank.sum() >= 0.02 * blank.numel() and not (plain == 0).all(0).any()


def test_kept_images_are_the_decoded_ones_and_the_budget_holds(synthetic_domain):
    index = load_dataset("market1501", synthetic_domain("market1501"))
    records = records_of(index, "train")
    kept = ReidImages(index["root"], records, 32, 16, train=True, erasing=0.5)
    first = [kept[(i, 11)][0] for i in range(4)]
    assert len(kept.decoded.items) == 4
    again = [kept[(i, 11)][0] for i in range(4)]  # from memory now
    none_kept = ReidImages(index["root"], records, 32, 16, train=True, erasing=0.5)
    none_kept.decoded = DecodedImages(budget_mb=0)
    decoded = [none_kept[(i, 11)][0] for i in range(4)]
    assert not none_kept.decoded.items
    for a, b, c in zip(first, again, decoded):
        assert torch.equal(a, b) and torch.equal(a, c)
    gan_images = masked(synthetic_domain)
    gan_images.decoded = DecodedImages(budget_mb=2 * 4 * 32 * 16 / 2 ** 20)  # room for two items
    for i in range(3):
        gan_images[i]
    assert sorted(gan_images.decoded.items) == [0, 1] and gan_images.decoded.used == 2 * 4 * 32 * 16
    assert torch.equal(gan_images[(2, 3)][0], masked(synthetic_domain)[(2, 3)][0])


def test_a_new_draw_restarts_the_same_workers_with_the_same_batches(synthetic_domain):
    """Cluster Contrast redraws every epoch: with persisting workers, the batches after a redraw are
    those of a fresh loader made with that draw (and asked for the same step)."""
    ds = masked(synthetic_domain)
    first, second = uniform_draw(len(ds), 6), uniform_draw(len(ds) // 2, 4)
    persisting = StepBatches(ds, first, 3, 0, 2, CPU)
    for step in range(2):
        persisting(step)
    workers = persisting.loader._iterator._workers
    persisting.redraw(second)
    fresh = StepBatches(ds, second, 3, 0, 0, CPU)
    for step in (2, 3):
        for got, expected in zip(persisting(step), fresh(step)):
            assert torch.equal(got, expected)
    assert persisting.loader._iterator._workers is workers  # the same processes


def test_epochs_of_a_worker_loader_do_not_depend_on_workers_or_resumes(synthetic_domain):
    """With worker processes a re-id loader draws epoch e (order and augmentation) from (seed, e)
    alone: the same with one or two persisting workers, and when a run starts at epoch 1."""
    index = load_dataset("market1501", synthetic_domain("market1501"))
    ds = ReidImages(index["root"], records_of(index, "train"), 32, 16, train=True, relabel=True, erasing=0.5)

    def epochs(workers: int, first: int) -> list[list[torch.Tensor]]:
        loader = make_loader(ds, 5, train=True, workers=workers, seed=4)
        return [[images for images, _, _ in epoch_of(loader, e)] for e in range(first, 3)]

    two = epochs(2, 0)
    assert all(torch.equal(a, b) for a, b in zip(two[1] + two[2], epochs(1, 1)[0] + epochs(1, 1)[1]))
    assert not torch.equal(two[0][0], two[1][0])  # epochs differ


def test_transforms_equal_torchvisions_bit_for_bit(synthetic_domain):
    """crgan.data.augment draws what torchvision's Compose of the strong baseline's transforms draws,
    in the same order, and gives the same tensors (and the same stream after), over many seeds."""
    from torchvision import transforms as T

    from crgan.data.augment import IMAGENET_MEAN, IMAGENET_STD, image_transform, resized_rgb

    index = load_dataset("dukemtmc", synthetic_domain("dukemtmc"))
    height, width = 32, 16
    ours = {train: image_transform(height, width, train, erasing=0.5) for train in (False, True)}
    theirs = {False: T.Compose([T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]),
              True: T.Compose([T.RandomHorizontalFlip(), T.Pad(2, padding_mode="edge"), T.RandomCrop((height, width)),
                               T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
                               T.RandomErasing(p=0.5, scale=(0.02, 0.4), ratio=(0.3, 3.33), value=0)])}
    for k, record in enumerate(index["splits"]["train"][:40]):
        path = Path(index["root"]) / record["path"]
        image, _ = resized_rgb(path, height, width)
        with Image.open(path) as im:
            assert np.array_equal(np.asarray(image), np.asarray(T.functional.resize(
                im.convert("RGB"), [height, width], T.InterpolationMode.BILINEAR)))
        for train in (False, True):
            torch.manual_seed(k)
            mine = ours[train](image)
            after = torch.rand(1)
            torch.manual_seed(k)
            assert torch.equal(mine, theirs[train](image)) and torch.equal(after, torch.rand(1)), (k, train)
