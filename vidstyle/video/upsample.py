"""Bringing a working-size stylized frame back to the source's size, guided by the source frame.

Plain bicubic interpolation of a 256 px stylization to 1080p gives a blurred
thumbnail: every edge of the output is 7x wider than the source's. Here the
colour guided filter (He, Sun, Tang, "Guided Image Filtering", ECCV 2010), in
its fast form (coefficients fitted at the low resolution and interpolated),
models the stylization in each small window as a linear function of the
source's colours, ``q = A·I + b``. Applied to the full-size source, that
model puts the source's edges and fine detail at their true place while the
colours come from the stylization. The model cannot explain the strokes the
stylization painted on its own (they do not follow the source), so what it
leaves over at the working size is added back, bicubic-upsampled:

    out = bicubic(p) + detail · (A↑·I + b↑ − bicubic(A·I↓ + b))

``detail`` 0 is plain bicubic; 1 adds the full source detail. A constant
stylization stays that constant (A is 0), and a "stylization" that is the
source shrunk comes back as the source (A is the identity where the source
has texture). Everything is torch on the caller's device; the 3x3 systems are
solved in closed form so any backend runs them.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from vidstyle.video.pixels import bgr_to_tensor, tensor_to_bgr

# Window radius at the working size (a 5x5 window: about 37x37 px of a 1080p
# source at 256 px) and regularization (in [0, 1] intensity units squared);
# benchmarks/upsample.py measured these (docs/performance.md).
RADIUS = 2
EPS = 1e-3


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window; windows at the border average the pixels they hold."""
    return F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)


def _coefficients(p: torch.Tensor, guide: torch.Tensor, radius: int, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-window A (1, 3 out, 3 in, h, w) and b (1, 3, h, w) with p ≈ A·guide + b, smoothed as He et al. do."""
    radius = max(0, min(radius, (min(p.shape[-2:]) - 1) // 2))
    mean_i = _box(guide, radius)  # (1, 3, h, w)
    mean_p = _box(p, radius)
    # Covariances of the guide's channels (symmetric) and of each output channel with each guide channel.
    ii = guide.unsqueeze(1) * guide.unsqueeze(2)  # (1, 3, 3, h, w)
    var = _box(ii.flatten(1, 2), radius).unflatten(1, (3, 3)) - mean_i.unsqueeze(1) * mean_i.unsqueeze(2)
    pi = p.unsqueeze(2) * guide.unsqueeze(1)  # (1, 3 out, 3 in, h, w)
    cov = _box(pi.flatten(1, 2), radius).unflatten(1, (3, 3)) - mean_p.unsqueeze(2) * mean_i.unsqueeze(1)
    eye = torch.eye(3, dtype=p.dtype, device=p.device).view(1, 3, 3, 1, 1)
    s = var + eps * eye
    # The inverse of each symmetric 3x3 system by cofactors (no batched solver needed).
    c00 = s[:, 1, 1] * s[:, 2, 2] - s[:, 1, 2] * s[:, 2, 1]
    c01 = s[:, 0, 2] * s[:, 2, 1] - s[:, 0, 1] * s[:, 2, 2]
    c02 = s[:, 0, 1] * s[:, 1, 2] - s[:, 0, 2] * s[:, 1, 1]
    c11 = s[:, 0, 0] * s[:, 2, 2] - s[:, 0, 2] * s[:, 2, 0]
    c12 = s[:, 0, 2] * s[:, 1, 0] - s[:, 0, 0] * s[:, 1, 2]
    c22 = s[:, 0, 0] * s[:, 1, 1] - s[:, 0, 1] * s[:, 1, 0]
    det = s[:, 0, 0] * c00 + s[:, 1, 0] * c01 + s[:, 2, 0] * c02
    inverse = torch.stack(
        [torch.stack([c00, c01, c02], 1), torch.stack([c01, c11, c12], 1), torch.stack([c02, c12, c22], 1)], 1
    ) / det.unsqueeze(1).unsqueeze(1)
    a = torch.einsum("bckhw,bkjhw->bcjhw", cov, inverse)  # cov · Σ⁻¹ (Σ symmetric)
    b = mean_p - torch.einsum("bckhw,bkhw->bchw", a, mean_i)
    return _box(a.flatten(1, 2), radius).unflatten(1, (3, 3)), _box(b, radius)


def _apply(a: torch.Tensor, b: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    return torch.einsum("bckhw,bkhw->bchw", a, guide) + b


def guided_upsample(
    stylized: torch.Tensor, source: torch.Tensor, *, detail: float = 1.0, radius: int = RADIUS, eps: float = EPS
) -> torch.Tensor:
    """The stylized (1, 3, h, w) frame at the size of ``source`` (1, 3, H, W), both RGB in [0, 1]; see the module doc."""
    size = tuple(source.shape[-2:])
    low = tuple(stylized.shape[-2:])
    if detail == 0.0 or size == low:
        return F.interpolate(stylized, size=size, mode="bicubic", align_corners=False).clamp(0.0, 1.0)
    guide_low = F.interpolate(source, size=low, mode="area")
    a, b = _coefficients(stylized, guide_low, radius, eps)
    fitted_low = _apply(a, b, guide_low)
    # up(p) + detail·(fitted − up(fitted_low)) with one bicubic pass (interpolation is linear).
    out = F.interpolate(stylized - detail * fitted_low, size=size, mode="bicubic", align_corners=False)
    ab = F.interpolate(torch.cat([a.flatten(1, 2), b], 1), size=size, mode="bilinear", align_corners=False)
    for c in range(3):
        fitted = ab[:, 9 + c] + ab[:, 3 * c] * source[:, 0] + ab[:, 3 * c + 1] * source[:, 1] + ab[:, 3 * c + 2] * source[:, 2]
        out[:, c].add_(fitted, alpha=detail)
    return out.clamp_(0.0, 1.0)


def upsample_to_source(
    image: np.ndarray, source: np.ndarray, *, device: torch.device | str = "cpu", detail: float = 1.0
) -> np.ndarray:
    """A working-size BGR uint8 stylized frame at the size of ``source`` (BGR uint8), guided by it."""
    if image.shape[:2] == source.shape[:2]:
        return image
    with torch.no_grad():
        out = guided_upsample(bgr_to_tensor(image, device=device), bgr_to_tensor(source, device=device), detail=detail)
    return tensor_to_bgr(out)
