"""Loss terms of Gatys et al. (2016), normalised so weights do not depend on feature scale.

Gatys et al. weight raw squared errors (content: 1/2 sum (F-P)^2; style:
1/(4 N^2 M^2) sum (G-A)^2), so the right content/style ratio depends on how
large the network's activations are: it differs between ImageNet weights,
other checkpoints and random weights. We divide every layer's term by the mean
square of its own target instead. Multiplying all features by a constant c then
leaves every term unchanged (numerator and denominator both scale by c^2 for
content and by c^4 for Grams), and a term of 1.0 always means "as far from the
target as the target is from zero". This is a deviation from the paper and is
listed in docs/papers.md.

These functions are the arithmetic of the terms; vidstyle.model.objective
holds them as objects with their targets and weights and composes them into
the one objective of the optimizer, fast-mode training and the preview.

Every term is computed per image of a batch and returned as a (B,) tensor:
several frames (of several chains) can be optimized as one batch, and no
term may mix them. Gram matrices in particular are one per image; a Gram of
the whole batch would correlate one image's channels with another's.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Channel correlations of one image's (1, C, H, W) features, divided by the map size H*W: (C, C).

    Dividing by H*W (not by C*H*W, and not by nothing) makes the Gram matrix of
    a periodic texture independent of how large the image is.
    """
    if features.shape[0] != 1:
        raise ValueError(f"gram_matrix takes one image; use gram_matrices for a batch of {features.shape[0]}")
    return gram_matrices(features)[0]


def _per_image_mean(values: torch.Tensor) -> torch.Tensor:
    return values.flatten(1).mean(1)


def normalised_mse_per_image(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean((value - target)^2) / mean(target^2) for each image of a batch: (B, ...) against (B, ...) or one shared (1, ...) -> (B,).

    An all-zero target (a black frame through ReLUs) is divided by 1 instead of
    0. The guard is not an added epsilon: with small activations (random
    weights give mean Gram squares around 1e-8 at relu5_1) any fixed epsilon
    would shrink that layer's term and break the scale invariance above.
    """
    scale = _per_image_mean(target.pow(2))
    error = _per_image_mean((value - target).pow(2))
    return error / torch.where(scale > 0, scale, torch.ones_like(scale))


def normalised_mse(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """:func:`normalised_mse_per_image` of two whole tensors taken as one image (a scalar)."""
    return normalised_mse_per_image(value.unsqueeze(0), target.unsqueeze(0))[0]


def content_loss(features: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Mean over content layers of the normalised squared feature error, per image: (B,)."""
    terms = [normalised_mse_per_image(features[name], target) for name, target in targets.items()]
    return torch.stack(terms).mean(0)


def style_loss(
    features: Mapping[str, torch.Tensor],
    gram_targets: Mapping[str, torch.Tensor],
    layer_weights: Mapping[str, float],
) -> torch.Tensor:
    """Weighted mean over style layers of the normalised squared Gram error, per image: (B,).

    ``gram_targets`` are (C, C), shared by every image of the batch.
    """
    total = sum(layer_weights.values())
    terms = [
        normalised_mse_per_image(gram_matrices(features[name]), target.unsqueeze(0)) * (layer_weights[name] / total)
        for name, target in gram_targets.items()
    ]
    return torch.stack(terms).sum(0)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels, per image: (B,) (0 for a constant image)."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return _per_image_mean(dx.pow(2)) + _per_image_mean(dy.pow(2))


def out_of_gamut(image: torch.Tensor) -> torch.Tensor:
    """How far the image's values lie outside [0, 1], per image: the mean of relu(x - 1)^2 + relu(-x)^2, (B,).

    0 for any image a frame can store; smooth (its gradient grows from 0 at
    the boundary), so L-BFGS's curvature model holds where a projection each
    step would break it.
    """
    return _per_image_mean((image - 1.0).clamp(min=0.0).pow(2) + (-image).clamp(min=0.0).pow(2))


def gram_matrices(features: torch.Tensor) -> torch.Tensor:
    """One Gram matrix per image: (N, C, H, W) -> (N, C, C), each divided by H*W.

    Never across images: a batch of frames (--batch-chains) or of training
    crops (fast mode) needs one Gram each. gram_matrix above is the one-image case.
    """
    batch, channels, height, width = features.shape
    flat = features.reshape(batch, channels, height * width)
    return flat @ flat.transpose(1, 2) / (height * width)
