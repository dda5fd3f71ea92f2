"""Luminance and chroma, for --preserve-colors (luminance-only transfer, Gatys et al. 2017).

We use full-range BT.601 YCbCr (the JPEG convention, also OpenCV's YCrCb):
Y = 0.299 R + 0.587 G + 0.114 B, and the two chroma channels are the
blue and red differences B - Y and R - Y scaled into [-0.5, 0.5]. Gatys et
al. use YIQ; any split into one luminance and two chroma channels serves, and
YCbCr is what users (and tests) measure colour shifts in.

How the transfer works, and why this way (the alternative is neural-style's
post-hoc swap: stylize in colour, then put the input's chroma back):

* The optimizer moves only the luminance of the frame. The network sees it as
  a grey image (Y in all three channels), and the style targets are the Grams
  of the style image's luminance, also as grey. The frame's chroma is taken
  from its content and put back when the frame is done.
* With a post-hoc swap the optimizer spends its steps pulling the colours
  toward the painting only for them to be thrown away, and, in a video, the
  next frame would start from the swapped frame, pull its colours toward the
  style again during its few warm-start steps, and its temporal loss would
  hold it to a frame in the other colours: warm start, temporal term and
  style term would work against each other. Here the stored frame is exactly
  what the next frame starts from and is compared with (its luminance), in
  every temporal mode, and since that stored uint8 frame is the only state
  carried from frame to frame, a resumed run stays bit-identical.
* The style's colour also no longer shapes its texture statistics (Gatys et
  al.'s argument for luminance-only targets), and a third of the pixels move.
"""

from __future__ import annotations

import torch

_KR, _KB = 0.299, 0.114
_KG = 1.0 - _KR - _KB


def luminance(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> (N, 1, H, W) luma Y in [0, 1]."""
    r, g, b = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    return _KR * r + _KG * g + _KB * b


def chroma(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB -> (N, 2, H, W): Cb, Cr in [-0.5, 0.5] (0 for greys)."""
    y = luminance(rgb)
    cb = (rgb[:, 2:3] - y) / (2.0 * (1.0 - _KB))
    cr = (rgb[:, 0:1] - y) / (2.0 * (1.0 - _KR))
    return torch.cat((cb, cr), dim=1)


def _offsets(cbcr: torch.Tensor) -> torch.Tensor:
    """R - Y, G - Y, B - Y for (N, 2, H, W) Cb, Cr: every channel is Y plus its offset."""
    cb, cr = cbcr[:, 0:1], cbcr[:, 1:2]
    r = 2.0 * (1.0 - _KR) * cr
    b = 2.0 * (1.0 - _KB) * cb
    g = -(_KR * r + _KB * b) / _KG
    return torch.cat((r, g, b), dim=1)


def combine(y: torch.Tensor, cbcr: torch.Tensor) -> torch.Tensor:
    """Inverse of (luminance, chroma): (N, 1, H, W) Y and (N, 2, H, W) Cb, Cr -> (N, 3, H, W) RGB, unclamped."""
    return y + _offsets(cbcr)


def combine_in_gamut(y: torch.Tensor, cbcr: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] with exactly the chroma ``cbcr``: Y is clamped to where that chroma fits.

    A saturated colour only exists in a band of luminances (pure yellow cannot
    be dark). Clipping R, G and B after the fact would change the hue and the
    saturation there; clamping Y instead keeps the input's chroma and gives up
    only the part of the new luminance that colour cannot have.
    """
    offsets = _offsets(cbcr)
    low = (-offsets).amax(dim=1, keepdim=True)
    high = (1.0 - offsets).amin(dim=1, keepdim=True)
    return (torch.maximum(torch.minimum(y, high), low) + offsets).clamp(0.0, 1.0)


def grey(y: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) luminance as the (N, 3, H, W) grey image the network reads."""
    return y.expand(-1, 3, -1, -1)
