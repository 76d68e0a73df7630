"""blend and blend_context_loss: Triton kernels against the PyTorch reference."""
from __future__ import annotations

import pytest
import torch
from kernel_checks import DEVICE, LaunchRecorder, assert_matches, inputs

from crgan import kernels
from crgan.kernels import _reference as ref

# odd shapes: a single pixel, H = 1, W = 1, and more pixels than one block of 1024
SHAPES = [(1, 3, 1, 1), (2, 3, 5, 7), (3, 3, 1, 33), (1, 3, 37, 1), (2, 3, 17, 33)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("n,c,h,w", SHAPES)
def test_blend(triton_kernels, n, c, h, w, dtype):
    args = inputs((n, c, h, w), (n, 1, h, w), (n, c, h, w), dtype=dtype, unit=(1,))
    assert_matches(kernels.blend, ref.blend, args, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("n,c,h,w", SHAPES)
def test_blend_context_loss(triton_kernels, n, c, h, w, dtype):
    args = inputs((n, c, h, w), (n, 1, h, w), (n, c, h, w), (n, c, h, w), (n, 1, h, w), dtype=dtype,
                  unit=(1, 4))
    assert_matches(kernels.blend_context_loss, ref.blend_context_loss, args, dtype)


def test_shapes_are_checked():
    xs = torch.zeros(2, 3, 4, 4)
    with pytest.raises(ValueError, match=r"xc must be \[2, 1, 4, 4\]"):
        kernels.blend(xs, torch.zeros(2, 3, 4, 4), xs)
    with pytest.raises(ValueError, match=r"mf must be \[2, 1, 4, 4\]"):
        kernels.blend_context_loss(xs, torch.zeros(2, 1, 4, 4), xs, xs, torch.zeros(2, 1, 4, 3))


def test_context_loss_on_hand_made_images():
    """Person kept from XS and background from XT gives Lcon = 0; each wrong half adds its share."""
    mf = torch.zeros(1, 1, 2, 2)
    mf[..., 0, :] = 1  # top row is the person
    xs, xt = torch.full((1, 3, 2, 2), 0.5), torch.full((1, 3, 2, 2), -0.5)
    xr = torch.where(mf.bool(), xs, xt)
    xg, lcon = kernels.blend_context_loss(xr, torch.ones_like(mf), xs, xt, mf)
    assert torch.equal(xg, xr) and lcon.item() == 0
    _, lcon = kernels.blend_context_loss(xs, torch.ones_like(mf), xs, xt, mf)  # background from XS: off by 1
    assert lcon.item() == pytest.approx(0.5)  # half of the pixels off by 1, squared, over all pixels


def test_mixed_dtypes_are_read_as_they_come(triton_kernels):
    """Under autocast the rendering (XR, XC) is bfloat16 and the images float32: no promotion copies;
    XG and Lcon come out in the promoted dtype, each gradient in its input's dtype."""
    xr, xc = inputs((2, 3, 5, 7), (2, 1, 5, 7), dtype=torch.bfloat16, unit=(1,))
    xs, xt, mf = inputs((2, 3, 5, 7), (2, 3, 5, 7), (2, 1, 5, 7), seed=1, unit=(2,))
    xg, lcon = kernels.blend_context_loss(xr, xc, xs, xt, mf)
    assert xg.dtype == lcon.dtype == torch.float32
    (xg.square().mean() + lcon).backward()
    assert xr.grad.dtype == xc.grad.dtype == torch.bfloat16 and xs.grad.dtype == torch.float32
    want = [t.detach().float().requires_grad_() for t in (xr, xc, xs, xt, mf)]
    want_xg, want_lcon = ref.blend_context_loss(*want)
    (want_xg.square().mean() + want_lcon).backward()
    torch.testing.assert_close(xg, want_xg, atol=1e-6, rtol=1e-6)
    for got, expected in zip((xr.grad, xc.grad, xs.grad, xt.grad, mf.grad), want):
        torch.testing.assert_close(got.float(), expected.grad.to(got.dtype).float(), atol=1e-2, rtol=1e-2)


def test_backward_writes_only_the_gradients_asked_for(triton_kernels):
    """CR-GAN's context loss needs gradients of XR and XC only (XS, XT and MF are data): the backward
    launch is told so, returns no others, and the two it writes equal those of a full backward."""
    xr, xc = inputs((2, 3, 5, 7), (2, 1, 5, 7), unit=(1,))
    xs, xt, mf = (t.detach() for t in inputs((2, 3, 5, 7), (2, 3, 5, 7), (2, 1, 5, 7), seed=1, unit=(2,)))
    with LaunchRecorder() as launches:
        xg, lcon = kernels.blend_context_loss(xr, xc, xs, xt, mf)
        partial = torch.autograd.grad(xg.sum() + lcon, (xr, xc))
    needs = launches.calls["blend_context_loss_backward"][0]["needs"]
    assert tuple(needs) == (True, True, False, False, False)
    full_inputs = [t.detach().clone().requires_grad_() for t in (xr, xc, xs, xt, mf)]
    xg, lcon = kernels.blend_context_loss(*full_inputs)
    full = torch.autograd.grad(xg.sum() + lcon, full_inputs)
    for a, b in zip(partial, full[:2]):
        assert torch.equal(a, b)
    assert DEVICE in str(partial[0].device)
