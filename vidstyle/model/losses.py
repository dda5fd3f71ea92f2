"""Loss terms of Gatys et al. (2016), normalised so weights do not depend on feature scale.

Gatys et al. weight raw squared errors (content: 1/2 sum (F-P)^2; style:
1/(4 N^2 M^2) sum (G-A)^2), so the right content/style ratio depends on how
large the network's activations are: it differs between ImageNet weights,
other checkpoints and random weights. We divide every layer's term by the mean
square of its own target instead. Multiplying all features by a constant c then
leaves every term unchanged (numerator and denominator both scale by c^2 for
content and by c^4 for Grams), and a term of 1.0 always means "as far from the
target as the target is from zero". This is a deviation from the paper and is
listed in README.md.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Channel correlations of (1, C, H, W) features, divided by the map size H*W.

    Dividing by H*W (not by C*H*W, and not by nothing) makes the Gram matrix of
    a periodic texture independent of how large the image is.
    """
    batch, channels, height, width = features.shape
    flat = features.reshape(batch * channels, height * width)
    return flat @ flat.t() / (height * width)


def normalised_mse(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean((value - target)^2) / mean(target^2).

    An all-zero target (a black frame through ReLUs) is divided by 1 instead of
    0. The guard is not an added epsilon: with small activations (random
    weights give mean Gram squares around 1e-8 at relu5_1) any fixed epsilon
    would shrink that layer's term and break the scale invariance above.
    """
    scale = target.pow(2).mean()
    return (value - target).pow(2).mean() / torch.where(scale > 0, scale, torch.ones_like(scale))


def content_loss(features: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Mean over content layers of the normalised squared feature error."""
    terms = [normalised_mse(features[name], target) for name, target in targets.items()]
    return torch.stack(terms).mean()


def style_loss(
    features: Mapping[str, torch.Tensor],
    gram_targets: Mapping[str, torch.Tensor],
    layer_weights: Mapping[str, float],
) -> torch.Tensor:
    """Weighted mean over style layers of the normalised squared Gram error."""
    total = sum(layer_weights.values())
    terms = [
        normalised_mse(gram_matrix(features[name]), target) * (layer_weights[name] / total)
        for name, target in gram_targets.items()
    ]
    return torch.stack(terms).sum()


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels (0 for a constant image)."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()


def gram_matrices(features: torch.Tensor) -> torch.Tensor:
    """Per-image Gram matrices of (N, C, H, W) features: (N, C, C), each divided by H*W.

    gram_matrix above treats a batch as one image (it multiplies every
    image's channels with every other's); training a network on a batch of
    crops needs one Gram per crop.
    """
    batch, channels, height, width = features.shape
    flat = features.reshape(batch, channels, height * width)
    return flat @ flat.transpose(1, 2) / (height * width)
