"""The re-id image transforms: resize, the strong baseline's flip, pad-crop and random erasing, and
ImageNet normalisation, on numpy arrays and tensors.

They are torchvision's transforms (``Resize``, ``RandomHorizontalFlip``, ``Pad(edge)``,
``RandomCrop``, ``ToTensor``, ``Normalize``, ``RandomErasing(value=0)``), written here so that a job
need not import torchvision (which imports torch._dynamo: 2-4 s a job, more than a short job's
work). Each draws the same random numbers from the same generator in the same order as
torchvision's, so an image comes out the same, bit for bit (tests/test_loader.py compares them).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Random erasing's range of the erased share of the image, and of its aspect ratio (the strong
#: re-id baseline's and torchvision's defaults).
ERASING_SCALE = (0.02, 0.4)
ERASING_RATIO = (0.3, 3.33)

# Made once, not per image: the float32 tensors torchvision builds from these on every call.
_MEAN, _STD = (torch.tensor(v, dtype=torch.float32).view(-1, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
_LOG_RATIO = torch.log(torch.tensor(ERASING_RATIO))


def resized_rgb(path, height: int, width: int) -> tuple[Image.Image, int]:
    """The image at ``path`` as RGB at height x width (bilinear, as PIL and torchvision's Resize on a
    PIL image), and its size in bytes."""
    with Image.open(path) as im:
        rgb = im.convert("RGB")
        image = rgb if rgb.size == (width, height) else rgb.resize((width, height), Image.BILINEAR)
    return image, height * width * 3


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """H x W x C uint8 pixels as a C x H x W float tensor in [0, 1] (torchvision's ToTensor)."""
    return torch.from_numpy(np.array(pixels, dtype=np.uint8)).permute(2, 0, 1).contiguous().float().div(255)


def normalise(image: torch.Tensor) -> torch.Tensor:
    """ImageNet normalisation of a C x H x W float32 image in [0, 1] (torchvision's Normalize)."""
    return image.sub_(_MEAN).div_(_STD)


def flip_pad_crop(pixels: np.ndarray, pad: int) -> np.ndarray:
    """The standard re-id augmentation on H x W x C pixels: a horizontal flip with probability 0.5,
    ``pad`` pixels of edge padding on every side, and a random crop back to H x W."""
    height, width = pixels.shape[:2]
    if torch.rand(1) < 0.5:
        pixels = pixels[:, ::-1]
    padded = np.pad(pixels, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    top = torch.randint(0, padded.shape[0] - height + 1, size=(1,)).item()
    left = torch.randint(0, padded.shape[1] - width + 1, size=(1,)).item()
    return padded[top:top + height, left:left + width]


def random_erasing(image: torch.Tensor, probability: float) -> torch.Tensor:
    """With ``probability``, a rectangle of ``ERASING_SCALE`` of the area and an aspect ratio in
    ``ERASING_RATIO`` set to 0 (the ImageNet mean after normalising); ten tries to fit one."""
    if not torch.rand(1) < probability:
        return image
    height, width = image.shape[-2:]
    for _ in range(10):
        area = height * width * torch.empty(1).uniform_(*ERASING_SCALE).item()
        aspect = torch.exp(torch.empty(1).uniform_(_LOG_RATIO[0], _LOG_RATIO[1])).item()
        h, w = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
        if h < height and w < width:
            top = torch.randint(0, height - h + 1, size=(1,)).item()
            left = torch.randint(0, width - w + 1, size=(1,)).item()
            image = image.clone()
            image[..., top:top + h, left:left + w] = 0.0
            return image
    return image


def image_transform(height: int, width: int, train: bool, erasing: float = 0.0
                    ) -> Callable[[Image.Image], torch.Tensor]:
    """Normalise a resized image; training adds the standard re-id flip and pad-crop (edge padding of
    width / 8), and random erasing with probability ``erasing`` (the strong re-id baseline's)."""
    pad = max(1, width // 8)

    def transform(image: Image.Image) -> torch.Tensor:
        pixels = np.asarray(image)
        if train:
            pixels = flip_pad_crop(pixels, pad)
        tensor = normalise(to_tensor(pixels))
        return random_erasing(tensor, erasing) if train and erasing > 0 else tensor

    return transform
