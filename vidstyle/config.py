"""Every setting of a run, with its default, in one place.

The CLI reads its option defaults from these dataclasses, the manifest of a
resumable run is built from them, and the core receives them frozen. Choices
are ``str`` Enums so they print, compare and serialise as plain strings.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from dataclasses import dataclass, field
from enum import Enum
from fractions import Fraction
from pathlib import Path
from typing import Any

from vidstyle.cutlist import parse_cut_list
from vidstyle.errors import UsageError
from vidstyle.networks import Network, architecture
from vidstyle.timecode import parse_input_point


class Optimizer(str, Enum):
    LBFGS = "lbfgs"
    ADAM = "adam"


class CoarseToFine(str, Enum):
    """--coarse-to-fine: whether a cold start goes through smaller sizes first (model/stylizer.py coarse_schedule)."""

    AUTO = "auto"  # when the working long side is above about 400 px (sqrt(2) x 256, +10%): 1024 px keeps 256 px's look
    ON = "on"  # always, at least one smaller stage (from half the pixels at 256 px and below)
    OFF = "off"  # every frame at the working size only

    @classmethod
    def _missing_(cls, value: object) -> CoarseToFine | None:
        # Manifests written before the schedule stored a bool; false meant what "off" does now (true meant
        # the old 1/4-1/2 stages, which "on" no longer makes: fingerprint.py reports that one as changed).
        if value is False:
            return cls.OFF
        if value is True:
            return cls.ON
        return None


class Pooling(str, Enum):
    AVG = "avg"
    MAX = "max"
    POWER = "power"  # the power mean of each window, between the two (model/features.py: POWER_EXPONENT)


class Padding(str, Enum):
    """How the network's convolutions see past the image's edge (model/features.py says why it matters)."""

    ZERO = "zero"  # torchvision's VGG: every conv pads with zeros
    REPLICATE_FIRST = "replicate-first"  # conv1_1 repeats the edge pixels, the rest pad with zeros
    REPLICATE = "replicate"  # every conv repeats its input's edge
    REFLECT_FIRST = "reflect-first"  # conv1_1 mirrors the image past its edge, the rest pad with zeros
    REFLECT = "reflect"  # every conv mirrors its input past its edge


class DeviceChoice(str, Enum):
    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"
    MPS = "mps"


class Precision(str, Enum):
    """The network pass's arithmetic (model/runtime.py); losses and optimizer state are always float32."""

    AUTO = "auto"  # bf16 on a CUDA GPU that has it, fp32 elsewhere
    FP32 = "fp32"
    BF16 = "bf16"


class TemporalMode(str, Enum):
    NONE = "none"  # every frame independent, started from its own content
    PREV = "prev"  # start from the previous stylized frame as it is
    FLOW = "flow"  # start from it warped along optical flow, plus a masked temporal loss


class OutputSize(str, Enum):
    WORKING = "working"
    SOURCE = "source"


class OverlayMode(str, Enum):
    """--protect-overlays: find a HUD per shot and keep it from the source (video/overlays.py)."""

    AUTO = "auto"
    OFF = "off"


class FlowPreset(str, Enum):
    """DIS optical-flow speed/accuracy presets (temporal/flow.py maps them to OpenCV's)."""

    ULTRAFAST = "ultrafast"
    FAST = "fast"
    MEDIUM = "medium"


class CutsMode(str, Enum):
    """--cuts keywords; any other value is a LIST of cuts (timecode.py reads each) or a scene-list CSV (see ShotsConfig)."""

    AUTO = "auto"  # detect hard cuts and fades to black, plus the photometric check
    OFF = "off"  # one shot, no photometric check: today's frames, bit for bit


def setting(
    default: Any = dataclasses.MISSING, *, option: str | None = None, pixels: bool = True, hashed: bool = False
) -> Any:
    """A field of the settings, with what the command line and a resumed run read from it.

    ``option``: the ``vidstyle stylize`` option that sets it; its default is
    this field's (the CLI reads it from here; cli.py lists the fields that have
    no option, and why). ``pixels=False``: it changes no output pixel or frame,
    so it may differ when a run is resumed (``free_settings``). ``hashed``: a
    path whose file's content hash the fingerprint compares instead of the path,
    so the path may differ too.
    """
    return field(default=default, metadata={"option": option, "pixels": pixels, "hashed": hashed})


