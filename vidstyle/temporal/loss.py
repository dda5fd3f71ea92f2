"""Short-term temporal loss of Ruder et al. 2016 (Eq. 7)."""

from __future__ import annotations

import torch


def temporal_loss(
    image: torch.Tensor, warped_previous: torch.Tensor, mask: torch.Tensor, *, constant_target: bool = True
) -> torch.Tensor:
    """sum(mask * (image - warped_previous)^2) / D, with D = H * W * C (Ruder's normalisation).

    ``image`` and ``warped_previous``: (B, C, H, W); ``mask``: anything that
    broadcasts to them, typically (B, 1, H, W) or (H, W) with values in [0, 1].
    One value per image: (B,).

    For the optimizer ``warped_previous`` and ``mask`` are constants, so only
    ``image`` gets a gradient (``constant_target``). Fast-mode training
    compares two outputs of the network it trains and lets the gradient flow
    through both (``constant_target=False``, as ReCoNet, Gao et al. 2018, train).
    """
    if image.shape != warped_previous.shape:
        raise ValueError(f"image {tuple(image.shape)} and warped previous {tuple(warped_previous.shape)} differ")
    mask = mask.to(device=image.device, dtype=image.dtype).detach()
    diff = image - (warped_previous.detach() if constant_target else warped_previous)
    return (mask * diff * diff).flatten(1).sum(1) / image[0].numel()
