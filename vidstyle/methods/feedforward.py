"""The fast method: learn the clip's look from a few stylized keyframes, then stylize every frame in milliseconds.

Texler et al. (2020, "Interactive Video Stylization Using Few-Shot
Patch-Based Training") train a small image-to-image network on the clip
itself from a few stylized keyframes. vidstyle has the keyframe stylizer
already (the per-frame optimizer), so it needs no external data set:

1. the caller stylizes K keyframes with the optimizer (cold starts);
2. ``train_network`` fits a compact network (vidstyle.methods.fastnet) on
   random crops of the clip's own frames, with these loss terms (the
   optimizer's term objects, vidstyle.model.objective, each normalised per
   crop as the optimizer normalises per frame; see TrainingObjective):
   * distillation on keyframe crops: L1 and a VGG perceptual loss against the
     optimizer's result (the look to copy);
   * Gatys style and content losses on crops of the other frames (the look
     must hold on frames the keyframes do not show);
   * a temporal term on consecutive frames: the output of frame t+1 against
     the output of frame t warped along the input's optical flow, on the
     pixels the forward-backward check trusts (Ruder et al. 2016's loss, as
     ReCoNet (Gao et al. 2018) use it for training);
3. ``apply_network`` runs it on every frame, in batches.

Training is deterministic on CPU for a given seed, writes checkpoints
(network, optimizer, random state, step, loss history) atomically every N
steps, and a killed training resumes from its last checkpoint to the same
final weights as an uninterrupted one. Saved models are plain tensors and a
JSON string, read with ``torch.load(weights_only=True)``: loading never runs
pickled code.

Data conventions: frames are BGR uint8 (H, W, 3) at the working size (what
frame sources yield and sinks take); inside, RGB float (N, 3, H, W) in [0, 1]
as everywhere in vidstyle (vidstyle.video.pixels).

Choice of network. Measured with ``benchmarks/fast_method.py --architectures
--seconds 300`` (real VGG16 features, the 320-frame benchmark clip at 108x256,
each design trained for the same 300 s on this project's shared 2-core CPU,
one torch thread; quality on 48 frames the optimizer also stylized; apply
time with one thread):

    design                         params  GFLOP/frame  ms/frame  steps  style   content  warping error
    Johnson half width, no norm      423 k     2.34        29      224   7.4x     1.15       0.83x
    Johnson half width, inst. norm   425 k     2.34        61      200   7.4x     1.24       2.22x
    ReCoNet (width 48, inst. norm)  3098 k    16.2        200       99  13.1x     1.15       1.56x
    Texler-style U-Net, no norm      293 k     2.00        34      220  12.9x     0.44       0.05x

(style and warping error as multiples of the optimizer's on the same frames;
its content loss there is 0.80.) ReCoNet is too slow to apply on a CPU (5
fps) and to train (half the steps). Instance norm costs twice the apply time
here and more than doubles the flicker: every pixel depends on the statistics
of the whole picture, which change as things move. The U-Net keeps the
picture (skip connections) but after 300 s has barely started on the style.
The half-width TransformerNet without normalisation learns the style fastest
per second of training, applies at 34 fps, and flickers less than the
optimizer, so it is the default (``DEFAULT_NET``). Trained longer (an H200,
same recipe, same clip) its style loss falls to 2.9x the optimizer's at 1,000
steps, 2.2x at 2,000 and stays at 2.1-2.3x up to 5,000 steps, with the content
loss at 1.5-1.6x and the warping error at 0.6x; cosine decay of the learning
rate and a 5x lower L1 weight did not move that (2.3x at 2,000 steps). A
full-width (32) network without normalisation collapsed to a constant output
at this learning rate.

Its nearest-neighbour upsampling paints a regular grid every 4 px (issue 22);
the measurements of the designs that remove it, and why the default keeps it
for now, are in vidstyle.methods.fastnet's docstring (NetSpec's design
fields) and docs/fast-mode.md, "The grid".
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from vidstyle.config import FULL_TRAIN_STEPS, FlowPreset, MethodConfig, MethodKind, OptimizeConfig, Precision, TemporalConfig, json_adapter
from vidstyle.errors import ModelError, NumericalError, UsageError
from vidstyle.files import write_bytes_atomic
from vidstyle.methods.base import FrameOutcome, FrameResult, FrameTask, StepCallback, StopToken
from vidstyle.methods.fastnet import STRIDE, Architecture, NetSpec, Norm, build_network, phase_spread, run_network
from vidstyle.model.objective import Content, Objective, PixelL1, Style, Temporal, Term, TotalVariation
from vidstyle.model.runtime import Runtime
from vidstyle.model.style import StyleTargets
from vidstyle.model.stylizer import StepReport
from vidstyle.temporal.flow import FlowEstimator
from vidstyle.temporal.masks import reliability_mask
from vidstyle.temporal.warp import warp_tensor
from vidstyle.video.pixels import bgr_to_tensor

# ----------------------------------------------------------------- settings

DEFAULT_NET = NetSpec(architecture=Architecture.JOHNSON, width=16, blocks=5, norm=Norm.NONE)


# The training's style term weighs this times the optimizer's (--style-weight).
# With the optimizer's own weights the network settles on thinner strokes than
# the optimizer paints: style loss 2.4-2.5x the optimizer's on the benchmark
# clip, and neither a wider network (width 24: 2.81x at 1,500 steps; 32: 2.70x at 1,000),
# nor dropping the distillation terms (2.4x), nor lighter tv or temporal
# weights (their terms are under 1% of the loss) changed that. Weighting the
# style term trades content for strokes (bf16 training, 1,500 steps, VGG16,
# The Starry Night; benchmarks/fast_method.py):
#     x1     style 2.36x  content 1.22x  warping error 0.36x
#     x1.5   style 1.55x  content 1.70x  warping error 0.46x
#     x1.75  style 1.50x  content 1.85x  warping error 0.53x   (0.1740 against 0.1161: 1.499x)
#     x2     style 1.32x  content 2.03x  warping error 0.57x
# x1.75 is the lightest weighting measured that brings the strokes to the
# optimizer's (style loss at most 1.5x its, just), and the picture holds: in
# the strip of docs/fast-mode.md the tractor and the screen's frame stay, though the
# screen's text goes; x2 dissolves more of the tractor. (x1.5 and x1.75 differ
# by about what a run's noise moves.)
# These figures predate the one objective (OBJECTIVE_VERSION 2), whose content
# and perceptual terms are normalised per crop instead of over the batch. A
# reduced benchmark (54x128, 40 pan frames, 400 steps, windows 8@60,8@180,8@250;
# two seeds) measured, before -> after: style 2.28x -> 3.10x and 1.98x -> 2.35x,
# content 1.93x -> 1.90x and 1.88x -> 1.97x, warping error 0.71x -> 0.28x and
# 0.60x -> 0.42x: fewer strokes, less flicker. The emphasis has not been
# re-tuned at full size since.
STYLE_EMPHASIS = 1.75

# The temporal term, as a multiple of the run's --temporal-weight, in the
# network's training. Capping the gradient's norm (FastConfig.grad_clip) gives
# the network the optimizer's strokes sooner, but alone it flickered more
# (warping error 1.17x the optimizer's at 1,500 steps, against 0.69x unclipped);
# four times the temporal weight buys that back and more. 150 frames at 54x128,
# VGG16, benchmarks/fast_training.py, lr 1e-3, clip 1 (2026-12-07, seeds 0 / 1):
#     x1 (unclipped, before)  335 steps: style 2.09x / 1.90x, warping error 0.87x / 0.85x
#                           1,500 steps: style 1.43x, warping error 0.69x
#     x1, clip 1              335 steps: style 1.53x / 1.55x, warping error 0.68x / 1.01x
#                           1,500 steps: style 1.21x / 1.29x, warping error 1.17x / 1.42x
#     x4, clip 1              335 steps: style 1.72x / 1.68x, warping error 0.49x / 0.75x
#                           1,500 steps: style 1.19x / 1.25x, warping error 0.45x / 0.65x
# Better than before on both at both budgets and on both seeds; the content
# distance moves little (1.30-1.36x against 1.29-1.34x).
TEMPORAL_EMPHASIS = 4.0


@dataclass(frozen=True)
class LossWeights:
    """Weights of the training terms (each normalised per image, see vidstyle.model.objective and TrainingObjective)."""

    l1: float = 1.0  # distillation: mean |output - keyframe result|, RGB in [0, 1]
    perceptual: float = 1.0  # distillation: normalised feature error at every extractor layer
    # The Gatys terms weigh what the optimizer's do, the style term STYLE_EMPHASIS
    # times more, so the network learns the optimizer's look: a run passes its own
    # --style-weight, --content-weight, --tv-weight and --temporal-weight
    # (vidstyle.pipeline.fast.fast_config).
    style: float = OptimizeConfig.style_weight * STYLE_EMPHASIS  # Gatys style loss on other frames
    content: float = OptimizeConfig.content_weight  # Gatys content loss on other frames
    temporal: float = TemporalConfig.weight * TEMPORAL_EMPHASIS  # masked squared difference to the warped output of the previous frame
    tv: float = OptimizeConfig.tv_weight  # total variation, per pixel as the optimizer's
    # The shuffle convolution's four sub-pixel kernels held together: this times
    # their squared distance from their mean (fastnet.phase_spread), because
    # phases that train apart paint shuffle's herringbone. 300 holds them equal
    # (spread 6e-5 at 600 steps, against 0.2 after 25 steps without) but leaves
    # a lattice like nearest's and learns the style slower (fastnet's module
    # docstring, docs/fast-mode.md); so 0: off (and nothing to hold in the
    # networks without a shuffle convolution).
    phases: float = 0.0

    def __post_init__(self) -> None:
        if any(value < 0 for value in asdict(self).values()):
            raise UsageError("Fast-mode loss weights must be >= 0.")


@dataclass(frozen=True)
class FastConfig:
    """Keyframes and training of the fast method's network.

    Evidence for the defaults (benchmarks/fast_method.py; real VGG16 features,
    The Starry Night, the 320-frame benchmark clip at 108x256; ratios to the
    optimizer's flow mode on the same frames):

    * train_steps 1500: the style loss is 5.4x the optimizer's after 250 steps, 4.3x
      after 500, 2.9x after 1,000, 2.2x after 2,000 and flat (2.1-2.3x) up to
      5,000. 1,500 steps cost about 1,500 x 2.7 optimizer steps of CPU (a step
      here is four 108x108 crops through VGG16 and back, plus their targets).
    * no early stop by default (tolerance 0: the budget is trained whole; the
      budget rule already bounds the time). A stop on the mean training loss
      of 100-step windows (tolerance 1%) ended training at step 449 (H200) and
      602 (CPU) while the style loss still halved afterwards; a stop on a fixed
      validation set (tolerance 1%, patience 3) did the same at today's
      defaults: the reduced benchmark (280 frames at 54x128, 2026-12-07)
      stopped at step 500 with the style loss 4.83x the optimizer's, which
      reached 4.45x at 1,000 and 3.85x at 1,500 steps while the validation
      loss wandered between 15 and 20 (its temporal pair and keyframe terms
      do not follow the style).
    * crop 128 (capped by the frame's short side), 2 + 2 crops and 1 temporal
      pair: 64-px crops, twice as many, cost 0.45x per step and learned no
      faster per second (5.7x at 500 steps against 5.4x at 250 of the
      default).
    * lr 1e-3 (Johnson et al.), cosine decay to 0.1x, and l1 1.0: a run with
      the decay and l1 0.2 reached 2.31x at 2,000 steps against 2.24x
      without: neither matters at this budget.
    * grad_clip 1. Measured 2026-12-07 (benchmarks/fast_training.py,
      150 frames at 54x128, docs/fast-mode.md "Gradient clipping"): the norm
      clipped to 1 at lr 1e-3 brought the style loss from 2.09x / 1.90x to
      1.53x / 1.55x (seeds 0 / 1) at 335 steps and from 1.43x to 1.21x at
      1,500, but alone the warping error went 0.87x / 0.85x -> 0.68x / 1.01x
      and 0.69x -> 1.17x (over the issue's 1.0x); with the temporal term at
      TEMPORAL_EMPHASIS times the run's weight (its comment has the table) it
      is better than unclipped on both. lr 2e-3-4e-3 with the clip did worse.
    * content / tv weights: the run's (the optimizer's); the temporal weight
      the run's times TEMPORAL_EMPHASIS, the style weight the run's times
      STYLE_EMPHASIS (their comments have the
      measurements). With the optimizer's own style weight the network painted
      thin strokes (style 2.50x, fp32 training); with 3.3x it matched them
      (1.05x) but the picture dissolved (content 2.60x). (The figures above
      this one were measured at the old defaults, style 10 and tv 1e-3, for
      both methods.)
    * keyframes 100: one cold start per 100 frames of a shot (at least one
      per shot) costs what the optimizer spends on cold starts at cuts; in bf16
      (where the training is, vidstyle.pipeline.fast.keyframer_settings) about
      half that.
    """

    net: NetSpec = DEFAULT_NET
    # The run's own settings (config.py holds their defaults and CLI options;
    # pipeline/fast.py's fast_config copies a run's values in), under the same names.
    keyframes: int = MethodConfig.keyframes  # one keyframe per this many frames of a shot, at least one per shot
    train_steps: int = FULL_TRAIN_STEPS  # step budget; one step = one Adam update on one batch of crops
    crop: int = 128  # side of the square training crops (px, at the working size)
    keyframe_crops: int = 2  # distillation crops per step
    frame_crops: int = 2  # style/content crops of other frames per step
    temporal_pairs: int = 1  # consecutive-frame crops per step for the temporal term
    # Distillation-heavy training (Texler et al.'s L1 on patches between the feature
    # network's steps): steps 1, 1 + full_every, ... are full steps (the feature
    # network's perceptual, style and content terms); the others are cheap steps,
    # the network's own pass only: L1 against the keyframes on `cheap_crops` crops,
    # tv and the temporal term. 1 (the default): every step is full. Measured on
    # 150 frames at 54x128 (benchmarks/fast_training.py, docs/fast-mode.md,
    # 2026-12-07): a cheap step costs 0.37x a full one, but one full step in 4
    # painted a flat blue (style loss 10.8x the optimizer's at 887 steps and 167
    # CPU s; 9.8x at 572 steps and 109 s), against 1.94x for 465 full steps in
    # 169 s: at these budgets the L1 steps pull the network to the keyframes'
    # mean colour faster than the full steps paint strokes. So it stays at 1.
    full_every: int = 1
    cheap_crops: int = 4  # keyframe crops of a cheap step
    learning_rate: float = 1e-3  # Adam, as Johnson et al.
    final_lr: float = 0.1  # cosine decay of the learning rate to this fraction at the end of the budget
    grad_clip: float = 1.0  # the gradient's norm (all parameters together) clipped to this before each Adam step; 0: off
    weights: LossWeights = field(default_factory=LossWeights)
    window: int = 100  # steps between validations (the loss of fixed held-out crops)
    validation_batches: int = 4  # batches of fixed crops in the validation set
    tolerance: float = 0.0  # early stop (0: off, the default): the best validation loss improved less than this fraction ...
    patience: int = 3  # ... over the last `patience` validations
    checkpoint_every: int = 50  # steps between checkpoints
    seed: int = OptimizeConfig.seed
    flow_preset: FlowPreset = TemporalConfig.flow_preset
    # The loss network (VGG) in bf16 autocast while training; the fast network, Grams and losses stay fp32.
    # On a CPU with native bf16 (AMX) training took 0.46x the time at the same losses (docs/fast-mode.md).
    bf16_losses: bool = False

    def __post_init__(self) -> None:
        MethodConfig(kind=MethodKind.FAST, keyframes=self.keyframes, train_steps=self.train_steps)  # its checks, its messages
        if self.crop < 16:
            raise UsageError("Fast-mode training crops must be at least 16 px.")
        if min(self.keyframe_crops, self.frame_crops, self.temporal_pairs) < 0:
            raise UsageError("Fast-mode crop counts must be >= 0.")
        if self.keyframe_crops + self.frame_crops + self.temporal_pairs == 0:
            raise UsageError("Fast-mode training needs at least one crop per step.")
        if self.full_every < 1 or self.cheap_crops < 0 or (self.full_every > 1 and self.cheap_crops + self.temporal_pairs == 0):
            raise UsageError("Fast-mode full_every must be >= 1 and a cheap step needs at least one crop.")
        if self.learning_rate <= 0:
            raise UsageError("The fast-mode learning rate must be > 0.")
        if self.tolerance < 0 or min(self.window, self.checkpoint_every, self.patience, self.validation_batches) < 1:
            raise UsageError("Fast-mode tolerance must be >= 0; window, patience, validation batches and checkpoint interval >= 1.")
        if not 0 < self.final_lr <= 1:
            raise UsageError("The fast-mode final learning-rate fraction must be in (0, 1].")
        if not (math.isfinite(self.grad_clip) and self.grad_clip >= 0):
            raise UsageError("The fast-mode gradient clip must be a finite norm >= 0 (0 turns clipping off).")

    @property
    def cheap_weights(self) -> LossWeights:
        """A cheap step's terms: the full step's without those that need the feature network."""
        return replace(self.weights, perceptual=0.0, style=0.0, content=0.0)

    def to_json(self) -> dict[str, object]:
        """The settings as JSON (pydantic, as config.py's): the checkpoint's fingerprint and the saved network's record."""
        return json_adapter(FastConfig).dump_python(self, mode="json")


def keyframe_positions(length: int, count: int) -> tuple[int, ...]:
    """``count`` keyframes spread over a shot of ``length`` frames: the centre of each of ``count`` equal parts.

    At least one, at most one per frame. Centres rather than ends: a keyframe
    teaches the frames around it, and a shot's first and last frames have
    neighbours on one side only.
    """
    if length < 1:
        raise UsageError("A shot needs at least one frame.")
    count = max(1, min(count, length))
    return tuple(sorted({int((2 * part + 1) * length // (2 * count)) for part in range(count)}))


def plan_keyframes(shots: Sequence[tuple[int, int]], *, every: int) -> tuple[int, ...]:
    """Keyframe positions for shots given as (first, end) frame positions: one per ``every`` frames, at least one per shot."""
    keys: list[int] = []
    for first, end in shots:
        length = end - first
        keys += [first + offset for offset in keyframe_positions(length, max(1, round(length / every)))]
    return tuple(keys)


# ----------------------------------------------------------------- data


@dataclass(frozen=True)
class TrainingClip:
    """What the network learns from.

    ``frames``: the clip's frames in order, BGR uint8 (H, W, 3), all the same
    size (the working size). For a long clip the caller may pass a subset, as
    runs of consecutive frames. ``keyframes``: index into ``frames`` -> the
    optimizer's stylization of that frame (BGR uint8, same size).
    ``breaks``: indices i where frames[i + 1] does not follow frames[i] (a cut,
    or a gap in a subset): no temporal pair spans them.
    """

    frames: Sequence[np.ndarray]
    keyframes: Mapping[int, np.ndarray]
    breaks: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if not self.frames:
            raise UsageError("Fast-mode training needs at least one frame.")
        if not self.keyframes:
            raise UsageError("Fast-mode training needs at least one stylized keyframe.")
        shape = self.frames[0].shape
        for frame in self.frames:
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape != shape or shape[2] != 3:
                raise UsageError(f"Fast-mode frames must all be BGR uint8 of shape {shape}; got {frame.dtype} {frame.shape}.")
        for index, image in self.keyframes.items():
            if not 0 <= index < len(self.frames):
                raise UsageError(f"Keyframe {index} is outside the {len(self.frames)} training frames.")
            if image.dtype != np.uint8 or image.shape != shape:
                raise UsageError(f"Keyframe {index} must be BGR uint8 of shape {shape}; got {image.dtype} {image.shape}.")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.frames[0].shape[1], self.frames[0].shape[0]

    def pairs(self) -> list[int]:
        """Indices i such that (i, i + 1) are consecutive frames."""
        return [i for i in range(len(self.frames) - 1) if i not in self.breaks]

    def others(self) -> list[int]:
        """Frames that are not keyframes (all frames when every frame is one)."""
        rest = [i for i in range(len(self.frames)) if i not in self.keyframes]
        return rest or list(range(len(self.frames)))

    def identity(self) -> str:
        """A hash of the pixels and the structure, so a checkpoint of another clip is never resumed."""
        digest = hashlib.sha256()
        digest.update(json.dumps([len(self.frames), sorted(self.keyframes), sorted(self.breaks)]).encode())
        for frame in self.frames:
            digest.update(np.ascontiguousarray(frame).data)
        for index in sorted(self.keyframes):
            digest.update(np.ascontiguousarray(self.keyframes[index]).data)
        return digest.hexdigest()


class FeatureNetwork(Protocol):
    """A frozen feature extractor: RGB [0, 1] batch -> named responses (vidstyle.model.features.FeatureExtractor)."""

    def __call__(self, image: torch.Tensor, layers: Sequence[str] | None = None) -> dict[str, torch.Tensor]: ...


# ----------------------------------------------------------------- events


@dataclass(frozen=True)
class TrainingStarted:
    budget: int
    resumed_at: int  # the step a checkpoint brought back (0: a fresh start)
    parameters: int


@dataclass(frozen=True)
class TrainingStep:
    step: int  # 1-based
    budget: int
    loss: float
    terms: dict[str, float]
    eta_seconds: float | None  # for the rest of the budget, at this process's pace
    validation: float | None = None  # loss on the fixed validation crops, every `window` steps


@dataclass(frozen=True)
class CheckpointSaved:
    step: int
    path: Path


@dataclass(frozen=True)
class TrainingFinished:
    steps: int
    stopped_early: bool
    seconds: float  # training time in this process
    loss: float  # the last validation loss


TrainingEvent = TrainingStarted | TrainingStep | CheckpointSaved | TrainingFinished


class TrainingStopped(Exception):
    """Raised when the stop token was requested: the state up to ``step`` is in the checkpoint (if a folder was given)."""

    def __init__(self, step: int, checkpoint: Path | None) -> None:
        super().__init__(f"training stopped at step {step}")
        self.step = step
        self.checkpoint = checkpoint


@dataclass
class TrainResult:
    net: nn.Module  # in eval mode; carries ``.spec``
    spec: NetSpec
    steps: int  # steps done in total (this call and the checkpoint it resumed)
    stopped_early: bool
    seconds: float  # spent in this call
    history: tuple[float, ...]  # total loss at every step
    validation: tuple[float, ...] = ()  # loss on the fixed validation crops, every `window` steps


# ----------------------------------------------------------------- training

CHECKPOINT_NAME = "fast-checkpoint.pt"
FLOW_CACHE_BYTES = 512 * 2**20  # flows and masks kept during training (12 bytes a pixel)
_CHECKPOINT_FORMAT = "vidstyle-fast-checkpoint"
_MODEL_FORMAT = "vidstyle-fast-model"
_FORMAT_VERSION = 1


def new_network(spec: NetSpec, *, seed: int) -> nn.Module:
    """The network with its initial weights drawn from ``seed`` (the global RNG is left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_network(spec)


# The fast network trains in the channels_last layout and is applied in the
# default one. Its convolutions are small (batches of 2 crops, 16-64
# channels) and took nearly half of a step's convolution time. Probed in one
# process on the 150-frame benchmark clip (2026-12-08, this project's 2-core
# AMD EPYC, one thread, the layouts alternated 4 times): a full step 0.92x the
# NCHW time with the fast network alone in NHWC, 0.84x together with the loss
# network's (_Bf16Features). Applied, a frame must not depend on the thread
# count (--workers, resume), so apply_network gets the weights back in NCHW.
def _for_training(net: nn.Module) -> nn.Module:
    return net.to(memory_format=torch.channels_last)


def _for_applying(net: nn.Module) -> nn.Module:
    return net.to(memory_format=torch.contiguous_format).eval()


class _Sampler:
    """Random crops drawn from one torch.Generator, whose state travels in the checkpoint."""

    def __init__(self, clip: TrainingClip, config: FastConfig, generator: torch.Generator, device: torch.device) -> None:
        self.clip = clip
        self.config = config
        self.generator = generator
        self.device = device
        width, height = clip.size
        side = min(config.crop, width, height)
        self.crop = (side // STRIDE) * STRIDE if side >= STRIDE else side
        self.keys = sorted(clip.keyframes)
        self.others = clip.others()
        self.pairs = clip.pairs()
        self.flow = FlowEstimator(config.flow_preset)
        # Flows and masks of the pairs seen so far. Each is a pure function of
        # its two frames, so the cache changes speed only, never a result; it
        # matters on a GPU, where two DIS flows (milliseconds on the CPU) cost
        # more than the training step itself. Bounded: a long clip at a large
        # working size keeps the first pairs only.
        self._flows: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        width, height = clip.size
        self._flow_budget = max(1, FLOW_CACHE_BYTES // (width * height * 12))

    def _int(self, high: int) -> int:
        return int(torch.randint(high, (1,), generator=self.generator))

    def _window(self) -> tuple[int, int]:
        width, height = self.clip.size
        return self._int(height - self.crop + 1), self._int(width - self.crop + 1)

    def _cut(self, image: np.ndarray, y: int, x: int) -> torch.Tensor:
        return bgr_to_tensor(np.ascontiguousarray(image[y : y + self.crop, x : x + self.crop]), device=self.device)

    def keyframe_batch(self, count: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        if count == 0:
            return None
        inputs, targets = [], []
        for _ in range(count):
            index = self.keys[self._int(len(self.keys))]
            y, x = self._window()
            inputs.append(self._cut(self.clip.frames[index], y, x))
            targets.append(self._cut(self.clip.keyframes[index], y, x))
        return torch.cat(inputs), torch.cat(targets)

    def frame_batch(self, count: int) -> torch.Tensor | None:
        if count == 0:
            return None
        crops = []
        for _ in range(count):
            index = self.others[self._int(len(self.others))]
            y, x = self._window()
            crops.append(self._cut(self.clip.frames[index], y, x))
        return torch.cat(crops)

    def _flow(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Backward flow (frame index + 1 -> index) and its reliability mask."""
        if index in self._flows:
            return self._flows[index]
        pair = self.flow.pair(self.clip.frames[index], self.clip.frames[index + 1])
        found = (pair.backward, reliability_mask(pair.backward, pair.forward))
        if len(self._flows) < self._flow_budget:
            self._flows[index] = found
        return found

    def temporal_batch(self, count: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """(previous crops, current crops, backward flows (N, h, w, 2), masks (N, 1, h, w)) of consecutive frames.

        The flow is computed on the whole frames (a crop would lose what moves
        in from outside it) and cropped; pixels whose flow leaves the crop are
        masked out, since the warped crop has nothing there.
        """
        if count == 0 or not self.pairs:
            return None
        previous, current, flows, masks = [], [], [], []
        for _ in range(count):
            index = self.pairs[self._int(len(self.pairs))]
            y, x = self._window()
            before, after = self.clip.frames[index], self.clip.frames[index + 1]
            backward, mask = self._flow(index)
            flow = backward[y : y + self.crop, x : x + self.crop]
            grid_y, grid_x = np.mgrid[0 : self.crop, 0 : self.crop].astype(np.float32)
            target_x, target_y = grid_x + flow[:, :, 0], grid_y + flow[:, :, 1]
            inside = (target_x >= 0) & (target_x <= self.crop - 1) & (target_y >= 0) & (target_y <= self.crop - 1)
            masks.append(torch.from_numpy(mask[y : y + self.crop, x : x + self.crop] * inside)[None, None])
            flows.append(torch.from_numpy(np.ascontiguousarray(flow)))
            previous.append(self._cut(before, y, x))
            current.append(self._cut(after, y, x))
        return (
            torch.cat(previous),
            torch.cat(current),
            torch.stack(flows).to(self.device),
            torch.cat(masks).to(self.device, torch.float32),
        )


@dataclass(frozen=True)
class _Batch:
    """The crops of one step: (inputs, keyframe results), other frames' inputs, temporal pairs."""

    keyed: tuple[torch.Tensor, torch.Tensor] | None
    framed: torch.Tensor | None
    temporal: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None

    @classmethod
    def draw(cls, sampler: "_Sampler", config: "FastConfig") -> "_Batch":
        return cls(
            keyed=sampler.keyframe_batch(config.keyframe_crops),
            framed=sampler.frame_batch(config.frame_crops),
            temporal=sampler.temporal_batch(config.temporal_pairs),
        )

    @classmethod
    def draw_cheap(cls, sampler: "_Sampler", config: "FastConfig") -> "_Batch":
        """A cheap step's crops: keyframe crops (L1) and temporal pairs, no other frames (they need the feature network)."""
        return cls(keyed=sampler.keyframe_batch(config.cheap_crops), framed=None, temporal=sampler.temporal_batch(config.temporal_pairs))


def is_full_step(step: int, config: "FastConfig") -> bool:
    """Whether 1-based ``step`` is a full step (feature-network terms) or a cheap one (see FastConfig.full_every).

    Steps 1, 1 + full_every, 1 + 2 x full_every ...: the first step is full, so
    a budget of any size has at least one.
    """
    return (step - 1) % config.full_every == 0


def full_steps_in(steps: int, config: "FastConfig") -> int:
    """How many of the first ``steps`` steps are full steps (the budget prices the two kinds apart)."""
    return -(-max(0, steps) // config.full_every)


def _warp_each(batch: torch.Tensor, flows: torch.Tensor) -> torch.Tensor:
    return torch.cat([warp_tensor(batch[i : i + 1], flows[i]) for i in range(batch.shape[0])])


# ----------------------------------------------------------------- the training objective
# The terms are the optimizer's (vidstyle.model.objective), each normalised per
# image as there, so a weight reads the same at any size and batch. A step's
# crops come in three groups that different terms see: keyframe crops (l1 and
# perceptual against the optimizer's result), other frames' crops (style and
# content against the input crop), both (tv), and consecutive pairs
# (temporal). Each term is averaged over the crops it sees: its weight per
# crop is the term's weight divided by that count, and the step's loss is the
# sum over every crop of its total.


# Changes when the training objective does, so a checkpoint trained against
# another one is not resumed (2: content and perceptual terms normalised per
# crop, as the optimizer's, instead of over the whole batch of crops).
OBJECTIVE_VERSION = 2


class TrainingObjective:
    """The training loss of one step: the total (a scalar) and each term's mean over the crops it sees."""

    def __init__(
        self,
        features: FeatureNetwork,
        style: StyleTargets,
        *,
        content_layers: Sequence[str],
        weights: LossWeights,
    ) -> None:
        self.features = features
        self.style = style
        self.content_layers = tuple(content_layers)
        self.layers = tuple(dict.fromkeys(self.content_layers + tuple(style.grams)))
        self.weights = weights

    def __call__(self, net: nn.Module, batch: "_Batch") -> dict[str, torch.Tensor]:
        w = self.weights
        keyed, framed, temporal = batch.keyed, batch.framed, batch.temporal
        # (outputs, their features, the terms they see)
        groups: list[tuple[torch.Tensor, dict[str, torch.Tensor], list[Term]]] = []
        outputs, target_images = [], []
        if keyed is not None:
            outputs.append(run_network(net, keyed[0]))
            target_images.append(keyed[1])
        if framed is not None:
            outputs.append(run_network(net, framed))
            target_images.append(framed)
        if outputs:
            out = torch.cat(outputs)
            seen = out.shape[0]
            split = keyed[0].shape[0] if keyed is not None else 0
            features: dict[str, torch.Tensor] = {}
            if w.perceptual or w.style or w.content:
                # One pass of the feature network for every crop that needs it: the
                # targets (keyframe results, input crops) without gradients, the
                # outputs with.
                with torch.no_grad():
                    target_features = self.features(torch.cat(target_images), self.layers)
                features = self.features(out, self.layers)
            tv = [TotalVariation(weight=w.tv / seen)] if w.tv else []
            if keyed is not None:
                terms: list[Term] = [PixelL1(keyed[1], weight=w.l1 / split)]
                if w.perceptual:
                    terms.append(Content({n: f[:split] for n, f in target_features.items()}, weight=w.perceptual / split, name="perceptual"))
                groups.append((out[:split], {n: f[:split] for n, f in features.items()}, terms + tv))
            if framed is not None:
                count = seen - split
                terms = []
                if w.style:
                    terms.append(Style(self.style.grams, self.style.layer_weights, weight=w.style / count))
                if w.content:
                    terms.append(Content({n: target_features[n][split:] for n in self.content_layers}, weight=w.content / count))
                if terms or tv:
                    groups.append((out[split:], {n: f[split:] for n, f in features.items()}, terms + tv))
        if temporal is not None and w.temporal:
            previous, current, flows, masks = temporal
            both = run_network(net, torch.cat((previous, current)))
            before, after = both[: previous.shape[0]], both[previous.shape[0] :]
            # The target is the network's own output for the previous frame: the gradient flows through both.
            term = Temporal(_warp_each(before, flows), masks, weight=w.temporal / after.shape[0], through_target=True)
            groups.append((after, {}, [term]))
        per_crop: dict[str, list[torch.Tensor]] = {}
        totals = []
        for images, group_features, group_terms in groups:
            result = Objective(group_terms)(images, group_features)
            totals.append(result.total.sum())
            for name, value in result.terms.items():
                per_crop.setdefault(name, []).append(value)
        if w.phases:
            # A term of the weights, not of the crops: added once per step.
            spread = phase_spread(net)
            per_crop["phases"] = [spread.reshape(1)]
            totals.append(w.phases * spread)
        named = {name: torch.cat(values).mean() for name, values in per_crop.items()}
        named["total"] = torch.stack(totals).sum() if totals else torch.zeros(())
        return named


class _Bf16Features:
    """A feature network in the optimizer's bf16 network pass (model/runtime.py), its features handed back in fp32.

    It runs channels_last: oneDNN's bf16 convolutions are faster in NHWC, so
    a training step costs less and the budget rule buys more of them (with the
    fast network's own NHWC pass, see _for_training: a step 0.84x the NCHW
    time on the 150-frame benchmark clip, 2026-12-08). The weights are put in
    that layout on a copy: the run's feature network is shared with the
    optimizer's passes, which stay NCHW on a CPU (runtime.resolve_runtime; the
    keyframes too: in NHWC bf16 they did not come out the same in two
    processes, and a killed run's resume must match an uninterrupted one).
    """

    def __init__(self, inner: FeatureNetwork, device: torch.device) -> None:
        self.runtime = Runtime(device=device, precision=Precision.BF16, channels_last=True)
        self.inner = self.runtime.prepare(copy.deepcopy(inner)) if isinstance(inner, nn.Module) else inner

    def __call__(self, image: torch.Tensor, layers: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        with self.runtime.network_pass():
            features = self.inner(self.runtime.layout(image), layers)
        return {name: value.float() for name, value in features.items()}


def _fingerprint(clip: TrainingClip, style: StyleTargets, config: FastConfig, content_layers: Sequence[str]) -> str:
    """Everything the weights depend on; the checkpoint interval does not, so changing it keeps the checkpoint."""
    settings = {k: v for k, v in config.to_json().items() if k != "checkpoint_every"}
    facts = {
        "clip": clip.identity(), "style": style.key, "config": settings, "content": list(content_layers),
        "objective": OBJECTIVE_VERSION,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def _save_checkpoint(
    folder: Path, *, step: int, net: nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator,
    history: list[float], validation: list[float], fingerprint: str,
) -> Path:
    payload = {
        "format": _CHECKPOINT_FORMAT,
        "version": _FORMAT_VERSION,
        "fingerprint": fingerprint,
        "step": step,
        "net": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "rng": generator.get_state(),
        "history": torch.tensor(history, dtype=torch.float64),
        "validation": torch.tensor(validation, dtype=torch.float64),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path = folder / CHECKPOINT_NAME
    write_bytes_atomic(path, buffer.getvalue())
    return path


def _load_checkpoint(folder: Path, fingerprint: str) -> dict[str, object] | None:
    """The checkpoint in ``folder`` when it belongs to this training, else None (start afresh)."""
    path = folder / CHECKPOINT_NAME
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torn or foreign: the work is redone, never trusted
        return None
    if (
        not isinstance(payload, dict)
        or payload.get("format") != _CHECKPOINT_FORMAT
        or payload.get("version") != _FORMAT_VERSION
        or payload.get("fingerprint") != fingerprint
    ):
        return None
    return payload


def network_from_checkpoint(folder: Path, spec: NetSpec, *, device: torch.device | str = "cpu") -> nn.Module:
    """The network as of the last checkpoint in ``folder`` (e.g. after TrainingStopped), in eval mode."""
    path = Path(folder) / CHECKPOINT_NAME
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        net = new_network(spec, seed=0)
        net.load_state_dict(payload["net"])
    except Exception as error:
        raise ModelError(f"No usable fast-mode checkpoint in {folder} ({type(error).__name__}); train again.") from None
    return net.to(torch.device(device)).eval()


def _stalled(validation: Sequence[float], config: FastConfig) -> bool:
    """True when the last ``patience`` validations beat the best one before them by less than ``tolerance``.

    The training loss of a step is too noisy to stop on (every step draws
    other crops: on the benchmark clip it swings by +-20% from step to step),
    so the early stop watches the loss of one fixed validation batch instead.
    """
    patience = config.patience
    if config.tolerance <= 0 or len(validation) <= patience:
        return False
    before = min(validation[:-patience])
    recent = min(validation[-patience:])
    return before <= 0 or (before - recent) / before < config.tolerance


# Batches in a row whose loss or gradient is NaN or infinite before training gives up (see train_network).
MAX_NONFINITE_STEPS = 10


def learning_rate_at(step: int, config: FastConfig) -> float:
    """Cosine decay from ``learning_rate`` to ``final_lr`` times it over the step budget (a function of the step: resumable)."""
    progress = min(1.0, step / config.train_steps)
    scale = config.final_lr + (1.0 - config.final_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return config.learning_rate * scale


def clip_gradient(net: nn.Module, config: FastConfig) -> None:
    """Scale the gradient down to ``config.grad_clip`` in norm (all parameters together) when it is longer; 0: leave it."""
    if config.grad_clip > 0:
        nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)


def train_network(
    clip: TrainingClip,
    *,
    features: FeatureNetwork,
    style: StyleTargets,
    content_layers: Sequence[str],
    config: FastConfig = FastConfig(),
    checkpoint_dir: Path | None = None,
    on_event: Callable[[TrainingEvent], None] | None = None,
    stop: StopToken | None = None,
    after_step: Callable[[int], None] | None = None,
    poisoned: Callable[[int, int], bool] | None = None,
    device: torch.device | str = "cpu",
) -> TrainResult:
    """Train the fast network on ``clip``; resumes from ``checkpoint_dir`` when it holds this training's checkpoint.

    ``features`` and ``style`` are the feature network and style targets the
    optimizer uses (vidstyle.model.build.build_core gives both), so the
    network learns the same objective. ``stop`` (the run's stop token) is polled
    before every step; once it is requested the state is checkpointed and TrainingStopped is
    raised. ``after_step(step)`` is called once a step and the checkpoint
    due at it are done (the pipeline's fault point). Deterministic on CPU for
    a given ``config.seed`` and thread count.

    A batch whose loss or gradient is NaN or infinite does not update the
    network (one bad crop must not poison every weight, and through the
    checkpoint every resume); its step is drawn again from the next batch.
    :data:`MAX_NONFINITE_STEPS` in a row raise NumericalError: the network
    itself has diverged. ``poisoned(step, attempt)`` is the fault seam
    (VIDSTYLE_FAULT=trainnan:S): True turns that attempt's loss into NaN.
    """
    if style.luminance_only:
        raise UsageError("--preserve-colors does not work with --method fast yet; leave one of them out.")
    device = torch.device(device)
    emit = on_event or (lambda _event: None)
    started = time.perf_counter()
    fingerprint = _fingerprint(clip, style, config, content_layers)
    net = _for_training(new_network(config.net, seed=config.seed).to(device))
    optimizer = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    generator = torch.Generator().manual_seed(config.seed)
    history: list[float] = []
    validation: list[float] = []
    step = 0
    if checkpoint_dir is not None:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        saved = _load_checkpoint(checkpoint_dir, fingerprint)
        if saved is not None:
            net.load_state_dict(saved["net"])  # type: ignore[arg-type]
            optimizer.load_state_dict(saved["optimizer"])  # type: ignore[arg-type]
            generator.set_state(saved["rng"])  # type: ignore[arg-type]
            history = [float(v) for v in saved["history"]]  # type: ignore[union-attr]
            validation = [float(v) for v in saved["validation"]]  # type: ignore[union-attr]
            step = int(saved["step"])  # type: ignore[arg-type]
    if config.bf16_losses:
        features = _Bf16Features(features, device)
    objective = TrainingObjective(features, style, content_layers=content_layers, weights=config.weights)
    cheap = TrainingObjective(features, style, content_layers=content_layers, weights=config.cheap_weights)
    sampler = _Sampler(clip, config, generator, device)
    # The validation crops come from their own generator, drawn the same way
    # at every (re)start, so they never shift the training's random stream.
    held_out = _Sampler(clip, config, torch.Generator().manual_seed(config.seed + 1), device)
    held_out._flows = sampler._flows  # one flow cache for both
    checks = [_Batch.draw(held_out, config) for _ in range(config.validation_batches)]
    emit(TrainingStarted(budget=config.train_steps, resumed_at=step, parameters=sum(p.numel() for p in net.parameters())))

    def validate() -> float:
        with torch.no_grad():
            return float(np.mean([float(objective(net, batch)["total"]) for batch in checks]))

    def checkpoint() -> Path | None:
        if checkpoint_dir is None:
            return None
        path = _save_checkpoint(
            checkpoint_dir, step=step, net=net, optimizer=optimizer, generator=generator, history=history,
            validation=validation, fingerprint=fingerprint,
        )
        emit(CheckpointSaved(step=step, path=path))
        return path

    net.train()
    first_step = step
    bad_in_a_row = 0
    stopped_early = _stalled(validation, config)
    while step < config.train_steps and not stopped_early:
        if stop is not None and stop.requested:
            raise TrainingStopped(step, checkpoint())
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(step, config)
        if is_full_step(step + 1, config):
            terms = objective(net, _Batch.draw(sampler, config))
        else:
            terms = cheap(net, _Batch.draw_cheap(sampler, config))
        if poisoned is not None and poisoned(step + 1, bad_in_a_row):
            terms["total"] = terms["total"] * float("nan")
        optimizer.zero_grad(set_to_none=True)
        finite = bool(torch.isfinite(terms["total"]))
        if finite:
            terms["total"].backward()
            finite = all(p.grad is None or bool(torch.isfinite(p.grad).all()) for p in net.parameters())
        if not finite:
            bad_in_a_row += 1
            if bad_in_a_row >= MAX_NONFINITE_STEPS:
                raise NumericalError(
                    f"Fast-mode training went numerically wrong: the loss or its gradient was NaN or infinite "
                    f"{bad_in_a_row} times in a row at step {step + 1}"
                )
            continue
        bad_in_a_row = 0
        clip_gradient(net, config)
        optimizer.step()
        step += 1
        history.append(float(terms["total"].detach()))
        checked = None
        if step % config.window == 0:
            checked = validate()
            validation.append(checked)
            stopped_early = _stalled(validation, config)
        done_here = step - first_step
        pace = (time.perf_counter() - started) / done_here
        emit(
            TrainingStep(
                step=step,
                budget=config.train_steps,
                loss=history[-1],
                terms={name: float(value.detach()) for name, value in terms.items() if name != "total"},
                eta_seconds=pace * (config.train_steps - step),
                validation=checked,
            )
        )
        if step % config.checkpoint_every == 0 or stopped_early or step == config.train_steps:
            checkpoint()
        if after_step is not None:
            after_step(step)
    _for_applying(net)
    seconds = time.perf_counter() - started
    final = validation[-1] if validation else (history[-1] if history else math.nan)
    emit(TrainingFinished(steps=step, stopped_early=stopped_early, seconds=seconds, loss=final))
    return TrainResult(
        net=net,
        spec=config.net,
        steps=step,
        stopped_early=stopped_early,
        seconds=seconds,
        history=tuple(history),
        validation=tuple(validation),
    )


@dataclass(frozen=True)
class TrainingTimes:
    """Seconds of a full training step, of a cheap one (FastConfig.full_every) and of one frame through the network."""

    full_step: float
    cheap_step: float
    apply: float

    def training(self, steps: int, config: FastConfig) -> float:
        """Seconds of ``steps`` training steps under ``config``'s schedule of full and cheap steps."""
        full = full_steps_in(steps, config)
        return full * self.full_step + (steps - full) * self.cheap_step


def time_training(
    clip: TrainingClip,
    *,
    features: FeatureNetwork,
    style: StyleTargets,
    content_layers: Sequence[str],
    config: FastConfig = FastConfig(),
    steps: int = 3,
    device: torch.device | str = "cpu",
) -> TrainingTimes:
    """Seconds of one full and one cheap training step and of one frame through the network, on ``clip`` (a throwaway network).

    The budget of a run (pipeline/budget.py) prices its training with this:
    ``steps`` timed steps of each kind after one untimed, drawn from their own
    random stream, so the training itself is not touched. The two kinds are
    priced apart: a full step runs the feature network, a cheap one only the
    fast network (a fraction of the cost), and the schedule mixes them.
    """
    device = torch.device(device)
    net = _for_training(new_network(config.net, seed=config.seed + 2).to(device))
    optimizer = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    if config.bf16_losses:
        features = _Bf16Features(features, device)
    sampler = _Sampler(clip, config, torch.Generator().manual_seed(config.seed + 2), device)
    net.train()

    def seconds_per_step(weights: LossWeights, draw: Callable[[_Sampler, FastConfig], _Batch]) -> float:
        objective = TrainingObjective(features, style, content_layers=content_layers, weights=weights)
        marks = []
        for _ in range(steps + 1):
            terms = objective(net, draw(sampler, config))
            optimizer.zero_grad(set_to_none=True)
            terms["total"].backward()
            clip_gradient(net, config)
            optimizer.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)  # a GPU step ends when its kernels do
            marks.append(time.perf_counter())
        return (marks[-1] - marks[0]) / steps

    full = seconds_per_step(config.weights, _Batch.draw)
    cheap = seconds_per_step(config.cheap_weights, _Batch.draw_cheap) if config.full_every > 1 else full
    _for_applying(net)
    frame = clip.frames[0]
    list(apply_network(net, [frame], batch_size=1, device=device))  # the first pass pays for allocation
    began = time.perf_counter()
    list(apply_network(net, [frame], batch_size=1, device=device))  # returns numpy: synchronized
    return TrainingTimes(full_step=full, cheap_step=cheap, apply=time.perf_counter() - began)


# ----------------------------------------------------------------- apply


def apply_network(
    net: nn.Module,
    frames: Iterable[np.ndarray],
    *,
    batch_size: int = 4,
    device: torch.device | str | None = None,
) -> Iterator[np.ndarray]:
    """Stylize BGR uint8 frames one batch at a time; yields one BGR uint8 frame of the same size per input frame.

    ``device``: where the network's parameters are, unless given (the network
    is not moved).
    At most ``batch_size`` frames are held at once; a frame of another size
    than the one before it closes the batch (sizes that are not a multiple of
    the network's stride are padded by reflection and cropped back).
    """
    if batch_size < 1:
        raise UsageError("The apply batch size must be at least 1.")
    device = torch.device(device) if device is not None else next(net.parameters()).device
    net.eval()
    pending: list[np.ndarray] = []

    def flush() -> Iterator[np.ndarray]:
        # Only uint8 crosses to and from the device, and the channel order,
        # layout and scaling are changed there: at 1080p on a GPU, doing them
        # in numpy on the CPU cost 6x the network's own time. The arithmetic
        # is vidstyle.video.pixels' (x / 255 in, clamp-scale-round out).
        stacked = torch.from_numpy(np.stack(pending)).to(device)  # (N, H, W, 3) BGR uint8
        with torch.inference_mode():
            batch = stacked.permute(0, 3, 1, 2).flip(1).float().div_(255.0)
            out = run_network(net, batch).clamp_(0.0, 1.0).mul_(255.0).round_()
            bgr = out.to(torch.uint8).flip(1).permute(0, 2, 3, 1).contiguous().cpu().numpy()
        pending.clear()
        yield from bgr

    for frame in frames:
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise UsageError(f"Fast-mode frames must be BGR uint8 (H, W, 3); got {frame.dtype} {frame.shape}.")
        if pending and frame.shape != pending[0].shape:
            yield from flush()
        pending.append(frame)
        if len(pending) == batch_size:
            yield from flush()
    if pending:
        yield from flush()


class FastMethod:
    """A trained network as a method (methods/base.py): every frame on its own, one forward pass.

    Frames are independent of each other (the network was trained not to
    flicker), so the chains need no previous frame and the plan no overlaps.
    """

    uses_previous = False
    style_passes = 0

    def __init__(self, net: nn.Module, *, identity: str, device: torch.device | str | None = None) -> None:
        self.net = net.eval()
        self.identity = identity
        self.device = torch.device(device) if device is not None else next(net.parameters()).device

    def stylize(self, task: FrameTask, *, on_step: StepCallback) -> FrameResult:
        # One frame per call: a chain hands out one frame at a time. --batch-chains
        # puts a frame of several chains through one pass instead (open_batch).
        image = next(apply_network(self.net, [task.content], batch_size=1, device=self.device))
        on_step(StepReport(step=1, budget=1, loss=0.0, frame=task.position))  # a stop requested meanwhile abandons the frame here, as with the optimizer
        return _applied(task, image)

    def open_batch(self, capacity: int) -> "FastBatch":
        """``capacity`` frames (one from each of as many chains) through one network pass (``--batch-chains``)."""
        return FastBatch(self, capacity)


def _applied(task: FrameTask, image: np.ndarray) -> FrameResult:
    """One network pass: no objective at apply time, so the record has no terms and a loss of 0."""
    return FrameResult(image=image, outcome=FrameOutcome(position=task.position, steps=1, stopped_early=False, loss=0.0))


class FastBatch:
    """Frames of several chains in one forward pass (methods/base.py MethodBatch): every frame is done in one step.

    A frame's output does not depend on the frames beside it in the batch
    (each image goes through its own convolutions; on this project's CPU the
    frames are bit-identical at batch 1, 2, 4 and 8), so --batch-chains changes
    the speed only.
    """

    def __init__(self, method: FastMethod, capacity: int) -> None:
        if capacity < 1:
            raise UsageError("--batch-chains must be at least 1.")
        self.method = method
        self.capacity = capacity
        self._slots: dict[int, tuple[FrameTask, StepCallback]] = {}

    @property
    def free(self) -> int:
        return self.capacity - len(self._slots)

    def add(self, task: FrameTask, *, on_step: StepCallback) -> int:
        slot = min(set(range(self.capacity)) - set(self._slots))
        self._slots[slot] = (task, on_step)
        return slot

    def step(self) -> list[tuple[int, FrameResult]]:
        slots = sorted(self._slots)
        frames = [self._slots[slot][0].content for slot in slots]
        images = list(apply_network(self.method.net, frames, batch_size=len(frames), device=self.method.device))
        done = []
        for slot, image in zip(slots, images):
            task, on_step = self._slots.pop(slot)
            on_step(StepReport(step=1, budget=1, loss=0.0, frame=task.position))  # may abandon the run (a stop): the executor then drops every frame in flight
            done.append((slot, _applied(task, image)))
        return done


# ----------------------------------------------------------------- save / load


@dataclass(frozen=True)
class LoadedModel:
    net: nn.Module  # in eval mode
    spec: NetSpec
    settings: dict[str, object]  # the JSON that was saved with it


def save_model(path: Path, net: nn.Module, settings_json: Mapping[str, object]) -> None:
    """Write the network as tensors plus two JSON strings (its spec and the settings that made it), atomically.

    The file is a torch.save of a dict of str, int and tensors only, so
    ``torch.load(weights_only=True)`` reads it without unpickling code.
    """
    spec = getattr(net, "spec", None)
    if not isinstance(spec, NetSpec):
        raise UsageError("save_model needs a network made by vidstyle.methods.fastnet.build_network (it carries its spec).")
    payload = {
        "format": _MODEL_FORMAT,
        "version": _FORMAT_VERSION,
        "spec": json.dumps(spec.to_json(), sort_keys=True),
        "settings": json.dumps(dict(settings_json), sort_keys=True, default=str),
        "state": {k: v.detach().cpu() for k, v in net.state_dict().items()},
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes_atomic(Path(path), buffer.getvalue())


def load_model(path: Path, *, device: torch.device | str = "cpu") -> LoadedModel:
    """Read a file written by save_model; anything else (pickled objects included) is refused with ModelError."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"Model file not found: {path}; pass a file written by --save-model.")
    try:
        # weights_only: the restricted unpickler builds tensors and plain
        # containers and refuses every other global, so code in the file never runs.
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle, zip and runtime errors alike
        raise ModelError(
            f"{path} is not a vidstyle fast-mode model (unreadable, or it holds pickled objects, which are never "
            f"loaded: {type(error).__name__}); pass a file written by --save-model."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != _MODEL_FORMAT:
        raise ModelError(f"{path} is not a vidstyle fast-mode model; pass a file written by --save-model.")
    if payload.get("version") != _FORMAT_VERSION:
        raise ModelError(
            f"{path} is a fast-mode model of format version {payload.get('version')}; this vidstyle reads "
            f"version {_FORMAT_VERSION}. Train it again with this version."
        )
    try:
        spec = NetSpec.from_json(json.loads(str(payload["spec"])))
        settings = json.loads(str(payload["settings"]))
        net = build_network(spec)
        net.load_state_dict(payload["state"])
    except (KeyError, ValueError, TypeError, RuntimeError, UsageError) as error:
        raise ModelError(f"{path} is a damaged fast-mode model ({type(error).__name__}); save it again.") from None
    net.to(torch.device(device)).eval()
    return LoadedModel(net=net, spec=spec, settings=settings)