# Layer names follow the paper. Gatys et al. ran Caffe, whose ReLUs work in
# place, so the responses the paper calls conv4_2 etc. are the rectified ones;
# we name them by what they are (relu4_2) and accept conv names too.
DEFAULT_CONTENT_LAYERS: tuple[str, ...] = ("relu4_2",)
DEFAULT_STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
# Without --style-layer-weights every style layer weighs 1, except the relu5_x
# layers: they weigh this. relu5_1's normalised term gives the largest and most
# fine-grained gradient of all five while never being matched, and at full
# weight it paints a fine ripple texture in flat regions (issue 22;
# docs/defaults.md, "style layer weights").
DEEPEST_STYLE_LAYER_WEIGHT = 0.25


TILE_AUTO = "auto"
TILE_OFF = "off"
MIN_TILE = 32  # a forced --tile-size below this is refused: at 32 px relu5_1 is 2x2


def _tile_size(value: int | str) -> int | str:
    """--tile-size as given ("auto", "off", "512", 512) as a number of pixels, TILE_AUTO or TILE_OFF."""
    text = str(value).strip().lower()
    if text in (TILE_AUTO, TILE_OFF):
        return text
    try:
        size = int(text)
    except ValueError:
        raise UsageError(f"--tile-size {value!r} is not a size; give auto, off or a number of pixels (e.g. 512).") from None
    if size < MIN_TILE:
        raise UsageError(f"--tile-size must be at least {MIN_TILE} pixels (or auto, or off).")
    return size


@dataclass(frozen=True)
class ModelConfig:
    """The feature network: which network and weights, which layers, which pooling."""

    network: Network = setting(Network.VGG19, option="--network")
    weights: Path | None = setting(None, option="--weights", hashed=True)  # None: torchvision's ImageNet weights of `network` through the torch hub cache
    # Gatys et al. replace max pooling by average pooling; the power mean (p = 3) answers like the network as trained
    # (max) to strong features, with average pooling's steady gradient (issue 22, docs/defaults.md)
    pooling: Pooling = setting(Pooling.POWER, option="--pooling")
    padding: Padding = setting(Padding.ZERO, option="--padding")  # no padding mode removes the line along the border on real footage; --edge-margin does: docs/defaults.md
    content_layers: tuple[str, ...] = setting(DEFAULT_CONTENT_LAYERS, option="--content-layer")
    style_layers: tuple[str, ...] = setting(DEFAULT_STYLE_LAYERS, option="--style-layers")
    style_layer_weights: tuple[float, ...] | None = setting(None, option="--style-layer-weights")  # None: 1 each, relu5_x DEEPEST_STYLE_LAYER_WEIGHT
    device: DeviceChoice = setting(DeviceChoice.AUTO, option="--device", pixels=False)
    # How the network runs (model/runtime.py, benchmarks/bench.py). precision
    # changes pixels and is in the fingerprint; compile and batch_chains give
    # the same frames to rounding and may change on resume (pixels=False).
    precision: Precision = setting(Precision.AUTO, option="--precision")
    compile: bool = setting(False, option="--compile", pixels=False)  # torch.compile the loss pass
    batch_chains: int = setting(1, option="--batch-chains", pixels=False)  # chains stylized together, one frame of each per network pass
    # A frame larger than the device optimizes at once goes through the network in
    # overlapping tiles (model/tiles.py): "auto" tiles only such frames (model/memory.py
    # picks the tile), "off" never tiles (refuses them), N forces tiles of N px.
    # Tiles change pixels slightly, so the choice is in the fingerprint (auto's resolved one too).
    tile_size: int | str = setting(TILE_AUTO, option="--tile-size")
    tile_overlap: int = setting(64)  # px tiles overlap by (at most a quarter of the tile); measured in benchmarks/tiles.py

    def __post_init__(self) -> None:
        try:  # library callers may pass "vgg16"
            object.__setattr__(self, "network", Network(self.network))
        except ValueError:
            choices = ", ".join(n.value for n in Network)
            raise UsageError(f"Unknown network {self.network!r}; use one of {choices}.") from None
        object.__setattr__(self, "precision", Precision(self.precision))
        if self.batch_chains < 1:
            raise UsageError("--batch-chains must be at least 1.")
        object.__setattr__(self, "tile_size", _tile_size(self.tile_size))
        if self.tile_overlap < 0:
            raise UsageError("The tile overlap must be 0 or more pixels.")
        if not self.content_layers or not self.style_layers:
            raise UsageError("At least one content layer and one style layer are needed.")
        if self.style_layer_weights is not None:
            if len(self.style_layer_weights) != len(self.style_layers):
                raise UsageError(
                    f"--style-layer-weights has {len(self.style_layer_weights)} values for "
                    f"{len(self.style_layers)} style layers; give one per layer."
                )
            if any(w < 0 for w in self.style_layer_weights) or sum(self.style_layer_weights) <= 0:
                raise UsageError("Style layer weights must be >= 0 and not all zero.")
        # Layer names are checked here, against the chosen network, so a typo
        # (or relu5_4 with VGG16) fails before any work starts (the tables: networks.py).
        vgg = architecture(self.network)
        for option, names in (("--content-layer", self.content_layers), ("--style-layers", self.style_layers)):
            canonical = [vgg.canonical(name) for name in names]
            repeated = sorted({name for name in canonical if canonical.count(name) > 1})
            if repeated:
                raise UsageError(f"{option} names {', '.join(repeated)} more than once; give each layer once.")


