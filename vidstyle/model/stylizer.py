"""The per-frame optimizer: pixels moved until content, style, tv (and temporal) losses balance.

One Stylizer is built per run. It holds the frozen feature extractor and the
style targets and is called once per frame with that frame's content image,
the image to start from and the step budget. One "step" is one evaluation of
the loss and its gradient (a VGG forward and backward pass), the unit of
cost everywhere in vidstyle: budgets, early stopping and logs count steps.

The frames are optimized in a :class:`StylizeBatch`: up to ``capacity``
frames of one size share every network pass (several chains on one GPU,
``--batch-chains``), each in its own *slot* with its own content target,
temporal target, losses, early stop and optimizer state
(model/optimizers.py). A frame that finishes leaves its slot, and the next
frame can take it while the others go on. :meth:`Stylizer.stylize` is a
batch of one. Which steps count, which iterate is returned and when a frame
stops are decided on the device, per slot, and read back only every
``poll_every`` steps, so a GPU is not made to wait for the host each step;
the frames do not depend on how often they are read.

A NaN or infinite loss or image ends its frame with :class:`NonFinite`
(the method redoes the frame with a safer optimizer, methods/optimize.py),
so a frame is never made of garbage. In a batch only that frame's slot
fails: each image's loss and gradient are its own, and the optimizers mask
every update per slot, so the other frames go on untouched.

A frame larger than the device can optimize at once (``tile``, chosen by
model/memory.py) stays one image for the optimizer, and each step's loss and
gradient are put together from overlapping tiles, one tile's activations
alive at a time (:meth:`StylizeBatch._tiled`, model/tiles.py). Tiled
frames batch like whole ones (every tile pass carries every slot); their
network passes are not compiled by ``--compile``.

Cold starts (``cold=True``: a chain's first frame) go coarse to fine
(``OptimizeConfig.coarse_to_fine``, :func:`coarse_schedule`): the frame is
optimized first at a long side of at most 256 px, with the frame's whole
budget, then at sizes growing by sqrt(2) up to the working size, a few steps
each, every stage against style targets made for its size (the style image
scaled with the stage) and started from the previous stage's result,
upsampled. The network sees strokes in pixels: started at 1024 px, the
optimizer paints them at the size its receptive fields have there, a
quarter of their size against the frame of a 256-px run, and a fine ripple
where the 256-px run has swirls. The small stage lays the painting out as
the default 256 px would; the bigger ones sharpen it (crowsonkb's
style-transfer-pytorch and neural-style's multires scripts do the same).
Left to their own style targets, the bigger stages repaint it at their
scale; so each keeps to the first stage's result (objective.Coarse,
COARSE_WEIGHT): the image shrunk to the first stage's size is held near
that result, and the stage is free only in the detail finer than it.
The L-BFGS state is not carried from one stage to the next: its history holds vectors of the stage's pixel count, which have no
counterpart at another size; each stage starts a fresh history from the
upsampled image.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from vidstyle.config import CoarseToFine, ModelConfig, OptimizeConfig, Optimizer
from vidstyle.model.color import chroma, combine_in_gamut, grey, luminance
from vidstyle.model.features import FeatureExtractor
from vidstyle.model.losses import normalised_mse_per_image
from vidstyle.model.objective import Coarse, Content, Gamut, Objective, Style, Temporal, Term, TotalVariation
from vidstyle.model.optimizers import BatchAdam, BatchLBFGS
from vidstyle.model.runtime import Runtime, default_runtime
from vidstyle.model.style import StyleTargets
from vidstyle.model.tiles import Tile, tile_grid
from vidstyle.networks import architecture

# Coarse to fine (issue 23): the first stage's long side is at most START_LONG_SIDE; the stages grow by
# STAGE_FACTOR (twice the pixels a stage) to the working size. Every stage after the first gets
# LATER_STAGE_SHARE of the frame's budget (at least one step): the first one, cheap, paints; the bigger ones,
# each twice the cost of the one before, only sharpen. Measured at 1024 px (docs/performance.md, "coarse to
# fine at high resolution"), before the anchor: the output's style distance at 256 px was 1.35x the 256-px run's
# from a 256 start, 1.63x from 512 (which also took 1.5x the time), 2.94x single-scale; so 256, the CPU
# default's size: the look a user previews there is the look they get at 1024. A share of 0.08 (8 steps a stage
# there) was worse, 1.87x, and 0.33 too, 1.47x: the gap was in what the big stages aimed at, their own style
# targets, which repaint at their scale. So every later stage is held to the first stage's result:
# objective.Coarse at COARSE_WEIGHT on the image shrunk to the first stage's size (1.01x at 1024, 0.99x at 512;
# a lower later style weight, 1.46x at 512, and smaller style targets, 1.57x, were further; a style term at the
# first stage's scale overshot, 0.81x with content distance 1.100 against 1.006, for a VGG pass a step).
# No stage has a side under MIN_COARSE_SIDE (at 32 px relu5_1 is 2x2; below that the deepest Grams say little).
START_LONG_SIDE = 256
STAGE_FACTOR = math.sqrt(2)
LATER_STAGE_SHARE = 1 / 6
MIN_COARSE_SIDE = 32
# A stage may be this much above START_LONG_SIDE: a frame's canvas (--edge-margin, 8 px every side) must not
# add a stage (1024 px on its 1040-px canvas starts at 260, not 184).
START_SLACK = 1.1
COARSE_WEIGHT = 100.0  # the later stages' anchor to the first stage's result (0: none, the schedule before)
_TERMS = ("content", "style", "tv", "temporal", "gamut", "total")


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
    gamut: float = 0.0

    @property
    def terms(self) -> dict[str, float]:
        """Each term by the objective's name (model/objective.py), without the total: a frame record's ``terms``."""
        return {name: getattr(self, name) for name in _TERMS if name != "total"}


@dataclass(frozen=True)
class StepReport:
    """One optimizer step done: the one step-progress shape, from the optimizer to a method, a chain and the run's events.

    The stylizer does not know which frame it optimizes; the method, which
    does, sets ``frame``, and the record then travels unchanged as the
    ``StepDone`` event (pipeline/events.py).
    """

    step: int  # 1-based
    budget: int
    loss: float
    frame: int = 0  # the frame's position in the plan


class NonFinite(ArithmeticError):
    """A loss or the image became NaN or infinite during optimization: the frame must be redone, never written."""

    def __init__(self, what: str, step: int) -> None:
        self.what = what  # "loss" or "image"
        self.step = step
        super().__init__(f"NaN or inf in the {what} at step {step}" if step else f"NaN or inf in the starting {what}")


@dataclass(frozen=True)
class StylizeResult:
    image: torch.Tensor  # (1, 3, H, W), clamped to [0, 1]
    steps: int  # loss evaluations spent (at every size, for a coarse-to-fine cold start)
    stopped_early: bool
    initial: LossBreakdown  # at the starting image
    final: LossBreakdown  # at the returned image (before clamping)
    history: tuple[float, ...]  # total loss at every step (of the full-size stage)
    coarse_steps: tuple[int, ...] = ()  # steps spent at each smaller size before the full size (coarse to fine)
    raw: torch.Tensor | None = field(default=None, repr=False)  # the best iterate as optimized (luminance with --preserve-colors), unclamped
    failed: NonFinite | None = None  # set (and nothing else to be used) when the frame went NaN or infinite


@dataclass
class FrameProblem:
    """One frame for a StylizeBatch: what to match, where to start, how many steps at most."""

    content: torch.Tensor  # (1, 3, H, W) RGB in [0, 1]
    init: torch.Tensor  # (1, 3, H, W)
    budget: int
    temporal: TemporalTarget | None = None
    on_step: Callable[[StepReport], None] | None = None
    first_step: int = 0  # steps already reported for this frame (the coarse stages of a cold start)
    total_budget: int | None = None  # the budget reported with each step (default: budget)
    coarse: tuple[int, ...] = ()  # steps spent at each coarse size before this stage
    # (1, C, h, w), in the loss space: a later coarse-to-fine stage keeps to the first stage's result (objective.Coarse;
    # counted in the total loss, not among the reported terms)
    anchor: torch.Tensor | None = None
    # Filled in by the batch:
    reported: int = field(default=0, init=False)


class Stylizer:
    def __init__(
        self,
        extractor: FeatureExtractor,
        style: StyleTargets,
        *,
        model: ModelConfig,
        optimize: OptimizeConfig,
        runtime: Runtime | None = None,
        style_at: Callable[[tuple[int, int]], StyleTargets] | None = None,
        tile: int | None = None,
    ) -> None:
        """``style_at(size)``: the style targets for another working size (width, height); coarse-to-fine needs it.

        ``tile``: optimize frames larger than this (px, either side) tile by
        tile, overlapping by ``model.tile_overlap`` (model/tiles.py); None: whole.
        """
        self.extractor = extractor
        self.tile = tile
        self.tile_overlap = model.tile_overlap
        self.style = style
        self.optimize = optimize
        self.runtime = runtime or default_runtime(next(extractor.parameters()).device)
        self.runtime.prepare(extractor)
        self.style_at = style_at
        self.coarse_start_side = START_LONG_SIDE  # the first coarse-to-fine stage's long side at most
        vgg = architecture(model.network)
        self.content_layers = tuple(vgg.canonical(n) for n in model.content_layers)
        self.style_layers = tuple(vgg.canonical(n) for n in model.style_layers)
        self._all_layers = tuple(dict.fromkeys(self.content_layers + self.style_layers))
        # Luminance-only transfer (--preserve-colors): the style targets were
        # made from the style's luminance, so the optimizer moves only the
        # frame's luminance and the frame keeps its own chroma (model/color.py).
        self.luminance_only = style.luminance_only
        self._objective = self.runtime.compiled(self._terms)

    # -- the objective ------------------------------------------------------------
    def _space(self, image: torch.Tensor) -> torch.Tensor:
        """What the losses see of an RGB image: itself, or its luminance (1 channel) with --preserve-colors."""
        return luminance(image) if self.luminance_only and image.shape[1] == 3 else image

    def _features(self, image: torch.Tensor, layers: tuple[str, ...]) -> dict[str, torch.Tensor]:
        image = self.runtime.layout(grey(image) if image.shape[1] == 1 else image)
        with self.runtime.network_pass():
            features = self.extractor(image, layers)
        # Grams and losses in float32 whatever the network ran in (model/runtime.py).
        return {name: value.float() for name, value in features.items()}

    def content_targets(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            features = self._features(self._space(content), self.content_layers)
        return {name: features[name].detach() for name in self.content_layers}

    def objective(
        self,
        content_targets: dict[str, torch.Tensor],
        *,
        grams: dict[str, torch.Tensor] | None = None,
        warped: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        temporal_weights: torch.Tensor | float | None = None,
        anchor: torch.Tensor | None = None,
        anchor_weights: torch.Tensor | float | None = None,
    ) -> Objective:
        """The objective a frame (a batch of them) is optimized against: content, style, tv, and temporal when given.

        ``content_targets``: (B, ...) per layer; ``grams``: the style targets
        (default: the run's; a coarse stage passes those of its size);
        ``warped`` and ``mask``: (B, C, H, W) and (B, 1, H, W) in the loss
        space, with a temporal weight per image; ``anchor``: (B, C, h, w), a
        later coarse-to-fine stage's first-stage result, with a weight per image.
        """
        opts = self.optimize
        terms: list[Term] = [
            Content(content_targets, weight=opts.content_weight),
            Style(self.style.grams if grams is None else grams, self.style.layer_weights, weight=opts.effective_style_weight),
            TotalVariation(weight=opts.tv_weight),
        ]
        if warped is not None and mask is not None and temporal_weights is not None:
            terms.append(Temporal(warped, mask, weight=temporal_weights))
        if anchor is not None and anchor_weights is not None:
            terms.append(Coarse(anchor, weight=anchor_weights))
        terms.append(Gamut(weight=opts.gamut_weight))
        return Objective(terms)

    def _terms(
        self,
        image: torch.Tensor,
        content_targets: dict[str, torch.Tensor],
        grams: dict[str, torch.Tensor],
        warped: torch.Tensor | None,
        mask: torch.Tensor | None,
        temporal_weights: torch.Tensor | None,
        anchor: torch.Tensor | None = None,
        anchor_weights: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Every term per image of the batch, (B,) each, and the total; ``image`` is already in the loss space.

        Tensors in, tensors out, so ``--compile`` compiles it whole (the term
        objects are built inside it).
        """
        objective = self.objective(
            content_targets, grams=grams, warped=warped, mask=mask, temporal_weights=temporal_weights, anchor=anchor,
            anchor_weights=anchor_weights,
        )
        losses = objective(image, self._features(image, self._all_layers))
        terms = dict(losses.terms)
        if "temporal" not in terms:
            terms["temporal"] = torch.zeros(image.shape[0], device=image.device)
        terms["total"] = losses.total
        return terms

    def losses(
        self,
        image: torch.Tensor,
        content_targets: dict[str, torch.Tensor],
        temporal: TemporalTarget | None = None,
    ) -> dict[str, torch.Tensor]:
        """Each term (unweighted) and the weighted total, per image, as (B,) tensors (differentiable in ``image``).

        ``image`` is RGB (B, 3, H, W), or with --preserve-colors also the
        luminance (B, 1, H, W) the optimizer moves; RGB is reduced to it.
        """
        image = self._space(image)
        if temporal is not None and temporal.weight > 0:
            weights = torch.full((image.shape[0],), float(temporal.weight), device=image.device)
            return self._terms(image, content_targets, self.style.grams, self._space(temporal.image), temporal.mask, weights)
        return self._terms(image, content_targets, self.style.grams, None, None, None)

    # -- stylizing ----------------------------------------------------------------
    def tiles(self, size: tuple[int, int]) -> list[Tile] | None:
        """The tiles frames of ``size`` (width, height) are optimized in; None when whole (no tile size, or it fits one)."""
        if self.tile is None or (size[0] <= self.tile and size[1] <= self.tile):
            return None
        return tile_grid(size, tile=self.tile, overlap=self.tile_overlap, device=self.runtime.device)

    def batch(self, capacity: int, size: tuple[int, int], *, poll_every: int | None = None, style: StyleTargets | None = None) -> StylizeBatch:
        """An empty batch of ``capacity`` slots for frames of ``size`` (width, height)."""
        return StylizeBatch(self, capacity=capacity, size=size, poll_every=poll_every, style=style)

    def stylize(
        self,
        content: torch.Tensor,
        *,
        init: torch.Tensor,
        budget: int,
        temporal: TemporalTarget | None = None,
        on_step: Callable[[StepReport], None] | None = None,
        cold: bool = False,
    ) -> StylizeResult:
        """Optimize from ``init`` for at most ``budget`` steps; stop early when the loss stalls.

        ``on_step`` is called after every step; it may raise to abandon the frame
        (the pipeline does this on Ctrl-C). ``cold``: a cold start, which goes
        coarse to fine when the settings ask for it. A NaN or infinite loss or
        image raises :class:`NonFinite`.
        """
        problem = FrameProblem(content=content, init=init, budget=budget, temporal=temporal, on_step=on_step)
        if cold:
            problem = self.coarse_start(problem)
        height, width = content.shape[-2:]
        batch = self.batch(1, (width, height))
        batch.add(problem)
        while True:
            finished = batch.step()
            if finished:
                result = finished[0][1]
                if result.failed is not None:
                    raise result.failed
                return result

    def coarse_sizes(self, size: tuple[int, int]) -> list[tuple[int, int]]:
        """The smaller sizes (width, height) a cold start of ``size`` passes through first; empty when it does not."""
        if self.style_at is None:
            return []
        return coarse_schedule(size, self.optimize.coarse_to_fine, start=self.coarse_start_side)

    def coarse_start(self, problem: FrameProblem) -> FrameProblem:
        """Run the smaller stages of a cold start; the problem to finish at full size, started from their result.

        The first stage gets the frame's budget, each later one (the full
        size's included) ``later_stage_budget`` of it, all with the early stop.
        Steps are reported as one count across the stages, against the sum of
        the stages' budgets.
        """
        height, width = problem.content.shape[-2:]
        sizes = self.coarse_sizes((width, height))
        if not sizes:
            return problem
        assert self.style_at is not None
        later = later_stage_budget(problem.budget)
        budgets = [problem.budget] + [later] * (len(sizes) - 1)
        total_budget = sum(budgets) + later
        image = problem.init
        anchor: torch.Tensor | None = None  # the first stage's result, which every later stage keeps to (COARSE_WEIGHT)
        spent: list[int] = []
        for size, budget in zip(sizes, budgets):
            stage = FrameProblem(
                content=_resize(problem.content, size),
                init=_resize(image, size),
                budget=budget,
                on_step=problem.on_step,
                first_step=sum(spent),
                total_budget=total_budget,
                anchor=anchor,
            )
            batch = self.batch(1, size, style=self.style_at(size))
            batch.add(stage)
            result: StylizeResult | None = None
            while result is None:
                finished = batch.step()
                result = finished[0][1] if finished else None
            if result.failed is not None:
                raise result.failed
            spent.append(result.steps - stage.first_step)
            assert result.raw is not None
            image = result.raw.clamp(0.0, 1.0)
            if anchor is None and COARSE_WEIGHT > 0:
                anchor = image
        return replace(
            problem,
            init=_resize(image, (width, height)).clamp(0.0, 1.0),
            budget=later,
            first_step=sum(spent),
            total_budget=total_budget,
            coarse=tuple(spent),
            anchor=anchor,
        )


def coarse_schedule(size: tuple[int, int], mode: CoarseToFine, *, start: int | None = None) -> list[tuple[int, int]]:
    """The sizes (width, height) a cold start of ``size`` is optimized at before ``size`` itself, smallest first.

    They are ``size`` divided by STAGE_FACTOR**k, k = n ... 1, n the fewest
    divisions that bring the long side to START_LONG_SIDE (256) or under,
    with START_SLACK; so the first stage's long side is about 256 at most (and
    never above the working size's) and each stage is upsampled to the next by
    the same factor. ``off``: none. ``auto``: none unless the long side is a
    stage's step above the start (sqrt(2) x 256 x START_SLACK = 398), so the
    CPU default (256 px, on a canvas 8 px larger every side: 272) is left as
    it was. ``on``: at least one (n >= 1). Sizes with a side under
    MIN_COARSE_SIDE are left out. ``start``: another first long side than
    START_LONG_SIDE (benchmarks/resolution.py measures the choice).
    """
    if mode is CoarseToFine.OFF:
        return []
    start = START_LONG_SIDE if start is None else start
    width, height = size
    limit = start * START_SLACK
    if mode is CoarseToFine.AUTO and max(width, height) <= limit * STAGE_FACTOR:
        return []
    stages = 0
    while max(width, height) / STAGE_FACTOR**stages > limit:
        stages += 1
    if mode is CoarseToFine.ON:
        stages = max(stages, 1)
    sizes = []
    for k in range(stages, 0, -1):
        stage = (max(1, round(width / STAGE_FACTOR**k)), max(1, round(height / STAGE_FACTOR**k)))
        if min(stage) >= MIN_COARSE_SIDE:
            sizes.append(stage)
    return sizes


def later_stage_budget(budget: int) -> int:
    """The steps of every coarse-to-fine stage after the first, the full size's included, for a frame budget of ``budget``."""
    return max(1, math.ceil(budget * LATER_STAGE_SHARE))


def _resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, C, H, W) to (width, height): area-averaged when shrinking, bicubic when growing."""
    width, height = size
    if image.shape[-2:] == (height, width):
        return image
    if height * width < image.shape[-2] * image.shape[-1]:
        return F.interpolate(image, size=(height, width), mode="area")
    return F.interpolate(image, size=(height, width), mode="bicubic", align_corners=False)


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


class StylizeBatch:
    """Up to ``capacity`` frames of one size, optimized together, each in its own slot.

    ``add`` puts a frame in a free slot; ``step`` runs one step of every frame
    in the batch and returns the frames that finished (by early stop, budget
    or NaN: see ``StylizeResult.failed``), freeing their slots. The frames' results do not depend on what
    else is in the batch (up to the rounding of batched convolutions).
    """

    def __init__(
        self,
        stylizer: Stylizer,
        *,
        capacity: int,
        size: tuple[int, int],
        poll_every: int | None = None,
        style: StyleTargets | None = None,
    ) -> None:
        self.stylizer = stylizer
        self.capacity = capacity
        self.style = style or stylizer.style
        width, height = size
        self.size = size
        runtime = stylizer.runtime
        device = runtime.device
        self.device = device
        # Reading the losses back makes a GPU wait for the host; do it every few steps there.
        self.poll_every = poll_every or (1 if device.type == "cpu" else 5)
        opts = stylizer.optimize
        channels = 1 if stylizer.luminance_only else 3
        shape = (channels, height, width)
        self.max_budget = 1
        self.image = torch.zeros((capacity, *shape), device=device)
        # Tiled (a frame larger than the device optimizes at once): one set of content targets per tile.
        self.tiles = stylizer.tiles(size)
        self.content_targets: dict[str, torch.Tensor] = {}
        self.tile_targets: list[dict[str, torch.Tensor]] = [{} for _ in self.tiles or ()]
        self.content_scale: dict[str, torch.Tensor] = {}
        self._tile_weights: dict[tuple[int, int, int], torch.Tensor] = {}
        self._positions: dict[str, float] = {}
        self.warped = torch.zeros((capacity, *shape), device=device)
        self.mask = torch.zeros((capacity, 1, height, width), device=device)
        self.temporal_weight = torch.zeros(capacity, device=device)
        # A later coarse-to-fine stage's anchor (its first stage's result), made when the first such frame comes.
        self.anchor: torch.Tensor | None = None
        self.anchor_weight = torch.zeros(capacity, device=device)
        if opts.optimizer is Optimizer.LBFGS:
            self.optimizer: BatchLBFGS | BatchAdam = BatchLBFGS(capacity, math.prod(shape), lr=opts.lr, history=50, device=device)
        else:
            self.optimizer = BatchAdam(capacity, shape, lr=opts.lr, device=device)
        # Per-slot state on the device: every decision of a step is made there.
        self.live = torch.zeros(capacity, dtype=torch.bool, device=device)
        self.steps = torch.zeros(capacity, dtype=torch.long, device=device)
        self.budget = torch.ones(capacity, dtype=torch.long, device=device)
        self.history = torch.zeros((capacity, 1), device=device)
        self.best_loss = torch.full((capacity,), math.inf, device=device)
        self.best_image = torch.zeros((capacity, *shape), device=device)
        self.best_terms = torch.zeros((capacity, len(_TERMS)), device=device)
        self.initial_terms = torch.zeros((capacity, len(_TERMS)), device=device)
        self.stalled = torch.zeros(capacity, dtype=torch.bool, device=device)
        # A NaN or inf: 1 in the loss, 2 in the image; at which step (the steps before it count).
        self.fault_kind = torch.zeros(capacity, dtype=torch.long, device=device)
        self.fault_step = torch.zeros(capacity, dtype=torch.long, device=device)
        # Host side: the frame in each slot, and the slots the host still steps.
        self.problems: list[FrameProblem | None] = [None] * capacity
        self._host_live = [False] * capacity
        self._since_poll = 0

    # -- slots --------------------------------------------------------------------
    @property
    def occupied(self) -> int:
        return sum(problem is not None for problem in self.problems)

    @property
    def free(self) -> int:
        return self.capacity - self.occupied

    def add(self, problem: FrameProblem) -> int:
        """Put a frame in a free slot (ValueError when full); returns the slot.

        NonFinite (and no slot taken) when the image to start from is not finite.
        """
        if self.free == 0:
            raise ValueError("the batch is full")
        slot = self.problems.index(None)
        stylizer = self.stylizer
        height, width = problem.content.shape[-2:]
        if (width, height) != self.size:
            raise ValueError(f"a {width}x{height} frame in a batch of {self.size[0]}x{self.size[1]}")
        if not bool(torch.isfinite(problem.init).all()):
            raise NonFinite("image", 0)
        self._grow_history(problem.budget)
        content = problem.content.to(self.device)
        if self.tiles is None:
            _store(self.content_targets, stylizer.content_targets(content), slot, self.capacity)
        else:
            self._store_content(slot, content)
        start = stylizer._space(problem.init.detach().to(self.device))
        self.image[slot] = start[0]
        self.best_image[slot] = start[0]
        temporal = problem.temporal
        if temporal is not None and temporal.weight > 0:
            self.warped[slot] = stylizer._space(temporal.image.to(self.device))[0]
            self.mask[slot] = temporal.mask.to(self.device).reshape(1, height, width)
            self.temporal_weight[slot] = float(temporal.weight)
        else:
            self.warped[slot] = 0.0
            self.mask[slot] = 0.0
            self.temporal_weight[slot] = 0.0
        self._store_anchor(slot, problem.anchor)
        self.optimizer.reset(slot)
        self.live[slot] = True
        self.steps[slot] = 0
        self.budget[slot] = problem.budget
        self.history[slot] = 0.0
        self.best_loss[slot] = math.inf
        self.best_terms[slot] = 0.0
        self.initial_terms[slot] = 0.0
        self.stalled[slot] = False
        self.fault_kind[slot] = 0
        self.fault_step[slot] = 0
        problem.reported = 0
        self.problems[slot] = problem
        self._host_live[slot] = True
        return slot

    def _store_anchor(self, slot: int, anchor: torch.Tensor | None) -> None:
        """A later coarse-to-fine stage's anchor in slot ``slot`` with COARSE_WEIGHT; none: weight 0."""
        if anchor is not None and self.anchor is None:
            self.anchor = torch.zeros((self.capacity, *anchor.shape[1:]), device=self.device)
        if anchor is not None and self.anchor is not None:
            self.anchor[slot] = anchor[0].to(self.device)
        self.anchor_weight[slot] = COARSE_WEIGHT if anchor is not None else 0.0

    def _grow_history(self, budget: int) -> None:
        if budget > self.max_budget:
            grown = torch.zeros((self.capacity, budget), device=self.device)
            grown[:, : self.max_budget] = self.history
            self.history = grown
            self.max_budget = budget

    # -- one step -------------------------------------------------------------------
    def step(self) -> list[tuple[int, StylizeResult]]:
        """One step of every frame in the batch; the frames that finished, with their slots (now free)."""
        slots = [k for k in range(self.capacity) if self._host_live[k]]
        if not slots:
            return []
        self._step(slots)
        self._since_poll += 1
        if self._since_poll >= self.poll_every or not self._any_may_go_on(slots):
            self._since_poll = 0
            return self._poll()
        return []

    def _any_may_go_on(self, slots: list[int]) -> bool:
        """False when every frame has used its budget (known on the host without reading the device)."""
        return any(self._host_steps(k) < self.problems[k].budget for k in slots)  # type: ignore[union-attr]

    def _host_steps(self, slot: int) -> int:
        problem = self.problems[slot]
        assert problem is not None
        return problem.reported + self._since_poll

    def _step(self, slots: list[int]) -> None:
        stylizer, opts = self.stylizer, self.stylizer.optimize
        everyone = len(slots) == self.capacity
        index = None if everyone else torch.tensor(slots, device=self.device)

        def pick(tensor: torch.Tensor) -> torch.Tensor:
            return tensor if index is None else tensor.index_select(0, index)

        weights = pick(self.temporal_weight)
        temporal = any(self.problems[k].temporal is not None for k in slots)  # type: ignore[union-attr]
        if self.tiles is None:
            x = pick(self.image).detach().clone().requires_grad_(True)
            targets = {name: pick(value) for name, value in self.content_targets.items()}
            anchor = self.anchor
            terms = stylizer._objective(
                x, targets, self.style.grams, pick(self.warped) if temporal else None, pick(self.mask) if temporal else None,
                weights if temporal else None, pick(anchor) if anchor is not None else None,
                pick(self.anchor_weight) if anchor is not None else None,
            )
            total = terms["total"]
            total.sum().backward()  # each image's gradient is its own loss's: the sum never mixes them
            values = torch.stack([terms[name].detach() for name in _TERMS], dim=1)
            x_grad = x.grad
        else:
            x = pick(self.image).detach()
            values, x_grad = self._tiled(x, pick, weights, temporal)
            total = values[:, _TERMS.index("total")]
        with torch.no_grad():
            self._record(slots, pick, index, x.detach(), total.detach(), values)
            grad = x_grad
            if index is not None:
                full = torch.zeros_like(self.image)
                full.index_copy_(0, index, grad)
                grad = full
            self.optimizer.step(self.image, grad, self.live)
            if opts.optimizer is Optimizer.ADAM:
                self.image.copy_(torch.where(self.live.view(-1, 1, 1, 1), self.image.clamp(0.0, 1.0), self.image))
            # The next evaluation would find a non-finite image too, but the last step's image is never evaluated.
            broken = self.live & ~torch.isfinite(self.image).flatten(1).all(1)
            self.fault_kind.copy_(torch.where(broken, torch.full_like(self.fault_kind, 2), self.fault_kind))
            self.fault_step.copy_(torch.where(broken, self.steps, self.fault_step))
            self.live &= ~broken

    def _pooled(self, index: int, shape: tuple[int, int]) -> torch.Tensor:
        """Tile ``index``'s blending weight at a feature map's resolution ``shape`` (h, w): still a partition of unity."""
        key = (index, *shape)
        if key not in self._tile_weights:
            assert self.tiles is not None
            self._tile_weights[key] = F.adaptive_avg_pool2d(self.tiles[index].weight, shape)
        return self._tile_weights[key]

    def _weighted_gram(self, index: int, features: torch.Tensor, positions: float) -> torch.Tensor:
        """Tile ``index``'s part of the frame's Gram at a layer: its positions weighted by the blend, over the frame's ``positions``."""
        weight = self._pooled(index, (features.shape[-2], features.shape[-1]))
        flat = features.flatten(2)
        return (flat * weight.flatten(2)) @ flat.transpose(1, 2) / positions

    def _store_content(self, slot: int, content: torch.Tensor) -> None:
        """A tiled frame's content targets, tile by tile, and each layer's blended mean square (the content term's scale)."""
        assert self.tiles is not None
        scale: dict[str, torch.Tensor] = {}
        for index, (tile, store) in enumerate(zip(self.tiles, self.tile_targets)):
            targets = self.stylizer.content_targets(content[..., tile.rows, tile.cols])
            _store(store, targets, slot, self.capacity)
            for name, value in targets.items():
                part = (value.pow(2) * self._pooled(index, (value.shape[-2], value.shape[-1]))).sum()
                scale[name] = scale[name] + part if name in scale else part
        for name, value in scale.items():
            if name not in self.content_scale:
                self.content_scale[name] = torch.ones(self.capacity, device=self.device)
            # normalised_mse_per_image's guard: an all-zero target is divided by 1.
            self.content_scale[name][slot] = torch.where(value > 0, value, torch.ones_like(value))

    def _tiled(
        self, x: torch.Tensor, pick: Callable[[torch.Tensor], torch.Tensor], weights: torch.Tensor, temporal: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The terms (B, len(_TERMS)) and the gradient of a tiled frame, one tile through the network at a time.

        The same objective as the whole frame's, assembled from tiles (model/tiles.py):
        each feature map position counts once, split between the tiles that
        see it by their blending weights. The style term needs the frame's
        Grams, so a step takes two passes over the tiles: the first (no
        gradient) sums the weighted Grams, whose error gives d(style)/d(Gram);
        the second backpropagates, per tile, that derivative against the
        tile's weighted Gram, with the weighted content error. The other
        terms (tv, temporal, ...) are per pixel and cheap: taken on the whole
        image. Weights and terms come from :meth:`Stylizer.objective`, as the
        untiled path's do, so the two cannot disagree.
        """
        assert self.tiles is not None
        stylizer = self.stylizer
        style_layers, content_layers = stylizer.style_layers, stylizer.content_layers
        layers = stylizer._all_layers
        batch = x.shape[0]
        # The whole frame's objective, built where the untiled path builds it (Stylizer.objective): its content
        # and style terms give the weights (and the Grams) the tiles are put together with, and every other
        # term, per pixel, is evaluated through it on the whole image. A weight or a term added there reaches
        # tiled frames too. (The content targets here are per tile, in self.tile_targets: the content term's
        # own targets stay empty and it is never evaluated as a whole.)
        objective = stylizer.objective(
            {}, grams=self.style.grams, warped=pick(self.warped) if temporal else None,
            mask=pick(self.mask) if temporal else None, temporal_weights=weights if temporal else None,
            anchor=pick(self.anchor) if self.anchor is not None else None,
            anchor_weights=pick(self.anchor_weight) if self.anchor is not None else None,
        )  # fmt: skip
        content_term = next(term for term in objective.terms if isinstance(term, Content))
        style_term = next(term for term in objective.terms if isinstance(term, Style))
        pixel_terms = Objective(term for term in objective.terms if term is not content_term and term is not style_term)
        if pixel_terms.layers:
            raise ValueError(f"a tiled frame takes only pixel terms besides content and style; these read {pixel_terms.layers}")
        # Pass 1: the frame's Grams.
        grams: dict[str, torch.Tensor] = {}
        count = not self._positions  # each layer's positions in the frame (the Gram's divisor), counted on the first step
        with torch.no_grad():
            for index, tile in enumerate(self.tiles):
                features = stylizer._features(x[..., tile.rows, tile.cols], style_layers)
                for name in style_layers:
                    value = features[name]
                    if name not in grams:
                        grams[name] = torch.zeros((batch, value.shape[1], value.shape[1]), device=x.device)
                    grams[name] += self._weighted_gram(index, value, 1.0)
                    if count:
                        shape = (value.shape[-2], value.shape[-1])
                        self._positions[name] = self._positions.get(name, 0.0) + float(self._pooled(index, shape).sum())
            for name in style_layers:
                grams[name] /= self._positions[name]
        leaves = {name: gram.requires_grad_(True) for name, gram in grams.items()}
        layer_total = sum(style_term.layer_weights.values())
        style = torch.stack([
            normalised_mse_per_image(leaves[name], target.unsqueeze(0)) * (style_term.layer_weights[name] / layer_total)
            for name, target in style_term.grams.items()
        ]).sum(0)  # fmt: skip
        (style * style_term.weight).sum().backward()
        d_grams = {name: leaf.grad for name, leaf in leaves.items()}
        # Pass 2: per tile, the gradient of style (through the tile's part of the Grams) and content.
        grad = torch.zeros_like(x)
        content = torch.zeros(batch, device=x.device)
        scale = {name: pick(value) for name, value in self.content_scale.items()}
        for index, (tile, store) in enumerate(zip(self.tiles, self.tile_targets)):
            crop = x[..., tile.rows, tile.cols].clone().requires_grad_(True)
            features = stylizer._features(crop, layers)
            surrogate = torch.zeros(batch, device=x.device)
            for name in style_layers:
                part = self._weighted_gram(index, features[name], self._positions[name])
                surrogate = surrogate + (d_grams[name] * part).flatten(1).sum(1)
            errors = []
            for name in content_layers:
                value, target = features[name], pick(store[name])
                weight = self._pooled(index, (value.shape[-2], value.shape[-1]))
                errors.append(((value - target).pow(2) * weight).flatten(1).sum(1) / scale[name])
            part_content = torch.stack(errors).mean(0)
            (surrogate + content_term.weight * part_content).sum().backward()
            with torch.no_grad():
                assert crop.grad is not None
                grad[..., tile.rows, tile.cols] += crop.grad
                content += part_content.detach()
        # The pixel terms (tv, temporal, a coarse stage's anchor, the gamut penalty) through the objective, on the whole image.
        whole = x.clone().requires_grad_(True)
        pixels = pixel_terms(whole)
        pixels.total.sum().backward()
        with torch.no_grad():
            assert whole.grad is not None
            grad += whole.grad
            total = content_term.weight * content + style_term.weight * style.detach() + pixels.total.detach()
            found = {"content": content, "style": style.detach(), "total": total}
            found.update((name, value.detach()) for name, value in pixels.terms.items())
            zero = torch.zeros(batch, device=x.device)
            values = torch.stack([found.get(name, zero) for name in _TERMS], dim=1)
        return values, grad

    def _record(self, slots: list[int], pick: Callable[[torch.Tensor], torch.Tensor], index: torch.Tensor | None,
                x: torch.Tensor, total: torch.Tensor, values: torch.Tensor) -> None:
        """Per slot, on the device: the loss history, the best iterate, the first step's terms, the early stop."""
        opts = self.stylizer.optimize

        def put(target: torch.Tensor, value: torch.Tensor) -> None:
            if index is None:
                target.copy_(value)
            else:
                target.index_copy_(0, index, value)

        live, steps = pick(self.live), pick(self.steps)
        # A non-finite loss ends the frame before its step counts (and, the slot no longer
        # live, before its NaN gradient reaches the optimizer's state).
        bad = live & ~torch.isfinite(total)
        put(self.fault_kind, torch.where(bad, torch.ones_like(steps), pick(self.fault_kind)))
        put(self.fault_step, torch.where(bad, steps + 1, pick(self.fault_step)))
        history = pick(self.history)
        column = steps.clamp(max=self.max_budget - 1).unsqueeze(1)
        history = history.scatter(1, column, torch.where(live, total, history.gather(1, column).squeeze(1)).unsqueeze(1))
        put(self.history, history)
        put(self.initial_terms, torch.where((live & (steps == 0)).unsqueeze(1), values, pick(self.initial_terms)))
        # Keep the best iterate: L-BFGS without a line search can overshoot on its last step.
        better = live & (total < pick(self.best_loss))
        put(self.best_loss, torch.where(better, total, pick(self.best_loss)))
        put(self.best_terms, torch.where(better.unsqueeze(1), values, pick(self.best_terms)))
        view = (-1,) + (1,) * (x.ndim - 1)
        put(self.best_image, torch.where(better.view(view), x, pick(self.best_image)))
        steps = steps + (live & ~bad).long()
        put(self.steps, steps)
        # The early stop: relative improvement over the last `window` steps below `tolerance`.
        stall = torch.zeros_like(live)
        if opts.tolerance > 0:
            # The best loss before the last `window` steps against the best so far, as :func:`stalled` (which says why).
            columns = torch.arange(history.shape[1], device=history.device).unsqueeze(0)
            earlier = columns < (steps - opts.window).unsqueeze(1)
            before = torch.where(earlier, history, torch.full_like(history, math.inf)).amin(1)
            now = torch.minimum(before, pick(self.best_loss))
            improvement = (before - now) / torch.where(before > 0, before, torch.ones_like(before))
            stall = (steps > opts.window) & ((before <= 0) | (improvement < opts.tolerance))
        budget = pick(self.budget)
        finished = live & (bad | stall | (steps >= budget))
        put(self.stalled, pick(self.stalled) | (finished & stall & ~bad & (steps < budget)))
        put(self.live, live & ~finished)

    # -- reading back ---------------------------------------------------------------
    def _poll(self) -> list[tuple[int, StylizeResult]]:
        """Read the batch's state back: report new steps, hand out the frames that finished."""
        live = self.live.tolist()
        steps = self.steps.tolist()
        faults = self.fault_kind.tolist()
        fault_steps = self.fault_step.tolist()
        finished: list[tuple[int, StylizeResult]] = []
        for slot in range(self.capacity):
            problem = self.problems[slot]
            if problem is None or not self._host_live[slot]:
                continue
            done = steps[slot]
            if faults[slot] == 2:  # the image of step k broke: step k is not reported
                done = min(done, fault_steps[slot] - 1)
            if problem.on_step is not None and done > problem.reported:
                losses = self.history[slot, problem.reported : done].tolist()
                budget = problem.total_budget or problem.budget
                for offset, loss in enumerate(losses):
                    problem.on_step(StepReport(step=problem.first_step + problem.reported + offset + 1, budget=budget, loss=loss))
            problem.reported = done
            if not live[slot]:
                if faults[slot]:
                    what = "loss" if faults[slot] == 1 else "image"
                    failure = NonFinite(what, fault_steps[slot] + problem.first_step)
                    result = StylizeResult(image=problem.init, steps=done + problem.first_step, stopped_early=False,
                                           initial=_breakdown([0.0] * len(_TERMS)), final=_breakdown([0.0] * len(_TERMS)),
                                           history=(), failed=failure)
                else:
                    result = self._result(slot, done)
                finished.append((slot, result))
                self.problems[slot] = None
                self._host_live[slot] = False
        return finished

    def _result(self, slot: int, steps: int) -> StylizeResult:
        problem = self.problems[slot]
        assert problem is not None
        history = tuple(self.history[slot, :steps].tolist())
        initial = _breakdown(self.initial_terms[slot].tolist())
        found = math.isfinite(float(self.best_loss[slot]))
        final = _breakdown(self.best_terms[slot].tolist()) if found else initial
        raw = self.best_image[slot : slot + 1].clone()
        image = raw
        if self.stylizer.luminance_only:
            image = combine_in_gamut(raw, chroma(problem.content.to(self.device)))
        return StylizeResult(
            image=image.clamp(0.0, 1.0),
            steps=steps + problem.first_step,
            stopped_early=bool(self.stalled[slot]),
            initial=initial,
            final=final,
            history=history,
            coarse_steps=problem.coarse,
            raw=raw,
        )


def _store(into: dict[str, torch.Tensor], targets: dict[str, torch.Tensor], slot: int, capacity: int) -> None:
    """Put one frame's content targets (1, ...) per layer into slot ``slot`` of the batch's (capacity, ...) tensors."""
    for name, value in targets.items():
        if name not in into:
            into[name] = torch.zeros((capacity, *value.shape[1:]), device=value.device)
        into[name][slot] = value[0]


def _breakdown(values: list[float]) -> LossBreakdown:
    return LossBreakdown(**dict(zip(_TERMS, values)))
