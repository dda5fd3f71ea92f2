"""Guided upsampling (video/upsample.py): the stylization's colours, the source's edges."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from vidstyle.video.upsample import guided_upsample, upsample_to_source


def _textured(height: int = 96, width: int = 128) -> torch.Tensor:
    """A source with hard edges (a disc, a bar) over smooth gradients and fine stripes, RGB in [0, 1]."""
    y, x = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    disc = ((x - 0.4) ** 2 + (y - 0.5) ** 2 < 0.06).float()
    bar = ((x > 0.7) & (x < 0.78)).float()
    stripes = 0.5 + 0.4 * torch.sin(y * 60)
    rgb = torch.stack([0.2 + 0.6 * disc + 0.1 * x, 0.3 * stripes + 0.5 * bar, 0.8 - 0.5 * disc * y], 0)
    return rgb.clamp(0, 1)[None]


def test_constant_stylization_stays_that_constant() -> None:
    source = _textured()
    stylized = torch.tensor([0.8, 0.1, 0.45]).view(1, 3, 1, 1).expand(1, 3, 24, 32).contiguous()
    out = guided_upsample(stylized, source)
    assert out.shape == source.shape
    assert (out - stylized[:, :, :1, :1]).abs().max() < 1e-3, "the source's edges must not leak into a flat stylization"


def test_identity_stylization_comes_back_as_the_source() -> None:
    source = _textured()
    shrunk = F.interpolate(source, size=(24, 32), mode="area")
    bicubic = F.interpolate(shrunk, size=source.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
    guided = guided_upsample(shrunk, source)
    bicubic_error = (bicubic - source).abs().mean().item()
    guided_error = (guided - source).abs().mean().item()
    assert guided_error < 0.25 * bicubic_error, (guided_error, bicubic_error)
    assert guided_error < 2 / 255


def test_detail_zero_is_bicubic_and_uint8_frames_keep_their_size() -> None:
    source = _textured(47, 65)  # odd sizes
    shrunk = F.interpolate(source, size=(22, 32), mode="area")
    bicubic = F.interpolate(shrunk, size=(47, 65), mode="bicubic", align_corners=False).clamp(0, 1)
    assert torch.equal(guided_upsample(shrunk, source, detail=0.0), bicubic)

    to_bgr = lambda t: (t[0].permute(1, 2, 0).flip(-1) * 255).round().to(torch.uint8).numpy().copy()  # noqa: E731
    out = upsample_to_source(to_bgr(shrunk), to_bgr(source))
    assert out.shape == (47, 65, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - to_bgr(source).astype(int)).mean() < np.abs(to_bgr(bicubic).astype(int) - to_bgr(source).astype(int)).mean()
