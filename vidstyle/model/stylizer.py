"""The per-frame optimizer: pixels moved until content, style, tv (and temporal) losses balance.

One Stylizer is built per run. It holds the frozen feature extractor and the
style targets and is called once per frame with that frame's content image,
the image to start from and the step budget. One "step" is one evaluation of
the loss and its gradient (a VGG forward and backward pass), the unit of
cost everywhere in vidstyle: budgets, early stopping and logs count steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from vidstyle.config import ModelConfig, OptimizeConfig, Optimizer
from vidstyle.model.color import chroma, combine_in_gamut, grey, luminance
from vidstyle.model.features import FeatureExtractor
from vidstyle.model.losses import content_loss, style_loss, total_variation
from vidstyle.model.style import StyleTargets
from vidstyle.model.vgg import architecture
from vidstyle.temporal.loss import temporal_loss


@dataclass(frozen=True)
class TemporalTarget:
    """The previous stylized frame warped into this one, and where to trust it (Ruder et al. 2016)."""

    image: torch.Tensor  # (1, 3, H, W) RGB in [0, 1] (the Stylizer takes its luminance with --preserve-colors)
    mask: torch.Tensor  # (1, 1, H, W) in [0, 1]; 0 where the pixel was occluded or the flow is unreliable
    weight: float


@dataclass(frozen=True)
class LossBreakdown:
    content: float
    style: float
    tv: float
    temporal: float
    total: float


@dataclass(frozen=True)
class StepReport:
    step: int  # 1-based
    budget: int
    loss: float


class NonFinite(ArithmeticError):
    """A loss or the image became NaN or infinite during optimization: the frame must be redone, never written."""

    def __init__(self, what: str, step: int) -> None:
        self.what = what  # "loss" or "image"
        self.step = step
        super().__init__(f"NaN or inf in the {what} at step {step}" if step else f"NaN or inf in the starting {what}")


@dataclass(frozen=True)
class StylizeResult:
    image: torch.Tensor  # (1, 3, H, W), clamped to [0, 1]
    steps: int  # loss evaluations spent
    stopped_early: bool
    initial: LossBreakdown  # at the starting image
    final: LossBreakdown  # at the returned image (before clamping)
    history: tuple[float, ...]  # total loss at every step


class Stylizer:
    def __init__(
        self,
        extractor: FeatureExtractor,
        style: StyleTargets,
        *,
        model: ModelConfig,
        optimize: OptimizeConfig,
    ) -> None:
        self.extractor = extractor
        self.style = style
        self.optimize = optimize
        vgg = architecture(model.network)
        self.content_layers = tuple(vgg.canonical(n) for n in model.content_layers)
        self.style_layers = tuple(vgg.canonical(n) for n in model.style_layers)
        self._all_layers = tuple(dict.fromkeys(self.content_layers + self.style_layers))
        # Luminance-only transfer (--preserve-colors): the style targets were
        # made from the style's luminance, so the optimizer moves only the
        # frame's luminance and the frame keeps its own chroma (model/color.py).
        self.luminance_only = style.luminance_only

    def _space(self, image: torch.Tensor) -> torch.Tensor:
        """What the losses see of an RGB image: itself, or its luminance (1 channel) with --preserve-colors."""
        return luminance(image) if self.luminance_only and image.shape[1] == 3 else image

    def _features(self, image: torch.Tensor, layers: tuple[str, ...]) -> dict[str, torch.Tensor]:
        return self.extractor(grey(image) if image.shape[1] == 1 else image, layers)

    def content_targets(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            features = self._features(self._space(content), self.content_layers)
        return {name: features[name].detach() for name in self.content_layers}

    def losses(
        self,
        image: torch.Tensor,
        content_targets: dict[str, torch.Tensor],
        temporal: TemporalTarget | None = None,
    ) -> dict[str, torch.Tensor]:
        """Each weighted term and the total, as tensors (differentiable in ``image``).

        ``image`` is RGB (1, 3, H, W), or with --preserve-colors also the
        luminance (1, 1, H, W) the optimizer moves; RGB is reduced to it.
        """
        opts = self.optimize
        image = self._space(image)
        features = self._features(image, self._all_layers)
        terms = {
            "content": content_loss(features, content_targets),
            "style": style_loss(features, self.style.grams, self.style.layer_weights),
            "tv": total_variation(image),
        }
        if temporal is not None and temporal.weight > 0:
            terms["temporal"] = temporal_loss(image, self._space(temporal.image), temporal.mask)
        else:
            terms["temporal"] = torch.zeros((), device=image.device)
        total = (
            opts.content_weight * terms["content"]
            + opts.style_weight * terms["style"]
            + opts.tv_weight * terms["tv"]
            + (temporal.weight * terms["temporal"] if temporal is not None else 0.0)
        )
        terms["total"] = total
        return terms

    def stylize(
        self,
        content: torch.Tensor,
        *,
        init: torch.Tensor,
        budget: int,
        temporal: TemporalTarget | None = None,
        on_step: Callable[[StepReport], None] | None = None,
    ) -> StylizeResult:
        """Optimize from ``init`` for at most ``budget`` steps; stop early when the loss stalls.

        ``on_step`` is called after every step; it may raise to abandon the frame
        (the pipeline does this on Ctrl-C). A NaN or infinite loss or image
        raises :class:`NonFinite` (the method redoes the frame with a safer
        optimizer, methods/optimize.py): a frame is never made of garbage.
        """
        opts = self.optimize
        targets = self.content_targets(content)
        start = self._space(init.detach())
        if temporal is not None:
            temporal = replace(temporal, image=self._space(temporal.image))
        image = start.clone().requires_grad_(True)
        if opts.optimizer is Optimizer.LBFGS:
            # One L-BFGS iteration per step() call keeps one loss evaluation per
            # step, so budgets, progress and the early stop all count the same
            # unit. The optimizer's own convergence tests are disabled: ours
            # (relative improvement over a window) decides when to stop.
            optimizer: torch.optim.Optimizer = torch.optim.LBFGS(
                [image], lr=opts.lr, max_iter=1, history_size=50, tolerance_grad=0.0, tolerance_change=0.0
            )
        else:
            optimizer = torch.optim.Adam([image], lr=opts.lr)

        history: list[float] = []
        best: dict[str, object] = {}
        if not bool(torch.isfinite(start).all()):
            raise NonFinite("image", 0)

        def closure() -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            terms = self.losses(image, targets, temporal)
            value = float(terms["total"].detach())
            if not math.isfinite(value):
                # Caught before the backward pass, so no NaN gradient reaches the optimizer's state.
                raise NonFinite("loss", len(history) + 1)
            terms["total"].backward()
            history.append(value)
            breakdown = _breakdown(terms)
            if not history[:-1]:
                best["initial"] = breakdown
            # Keep the best iterate: L-BFGS without a line search can overshoot on its last step.
            if "loss" not in best or value < best["loss"]:
                best.update(loss=value, image=image.detach().clone(), breakdown=breakdown)
            return terms["total"]

        stopped_early = False
        for step in range(1, budget + 1):
            optimizer.step(closure)
            if opts.optimizer is Optimizer.ADAM:
                with torch.no_grad():
                    image.clamp_(0.0, 1.0)
            if not bool(torch.isfinite(image).all()):
                # The next evaluation would say so too, but the last step's image is never evaluated.
                raise NonFinite("image", step)
            if on_step is not None:
                on_step(StepReport(step=step, budget=budget, loss=history[-1]))
            if self._stalled(history):
                stopped_early = step < budget
                break
        result_image: torch.Tensor = best["image"] if "image" in best else start.clone()  # type: ignore[assignment]
        if self.luminance_only:
            result_image = combine_in_gamut(result_image, chroma(content))
        final = best.get("breakdown") or best["initial"]
        return StylizeResult(
            image=result_image.clamp(0.0, 1.0),
            steps=len(history),
            stopped_early=stopped_early,
            initial=best["initial"],  # type: ignore[arg-type]
            final=final,  # type: ignore[arg-type]
            history=tuple(history),
        )

    def _stalled(self, history: list[float]) -> bool:
        opts = self.optimize
        return stalled(history, window=opts.window, tolerance=opts.tolerance)


def stalled(history: list[float], *, window: int, tolerance: float) -> bool:
    """True when the best loss improved by less than ``tolerance`` (relative) over the last ``window`` steps.

    The best loss so far, not the last one: L-BFGS without a line search
    sometimes overshoots for a step (the loss jumps, then falls further), and a
    test on the last value reads such a jump as "no progress" and stops a cold
    start after a dozen steps with the loss still near its start (seen on a
    flat grey frame from a fade, with real VGG16 features). The result is the
    best iterate anyway, so the best loss is what the early stop should watch.
    """
    if tolerance <= 0 or len(history) <= window:
        return False
    before = min(history[:-window])
    now = min(before, min(history[-window:]))
    if before <= 0:
        return True
    return (before - now) / before < tolerance


def _breakdown(terms: dict[str, torch.Tensor]) -> LossBreakdown:
    values = {name: float(value.detach()) for name, value in terms.items()}
    return LossBreakdown(
        content=values["content"],
        style=values["style"],
        tv=values["tv"],
        temporal=values["temporal"],
        total=values["total"],
    )
