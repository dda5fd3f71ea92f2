"""One objective for every way vidstyle paints: the per-frame optimizer, fast-mode training, the preview.

A *term* is a small object that holds what it compares with (its target) and
its weight, and gives one unweighted value per image of a batch: a (B,)
tensor. An :class:`Objective` is a list of terms; called on a batch of images
(and their feature maps), it returns the weighted total per image and every
term by name. A new term (distillation, a histogram loss, ...) is one class
with ``name``, ``layers`` and ``value`` added to the list where the objective
is built, never a line spliced into a loop (design.md rule 15; crowsonkb's
style-transfer-pytorch composes its losses the same way).

Per image, always: no term mixes the images of a batch. Several chains'
frames (``--batch-chains``) or several training crops share a batch, and each
image's loss (so its gradient, its early stop) must be the one it has alone.
A weight is one number for the whole batch or a (B,) tensor, one per image
(a slot's temporal weight; zero where a term does not apply).

The arithmetic of each term lives in vidstyle.model.losses and
vidstyle.temporal.loss (with the reasons we normalise differently from Gatys
et al. and where we follow Ruder et al.); this module composes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vidstyle.model.losses import content_loss, normalised_mse_per_image, out_of_gamut, style_loss, total_variation
from vidstyle.temporal.loss import temporal_loss

Weight = float | torch.Tensor  # one for the batch, or (B,) one per image


class Term:
    """A loss term: ``value(image, features)`` is its unweighted loss per image, (B,).

    ``name`` keys it in the objective's result; ``layers`` are the feature
    maps it reads (empty for a pixel term); ``weight`` multiplies its value
    in the total.
    """

    name: str = "term"
    layers: tuple[str, ...] = ()
    weight: Weight = 1.0

    def value(self, image: torch.Tensor, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError


class Content(Term):
    """Gatys content loss against per-image feature targets (B, C, H, W) (or one shared (1, ...) target).

    Normalised per image and layer by the target's mean square
    (vidstyle.model.losses, which says why), then averaged over layers.
    Fast mode's distillation ("perceptual", every layer against the
    optimizer's keyframe result) is this term under another name.
    """

    def __init__(self, targets: Mapping[str, torch.Tensor], *, weight: Weight, name: str = "content") -> None:
        self.targets = dict(targets)
        self.weight = weight
        self.name = name
        self.layers = tuple(self.targets)

    def value(self, image: torch.Tensor, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return content_loss(features, self.targets)


class Style(Term):
    """Gatys style loss against per-layer Gram targets (C, C), shared by every image of the batch.

    Several styles are blended in the targets (:func:`blend_grams`, as
    neural-style does), not as one term per style. ``layer_weights`` are
    relative: they are normalised to sum to 1 (vidstyle.model.losses.style_loss).
    """

    def __init__(
        self, grams: Mapping[str, torch.Tensor], layer_weights: Mapping[str, float], *, weight: Weight, name: str = "style"
    ) -> None:
        self.grams = dict(grams)
        self.layer_weights = dict(layer_weights)
        self.weight = weight
        self.name = name
        self.layers = tuple(self.grams)

    def value(self, image: torch.Tensor, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return style_loss(features, self.grams, self.layer_weights)


class TotalVariation(Term):
    """Mean squared difference of neighbouring pixels (vidstyle.model.losses.total_variation)."""

    def __init__(self, *, weight: Weight, name: str = "tv") -> None:
        self.weight = weight
        self.name = name

    def value(self, image: torch.Tensor, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return total_variation(image)


class Gamut(Term):
    """A soft range penalty: how far the pixels lie outside [0, 1] (vidstyle.model.losses.out_of_gamut).

    The optimizer moves unconstrained pixels, and a frame is stored clamped
    into [0, 1]. Without this term L-BFGS's best iterate leaves the range
    where the style pulls (a few percent of the values), the clamped frame
    sits well above its own optimum, and each warm frame started from it
    climbs back: a static shot creeps (issue 22; docs/defaults.md).
    """

    def __init__(self, *, weight: Weight, name: str = "gamut") -> None:
        self.weight = weight
        self.name = name

    def value(self, image: torch.Tensor, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return out_of_gamut(image)


class Temporal(Term):
    """Ruder et al.'s short-term temporal loss against the previous output warped into this frame, where ``mask`` trusts it.

    ``target`` (B, C, H, W) and ``mask`` (B, 1, H, W). The optimizer's target
    is a constant (``through_target=False``); fast-mode training compares two
    outputs of the network it trains, so the gradient flows through both
    (``through_target=True``, as ReCoNet trains).
    """

    def __init__(
        self, target: torch.Tensor, mask: torch.Tensor, *, weight: Weight, through_target: bool = False, name: str = "temporal"
    ) -> None:
        self.target = target
        self.mask = mask
        self.weight = weight
        self.through_target = through_target
        self.name = name

    def value(self, image: torch.Tensor, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return temporal_loss(image, self.target, self.mask, constant_target=not self.through_target)


class PixelL1(Term):
    """Mean absolute pixel error against a target image per image (fast mode's distillation on keyframes)."""

    def __init__(self, target: torch.Tensor, *, weight: Weight, name: str = "l1") -> None:
        self.target = target
        self.weight = weight
        self.name = name

    def value(self, image: torch.Tensor, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return (image - self.target).abs().flatten(1).mean(1)


class Coarse(Term):
    """The image shrunk (area) to a coarse target's size against it: a coarse-to-fine stage keeps the first stage's picture.

    ``target`` (B, C, h, w): the first, smallest stage's result, per image.
    Normalised like the content term (by the target's mean square). Only
    what survives the shrinking is held, so the stage is free to sharpen: it
    adds detail finer than the target's pixels, and cannot repaint the
    strokes the first stage laid out (model/stylizer.py, coarse to fine).
    """

    def __init__(self, target: torch.Tensor, *, weight: Weight, name: str = "coarse") -> None:
        self.target = target
        self.weight = weight
        self.name = name

    def value(self, image: torch.Tensor, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return normalised_mse_per_image(F.interpolate(image, size=self.target.shape[-2:], mode="area"), self.target)


@dataclass(frozen=True)
class Losses:
    """An objective's result for a batch of B images."""

    total: torch.Tensor  # (B,): sum over terms of weight * value
    terms: dict[str, torch.Tensor]  # name -> (B,) unweighted value, in the objective's order


class Objective:
    """Terms composed: ``objective(image, features)`` -> :class:`Losses`, per image.

    The total adds the weighted terms in the order given (so a batch of one
    gives, bit for bit, what the terms summed by hand in that order give).
    """

    def __init__(self, terms: Iterable[Term]) -> None:
        self.terms = tuple(terms)
        names = [term.name for term in self.terms]
        if len(set(names)) != len(names):
            raise ValueError(f"two terms share a name: {names}")
        if not self.terms:
            raise ValueError("an objective needs at least one term")

    @property
    def layers(self) -> tuple[str, ...]:
        """The feature maps the terms read, each once, in the order first needed."""
        return tuple(dict.fromkeys(layer for term in self.terms for layer in term.layers))

    def __call__(self, image: torch.Tensor, features: Mapping[str, torch.Tensor] | None = None) -> Losses:
        """``features``: the responses of ``image`` at (at least) :attr:`layers`; none needed for pixel terms only."""
        if features is None:
            if self.layers:
                raise ValueError(f"the terms read feature maps {self.layers}; pass the image's features")
            features = {}
        values: dict[str, torch.Tensor] = {}
        total: torch.Tensor | None = None
        for term in self.terms:
            value = term.value(image, features)
            values[term.name] = value
            weighted = term.weight * value
            total = weighted if total is None else total + weighted
        assert total is not None
        return Losses(total=total, terms=values)


def blend_grams(per_style: Sequence[Mapping[str, torch.Tensor]], blend: Sequence[float]) -> dict[str, torch.Tensor]:
    """The Gram targets of several styles blended: sum over styles of weight * Gram, layer by layer (neural-style's blend)."""
    if len(per_style) != len(blend) or not per_style:
        raise ValueError(f"{len(per_style)} styles and {len(blend)} blend weights")
    grams: dict[str, torch.Tensor] = {}
    for style_grams, weight in zip(per_style, blend):
        for name, gram in style_grams.items():
            weighted = gram * weight
            grams[name] = grams[name] + weighted if name in grams else weighted
    return grams