@dataclass(frozen=True)
class StyleConfig:
    """One or more style images and how they are blended."""

    images: tuple[Path, ...] = setting((), option="--style")
    blend: tuple[float, ...] | None = setting(None, option="--style-blend")  # None: equal blend
    scale: float = setting(1.0, option="--style-scale")  # style image long side = scale * working long side
    # Luminance-only transfer (Gatys et al. 2017; neural-style's -original_colors):
    # the output keeps each frame's chroma; see model/color.py for how and why.
    preserve_colors: bool = setting(False, option="--preserve-colors")

    def __post_init__(self) -> None:
        if not self.images:
            raise UsageError("Give at least one --style image.")
        if self.blend is not None:
            if len(self.blend) != len(self.images):
                raise UsageError(
                    f"--style-blend has {len(self.blend)} values for {len(self.images)} styles; give one per --style."
                )
            if any(w < 0 for w in self.blend) or sum(self.blend) <= 0:
                raise UsageError("--style-blend weights must be >= 0 and not all zero.")
        if not 0.05 <= self.scale <= 8.0:
            raise UsageError("--style-scale must be between 0.05 and 8.")

    def normalized_blend(self) -> tuple[float, ...]:
        weights = self.blend or tuple(1.0 for _ in self.images)
        total = sum(weights)
        return tuple(w / total for w in weights)


@dataclass(frozen=True)
class OptimizeConfig:
    """The per-frame optimization.

    The loss terms are normalised by the magnitude of their targets (see
    model/losses.py), so these weights mean the same with any feature scale.
    Defaults were chosen by measurement; docs/defaults.md gives the
    numbers and the published settings they were checked against.
    """

    iterations: int = setting(300, option="--iterations")  # steps (loss+gradient evaluations) for the first frame
    iterations_next: int = setting(20, option="--iterations-next")  # steps for every later frame, which starts warm
    content_weight: float = setting(1.0, option="--content-weight")
    # neural-style's balance in our normalised terms (15-36 on the shared photos, issue 22): at 3, the old
    # default, the content term at relu4_2 held the stroke-scale layer (relu4_1) to the photo and the
    # optimizer painted a fine ripple instead of strokes (docs/defaults.md). 30 with average pooling; 20 with
    # the power-mean pooling, whose stronger deep responses need less weight to reach the painting and leave
    # the faces nearer the photo.
    style_weight: float = setting(20.0, option="--style-weight")
    # How heavily the style is painted: multiplies the style weight (0.15 gives the balance of the old
    # default, style weight 3; 2 a heavier one; the measured curve is in docs/defaults.md). A separate knob from
    # --style-weight so a user can move along it without knowing the weights.
    strength: float = setting(1.0, option="--strength")
    tv_weight: float = setting(1.0, option="--tv-weight")
    # The soft range penalty (model/objective.py Gamut): keeps the optimizer's pixels inside [0, 1], where the
    # stored frame is, so a warm frame starts at its own optimum and a static shot does not creep (issue 22).
    gamut_weight: float = setting(1e3, option="--gamut-weight")
    optimizer: Optimizer = setting(Optimizer.LBFGS, option="--optimizer")
    learning_rate: float | None = setting(None, option="--learning-rate")  # None: 1.0 for L-BFGS, 0.02 for Adam
    tolerance: float = setting(1e-3, option="--tolerance")  # stop when the loss improved less than this fraction over `window` steps
    window: int = setting(10)
    init: str = setting("content", option="--init")  # "content", "noise" or the path of an image
    seed: int = setting(0, option="--seed")
    # Cold starts (a chain's first frame, every frame with --temporal none) optimized at a long side of
    # at most 256 px first, then at sizes growing by sqrt(2) to the working size, a few steps each
    # (model/stylizer.py coarse_schedule). auto: only when the working size is above about 400 px, where a
    # single-scale start paints strokes too small for the frame (at 1024 px: style distance at 256 px
    # 2.94x the 256-px run's single-scale, 1.35x coarse to fine; issue 23, docs/performance.md,
    # benchmarks/resolution.py); at 256 px (the CPU default) every frame is as before.
    coarse_to_fine: CoarseToFine = setting(CoarseToFine.AUTO, option="--coarse-to-fine")

    def __post_init__(self) -> None:
        if self.iterations < 1 or self.iterations_next < 1:
            raise UsageError("--iterations and --iterations-next must be at least 1.")
        for name in ("content_weight", "style_weight", "tv_weight", "gamut_weight"):
            if getattr(self, name) < 0:
                raise UsageError(f"--{name.replace('_', '-')} must be >= 0.")
        if self.strength <= 0:
            raise UsageError("--strength must be > 0 (0.1 paints lightly, 1 is the default, 2 heavily).")
        if self.tolerance < 0:
            raise UsageError("--tolerance must be >= 0 (0 turns the early stop off).")
        if self.window < 1:
            raise UsageError("The early-stop window must be at least 1 step.")
        if self.learning_rate is not None and self.learning_rate <= 0:
            raise UsageError("--learning-rate must be > 0.")

    @property
    def effective_style_weight(self) -> float:
        """The style term's weight as the objective uses it: --style-weight times --strength."""
        return self.style_weight * self.strength

    @property
    def lr(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 1.0 if self.optimizer is Optimizer.LBFGS else 0.02


# --temporal-weight, measured (random weights, tests/pipeline/test_temporal_modes.py
# settings, benchmarks/temporal.py). The temporal loss is mean(mask * diff^2)
# with pixels in [0, 1], so weight 50 makes a 2/255 shift of every reliable
# pixel cost 0.003, under a tenth of a converged content loss (~0.05): it
# barely holds anything. Static 40x30 clip, 20 + 59 x 5 steps, mean colour
# moved between first and last frame: 50 -> 3.9/255 (prev, no temporal
# loss: 4.6), 200 -> 2.7, 500 -> 1.4, 1000 -> 1.4 (stable after ~20 frames
# from 500 up). 64x48 pan, 12 frames x 20 steps, warping error vs none /
# style loss vs none: 50 -> 0.07x / +2%, 200 -> 0.07x / +13%, 500 -> 0.08x
# / +17%, 1000 -> 0.08x / +26% (repeated bilinear warps blur the texture the
# loss holds on to). 500 was the lowest that kept a static shot still.
# With the style weight raised tenfold (3 -> 30, issue 22) the temporal weight
# rose with it, keeping their ratio: real VGG19 features, 8 frames of
# issue-134-rotate.mp4 at 128 px, The Starry Night (benchmarks/defaults.py warm):
# warping error against cold frames 500 -> 0.18x, 2000 -> 0.15x, 5000 -> 0.14x,
# later frames' style loss 1.03x, 1.04x, 1.04x the first frame's
# (docs/defaults.md, temporal weight).
@dataclass(frozen=True)
class TemporalConfig:
    """How consecutive frames are tied together (Ruder et al. 2016)."""

    mode: TemporalMode = setting(TemporalMode.FLOW, option="--temporal")
    weight: float = setting(5000.0, option="--temporal-weight")  # measured, see above
    flow_preset: FlowPreset = setting(FlowPreset.MEDIUM, option="--flow-preset")
    soft_mask: bool = setting(False, option="--soft-mask")
    # Stylize every Nth frame of a shot (and its last); the frames between are
    # made from the two stylized ones around them (temporal/inbetween.py; a shot's first 8 frames are all
    # stylized: key_positions). 1: off.
    inbetween: int = setting(1, option="--inbetween")

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise UsageError("--temporal-weight must be >= 0.")
        if self.inbetween < 1:
            raise UsageError("--inbetween must be at least 1 (1 stylizes every frame).")


# Shot defaults, measured at <= 256 px with benchmarks/shots.py (docs/shots.md).
# cut_threshold is PySceneDetect's AdaptiveDetector ratio (a
# frame's HSV change over the mean change of its 2 neighbours on each side;
# a frame must also change by 15/255, PySceneDetect's min_content_val): the
# hard cuts of issue-134-rotate.mp4 and of a clip assembled from the shared
# videos score 20-204, no other frame of those clips, fades.mp4 or a slow pan
# over a real photo above 2.74. 3.0 is PySceneDetect's own default and lies
# in that gap. photometric_threshold is a colour distance in [0, 1] units: on
# real footage 99% of flow-reliable pixels warp to within 0.04-0.08 of the
# next input frame, and Lai et al.'s soft mask halves its weight at 0.118;
# 0.1 frees under 1% of the pixels of ordinary motion. min_reliable_fraction:
# hard cuts and white flashes leave 0-3% of a frame reliable, the other
# frames of the same clips 84-100%, a x1.3 gain flash 25%; 0.5 sits in the gap.
@dataclass(frozen=True)
class ShotsConfig:
    """Where the chain of warm-started frames breaks: scene cuts, listed or detected."""

    cuts: str = setting(CutsMode.AUTO.value, option="--cuts")  # "auto", "off", a LIST ("48f,120f", "0:02.5,12") or a scene-list .csv
    cut_threshold: float = setting(3.0, option="--cut-threshold")  # AdaptiveDetector ratio a frame must reach to be a cut
    photometric_threshold: float = setting(0.1)  # |input_t - warp(input_t-1)| above this: pixel unreliable
    min_reliable_fraction: float = setting(0.5)  # a frame with less of it reliable starts a new shot

    def __post_init__(self) -> None:
        if not self.cut_threshold > 0:
            raise UsageError("--cut-threshold must be > 0 (higher finds fewer cuts; default 3).")
        if not 0.0 < self.photometric_threshold <= 2.0:
            raise UsageError("The photometric threshold must be in (0, 2] (a colour distance in [0, 1] units).")
        if not 0.0 <= self.min_reliable_fraction <= 1.0:
            raise UsageError("The minimum reliable fraction must be between 0 and 1 (0 turns photometric cuts off).")
        if self.mode is None and self.scene_list is None:
            # Refuse a malformed LIST now, not after the run has started.
            parse_cut_list(self.cuts)

    @property
    def mode(self) -> CutsMode | None:
        """AUTO or OFF, or None when ``cuts`` lists the cuts (LIST or CSV path)."""
        try:
            return CutsMode(self.cuts.strip().lower())
        except ValueError:
            return None

    @property
    def scene_list(self) -> Path | None:
        """The PySceneDetect scene-list CSV that ``cuts`` names (a path ending in .csv), else None."""
        text = self.cuts.strip()
        return Path(text).expanduser() if text.lower().endswith(".csv") else None


@dataclass(frozen=True)
class SelectConfig:
    """Which frames of the input are stylized, and at what size."""

    start: str | None = setting(None, option="--start")  # seconds ("1.5", "2s", "1:02.5") or a frame index ("#48", "48f"): timecode.py
    end: str | None = setting(None, option="--end")
    max_frames: int | None = setting(None, option="--max-frames")
    every: int = setting(1, option="--every")
    fps: Fraction | None = setting(None, option="--fps")  # videos: lower output rate; folders: the rate of the frames
    # Long side of the working resolution: pixels, or "auto" (MAX_SIZE_AUTO): 256 on a CPU, on a CUDA GPU the largest
    # size whose warm frame fits a time budget, measured once when the run begins and kept in its manifest (model/autosize.py).
    max_size: int | str | None = setting("auto", option="--max-size")
    output_size: OutputSize = setting(OutputSize.SOURCE, option="--output-size")  # guided by the source frame (video/upsample.py)
    # Pixels of each frame's own edge added on every side before the run and cropped where frames are written:
    # the optimizer, the flow and the next frame's start work on the larger canvas, so no line forms along the
    # frame's border over a chain's warm frames (issue 22, benchmarks/border.py). 0: no canvas, as before.
    edge_margin: int = setting(8, option="--edge-margin")
    # Which pixels are stylized (video/masks.py): white stylizes, black keeps the source. An image, a folder,
    # a pattern or a video; compared by content on resume (fingerprint.py), so the path may move.
    mask: Path | None = setting(None, option="--mask", hashed=True)
    mask_feather: int = setting(0, option="--mask-feather")  # pixels of Gaussian softening of the mask's edge, at the output size
    mask_invert: bool = setting(False, option="--mask-invert")
    # Per shot, the still overlay (HUD) found while the rest moves is kept from the source, through the mask's
    # blend (video/overlays.py). On by default: it kept nothing on any shot of ordinary footage we have
    # (docs/game-captures.md has the measurement); a manifest without the field resumes as off (fingerprint.py).
    protect_overlays: OverlayMode = setting(OverlayMode.AUTO, option="--protect-overlays")

    def __post_init__(self) -> None:
        for option, text in (("--start", self.start), ("--end", self.end)):
            if text is not None:
                parse_input_point(text, option=option)  # refuse a malformed time now, not once the input is open
        if self.every < 1:
            raise UsageError("--every must be at least 1.")
        if self.max_frames is not None and self.max_frames < 1:
            raise UsageError("--max-frames must be at least 1.")
        if self.fps is not None and self.fps <= 0:
            raise UsageError("--fps must be > 0.")
        object.__setattr__(self, "max_size", _max_size(self.max_size))
        if isinstance(self.max_size, int) and self.max_size < 16:
            raise UsageError("--max-size must be at least 16 pixels.")
        if self.mask_feather < 0:
            raise UsageError("--mask-feather must be 0 or more pixels.")
        if not 0 <= self.edge_margin <= 256:
            raise UsageError("--edge-margin must be between 0 and 256 pixels.")


    @property
    def auto_size(self) -> bool:
        """Whether the working size is --max-size auto, chosen when the run begins (pipeline/autosize.py)."""
        return self.max_size == MAX_SIZE_AUTO


MAX_SIZE_AUTO = "auto"


def _max_size(value: int | str | None) -> int | str | None:
    """--max-size as given ("512", 512, "auto", "AUTO") as a number of pixels or MAX_SIZE_AUTO."""
    if value is None or isinstance(value, int):
        return value
    text = str(value).strip().lower()
    if text == MAX_SIZE_AUTO:
        return MAX_SIZE_AUTO
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"--max-size {value!r} is not a size; give a number of pixels (e.g. 512) or auto.") from None


DEFAULT_FOLDER_FPS = Fraction(24)


@dataclass(frozen=True)
class EncodeConfig:
    crf: int = setting(18, option="--crf")
    audio: bool = setting(True, option="--no-audio")

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 51:
            raise UsageError("--crf must be between 0 and 51.")


@dataclass(frozen=True)
class RunConfig:
    """Where the run keeps its state, and what it keeps afterwards."""

    work_dir: Path | None = setting(None, option="--work-dir", pixels=False)  # None: <output>.vidstyle beside the output
    segment_frames: int = setting(240, option="--segment-frames")
    keep_frames: bool = setting(False, option="--keep-frames", pixels=False)
    keep_work: bool = setting(False, option="--keep-work", pixels=False)
    restart: bool = setting(False, option="--restart", pixels=False)
    overwrite: bool = setting(False, option="--overwrite", pixels=False)

    def __post_init__(self) -> None:
        if self.segment_frames < 1:
            raise UsageError("--segment-frames must be at least 1.")


# Scale-out (pipeline/ray_executor.py). A split inside a shot costs the next
# chain a cold start plus `overlap` warm frames (about 15 + overlap frames'
# work at the default budgets), so shots are split only as far as the workers
# need, and never into chains shorter than MIN_CHAIN_FRAMES.
# overlap: measured with real VGG16 features (benchmarks/seams.py, docs/workers.md):
# the cross-fade over K frames divides the seam's jump by about
# (K+1)^2; on a near-static shot, the hardest case, the seam pair reaches 1.5x
# the median pair only from about 32 frames.
MIN_CHAIN_FRAMES = 240  # a split costs about 47 frames (cold start + 32-frame warmup): at most ~20% of a chain
DEFAULT_OVERLAP = 32


@dataclass(frozen=True)
class ScaleConfig:
    """Chains in parallel: how many workers, where, and how long shots are split into chains."""

    workers: int | None = setting(None, option="--workers", pixels=False)  # None: one process, no Ray; N: a local Ray cluster of N workers for the run
    ray_address: str | None = setting(None, option="--ray-address", pixels=False)  # join this Ray cluster ("auto", "HOST:6379"), one worker per GPU it offers
    chain_frames: int | None = setting(None, option="--chain-frames")  # None: split shots only as far as the workers need (see chain_frames_for)
    overlap: int = setting(DEFAULT_OVERLAP, option="--overlap")  # frames a chain inside a shot starts before its first, cross-faded over
    threads: int | None = setting(None, option="--worker-threads", pixels=False)  # torch/OpenCV threads per worker; None: the machine's cores shared out among the workers

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise UsageError("--workers must be at least 1.")
        if self.threads is not None and self.threads < 1:
            raise UsageError("--worker-threads must be at least 1.")
        if self.chain_frames is not None and self.chain_frames < 2:
            raise UsageError("--chain-frames must be at least 2.")
        if self.overlap < 0:
            raise UsageError("--overlap must be >= 0 (0: a split inside a shot starts cold, and its seam shows).")

    @property
    def parallel(self) -> bool:
        """Whether chains run on Ray workers (anything else runs in this process, without importing Ray)."""
        return self.workers is not None or self.ray_address is not None

    def chain_frames_for(self, frame_count: int, workers: int) -> int | None:
        """The longest chain: as given, or the run's frames shared by the workers (at least MIN_CHAIN_FRAMES)."""
        if self.chain_frames is not None:
            return self.chain_frames
        if workers <= 1:
            return None
        return max(MIN_CHAIN_FRAMES, -(-frame_count // workers))


class MethodKind(str, Enum):
    """How frames are stylized: the per-frame optimizer, or a network trained on the clip (methods/feedforward.py)."""

    OPTIMIZE = "optimize"  # Gatys et al.'s optimization of every frame, tied to the previous one (Ruder et al.)
    FAST = "fast"  # optimize a few keyframes, train a small network on the clip, run it on every frame
    AUTO = "auto"  # fast where it pays off (a clip long enough for its full training), else optimize (pipeline/budget.py)


# Fast mode's full training (steps); without --train-steps a run's budget follows its clip, up to this (pipeline/budget.py).
FULL_TRAIN_STEPS = 1500


# Fast-mode defaults: the evidence is in methods/feedforward.py (FastConfig) and docs/fast-mode.md.
@dataclass(frozen=True)
class MethodConfig:
    """Which method stylizes the frames, and the fast method's keyframes, training budget and model files."""

    kind: MethodKind = setting(MethodKind.OPTIMIZE, option="--method")
    keyframes: int = setting(100, option="--keyframes")  # fast: one keyframe per this many frames of a shot, at least one per shot
    # fast: training step budget (an early stop may end it sooner); None: follow the clip, up to FULL_TRAIN_STEPS (pipeline/budget.py)
    train_steps: int | None = setting(None, option="--train-steps")
    model: Path | None = setting(None, option="--model", hashed=True)  # fast: apply this saved network; no keyframes, no training
    save_model: Path | None = setting(None, option="--save-model")  # fast: also write the trained network here

    def __post_init__(self) -> None:
        try:  # library callers may pass "fast"
            object.__setattr__(self, "kind", MethodKind(self.kind))
        except ValueError:
            raise UsageError(f"Unknown method {self.kind!r}; use optimize, fast or auto.") from None
        if self.keyframes < 1:
            raise UsageError("--keyframes must be at least 1 (frames of a shot per keyframe).")
        if self.train_steps is not None and self.train_steps < 1:
            raise UsageError("--train-steps must be at least 1.")
        fast_only = [name for name, value in (("--model", self.model), ("--save-model", self.save_model)) if value is not None]
        if fast_only and self.kind is not MethodKind.FAST:
            raise UsageError(f"{' and '.join(fast_only)} belong to the fast method; add --method fast.")
        if self.model is not None and self.save_model is not None:
            raise UsageError("--save-model saves a network this run trains, and with --model nothing is trained; leave one out.")


@dataclass(frozen=True)
class PreviewConfig:
    """A preview sheet (pipeline/preview.py): how many frames, and how many side by side."""

    frames: int = 4  # spread over the clip; a single image gives one
    columns: int = 4  # frames per block of the sheet (inputs above, results below)

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise UsageError("--frames must be at least 1.")
        if self.columns < 1:
            raise UsageError("A preview sheet needs at least one column.")


@dataclass(frozen=True)
class Settings:
    """Everything a run needs besides its input and output paths."""

    model: ModelConfig = field(default_factory=ModelConfig)
    style: StyleConfig = field(default_factory=lambda: StyleConfig(images=(Path("style.jpg"),)))
    optimize: OptimizeConfig = field(default_factory=OptimizeConfig)
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    shots: ShotsConfig = field(default_factory=ShotsConfig)
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    run: RunConfig = field(default_factory=RunConfig)
    scale: ScaleConfig = field(default_factory=ScaleConfig)
    method: MethodConfig = field(default_factory=MethodConfig)

    def __post_init__(self) -> None:
        # Here, not in the CLI, so a library caller (or an edited manifest) gets the same refusal.
        # Fast mode's workers batch frames of their chains (pipeline/ray_executor.py); the optimizer's run one chain each.
        if self.model.batch_chains > 1 and self.scale.parallel and self.method.kind is MethodKind.OPTIMIZE:
            raise UsageError(
                "--batch-chains batches chains in one process and cannot be combined with --workers or --ray-address "
                "(Ray workers run one optimizer chain each; fast mode's batch); drop one of them."
            )

    def replace(self, **changes: object) -> "Settings":
        return dataclasses.replace(self, **changes)

    def with_absolute_paths(self) -> "Settings":
        """These settings with every path made absolute.

        The manifest stores them, and `vidstyle resume` may run from another
        folder; fingerprints then do not depend on the current folder either.
        """
        optimize = self.optimize
        if optimize.init not in ("content", "noise"):
            optimize = dataclasses.replace(optimize, init=str(_absolute(optimize.init)))
        shots = self.shots
        if shots.scene_list is not None:
            shots = dataclasses.replace(shots, cuts=str(shots.scene_list.resolve()))
        method = self.method
        return self.replace(
            method=dataclasses.replace(
                method,
                model=_absolute(method.model) if method.model is not None else None,
                save_model=_absolute(method.save_model) if method.save_model is not None else None,
            ),
            model=dataclasses.replace(self.model, weights=_absolute(self.model.weights) if self.model.weights is not None else None),
            shots=shots,
            select=dataclasses.replace(self.select, mask=_absolute(self.select.mask) if self.select.mask is not None else None),
            style=dataclasses.replace(self.style, images=tuple(_absolute(p) for p in self.style.images)),
            optimize=optimize,
            run=dataclasses.replace(self.run, work_dir=_absolute(self.run.work_dir) if self.run.work_dir is not None else None),
        )


def setting_fields() -> list[tuple[str, dataclasses.Field]]:
    """Every field of the settings as ("section.name", field), in the order of Settings and its sections."""
    sections = typing.get_type_hints(Settings)
    return [
        (f"{section.name}.{inner.name}", inner)
        for section in dataclasses.fields(Settings)
        for inner in dataclasses.fields(sections[section.name])
    ]


@functools.cache
def free_settings() -> frozenset[str]:
    """The settings a resumed run may change ("run.work_dir", ...): those that change no pixel, and paths compared by content."""
    return frozenset(
        path for path, inner in setting_fields() if not inner.metadata["pixels"] or inner.metadata["hashed"]
    )


def _absolute(path: str | Path) -> Path:
    return Path(path).expanduser().resolve()


# --------------------------------------------------------------- serialisation
# The manifest of a resumable run stores the full Settings as JSON, so that
# `vidstyle resume WORKDIR` can rebuild them without the original command line.
# pydantic (already a dependency of Typer) converts both ways from the
# annotations: Enums as their values, Paths as strings, tuples as lists,
# Fractions as "num/den". Building the Settings back runs __post_init__, so
# stored values this version rejects raise UsageError.


@functools.cache
def json_adapter(kind: type) -> Any:
    """A pydantic TypeAdapter for one of our frozen dataclasses (built on first use: importing pydantic costs time)."""
    from pydantic import TypeAdapter

    return TypeAdapter(kind)


def settings_to_json(settings: Settings) -> dict[str, dict[str, object]]:
    return json_adapter(Settings).dump_python(settings, mode="json")


def settings_from_json(data: dict[str, dict[str, object]]) -> Settings:
    """Inverse of settings_to_json; raises ValueError (pydantic's ValidationError) on malformed data."""
    return json_adapter(Settings).validate_python(data)
